package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The split patterns of GPT-2 and Llama-3, as written in tokenizer.json files.
const (
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// Character classes of the patterns.
const (
	clsOther  = iota // [^\s\p{L}\p{N}]
	clsLetter        // \p{L}
	clsNumber        // \p{N}
	clsSpace         // \s (Unicode White_Space)
)

var asciiClass [128]uint8

func init() {
	for c := 0; c < 128; c++ {
		asciiClass[c] = slowClass(rune(c))
	}
}

func slowClass(r rune) uint8 {
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

// runeAt returns the rune at s[i], its size and its class; at the end of s it
// returns size 0 and class -1.
func runeAt(s string, i int) (rune, int, int) {
	if i >= len(s) {
		return 0, 0, -1
	}
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1, int(asciiClass[c])
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return r, n, int(slowClass(r))
}

// splitFunc returns the end of the piece starting at i (i < len(s)).
type splitFunc func(s string, i int) int

// skipClass returns the end of the run of class cls starting at i.
func skipClass(s string, i, cls int) int {
	for i < len(s) {
		_, n, c := runeAt(s, i)
		if c != cls {
			break
		}
		i += n
	}
	return i
}

// spaceRun handles `\s+(?!\S)|\s+` at i, where s[i] is white space.
func spaceRun(s string, i int) int {
	j := i
	last := i
	for j < len(s) {
		_, n, c := runeAt(s, j)
		if c != clsSpace {
			break
		}
		last = j
		j += n
	}
	if j == len(s) || last == i {
		// The run reaches the end, or is one character before a non-space.
		return j
	}
	// Leave the last white space to prefix the following piece.
	return last
}

// contraction reports the length of 's 't 're 've 'm 'll 'd at s[i], an
// apostrophe, or 0; fold makes the letters case-insensitive.
func contraction(s string, i int, fold bool) int {
	if i+1 >= len(s) {
		return 0
	}
	lower := func(c byte) byte {
		if fold && c >= 'A' && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	switch lower(s[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if i+2 < len(s) && lower(s[i+2]) == 'e' {
			return 3
		}
	case 'l':
		if i+2 < len(s) && lower(s[i+2]) == 'l' {
			return 3
		}
	}
	return 0
}

// splitGPT2 implements gpt2Pattern.
func splitGPT2(s string, i int) int {
	r, n, c := runeAt(s, i)
	if r == '\'' {
		if k := contraction(s, i, false); k > 0 {
			return i + k
		}
	}
	if r == ' ' {
		if _, _, c2 := runeAt(s, i+1); c2 != clsSpace && c2 >= 0 {
			return skipClass(s, i+1, c2)
		}
	}
	if c == clsSpace {
		return spaceRun(s, i)
	}
	return skipClass(s, i+n, c)
}

// splitLlama3 implements llama3Pattern.
func splitLlama3(s string, i int) int {
	r, n, c := runeAt(s, i)
	if r == '\'' {
		if k := contraction(s, i, true); k > 0 {
			return i + k
		}
	}
	switch c {
	case clsLetter:
		return skipClass(s, i+n, clsLetter)
	case clsNumber:
		j := i + n
		for k := 0; k < 2; k++ {
			_, n2, c2 := runeAt(s, j)
			if c2 != clsNumber {
				break
			}
			j += n2
		}
		return j
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	_, n2, c2 := runeAt(s, i+n)
	if r != '\r' && r != '\n' && c2 == clsLetter {
		return skipClass(s, i+n+n2, clsLetter)
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	start := -1
	if c == clsOther {
		start = i + n
	} else if r == ' ' && c2 == clsOther {
		start = i + n + n2
	}
	if start >= 0 {
		j := skipClass(s, start, clsOther)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	// c is clsSpace here. \s*[\r\n]+ : up to the last \r or \n of the run.
	j := i
	nl := -1
	for j < len(s) {
		r3, n3, c3 := runeAt(s, j)
		if c3 != clsSpace {
			break
		}
		if r3 == '\r' || r3 == '\n' {
			nl = j
		}
		j += n3
	}
	if nl >= 0 {
		return nl + 1
	}
	return spaceRun(s, i)
}
