package tokenizer

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Added tokens are matched in the text before pre-tokenization, with the
// options of the Hugging Face library's AddedToken:
//
//   - Matching is leftmost-longest and non-overlapping: from the end of the
//     previous match (stripped whitespace not counted), the earliest
//     position where some token matches, the longest token there.
//   - single_word: a match is dropped (and the search goes on after it) if
//     the character just before it or just after it is a word character
//     (letter, mark, decimal digit, connector punctuation, letter number,
//     other alphabetic, join control: Unicode \w).
//   - lstrip: the token also takes the whitespace (Unicode White_Space)
//     before it, back to the end of the previous match at most.
//   - rstrip: the token also takes the whitespace after it.
//   - normalized: tokens with it set are matched in a second pass, in the
//     stretches of text left between the matches of those without it.
//     Without it, special tokens are not normalized and others are.
//
// Whitespace taken by lstrip or rstrip produces no ids.
type addedSet struct {
	toks  []addedTok // longest first
	first [256]bool  // first bytes of the tokens
}

func (s *addedSet) add(a addedTok) {
	s.toks = append(s.toks, a)
	s.first[a.text[0]] = true
}

// finish orders the tokens longest first, so that the first token found at
// a position is the longest there.
func (s *addedSet) finish() {
	sort.SliceStable(s.toks, func(i, j int) bool { return len(s.toks[i].text) > len(s.toks[j].text) })
}

func (s *addedSet) empty() bool { return len(s.toks) == 0 }

// find returns the leftmost-longest match at or after pos, or nil.
func (s *addedSet) find(text string, pos int) (*addedTok, int) {
	for i := pos; i < len(text); i++ {
		if !s.first[text[i]] {
			continue
		}
		for k := range s.toks {
			if strings.HasPrefix(text[i:], s.toks[k].text) {
				return &s.toks[k], i
			}
		}
	}
	return nil, -1
}

// split appends the ids of text: each match's id, and rest applied to each
// stretch of text between matches.
func (s *addedSet) split(ids []int32, text string, rest func([]int32, string) []int32) []int32 {
	if s.empty() {
		return rest(ids, text)
	}
	done := 0 // the end of the previous match, stripped whitespace included
	for pos := 0; pos < len(text); {
		a, at := s.find(text, pos)
		if a == nil {
			break
		}
		start, stop := at, at+len(a.text)
		pos = stop
		if a.singleWord && (endsWithWord(text[:start]) || startsWithWord(text[stop:])) {
			continue
		}
		if a.lstrip {
			start = max(start-trailingSpace(text[:start]), done)
		}
		if a.rstrip {
			stop += leadingSpace(text[stop:])
		}
		if done < start {
			ids = rest(ids, text[done:start])
		}
		ids = append(ids, a.id)
		done = stop
	}
	if done < len(text) {
		ids = rest(ids, text[done:])
	}
	return ids
}

// isWord reports a character of Unicode \w as the library's regular
// expressions define it.
func isWord(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) ||
		unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Nl, r) ||
		unicode.Is(unicode.Other_Alphabetic, r) || unicode.Is(unicode.Join_Control, r)
}

func endsWithWord(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && r != utf8.RuneError && isWord(r)
}

func startsWithWord(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && r != utf8.RuneError && isWord(r)
}

// trailingSpace is the length in bytes of the whitespace at the end of s.
func trailingSpace(s string) int {
	n := 0
	for len(s) > n {
		r, k := utf8.DecodeLastRuneInString(s[:len(s)-n])
		if r == utf8.RuneError || !unicode.Is(unicode.White_Space, r) {
			break
		}
		n += k
	}
	return n
}

// leadingSpace is the length in bytes of the whitespace at the start of s.
func leadingSpace(s string) int {
	n := 0
	for n < len(s) {
		r, k := utf8.DecodeRuneInString(s[n:])
		if r == utf8.RuneError || !unicode.Is(unicode.White_Space, r) {
			break
		}
		n += k
	}
	return n
}

// templateItem is one item of a single-sequence template: fixed ids, or the
// encoded text.
type templateItem struct {
	ids      []int32
	sequence bool
}

type hfPostProc struct {
	Type          string            `json:"type"`
	Processors    []json.RawMessage `json:"processors"`
	Single        []json.RawMessage `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int32 `json:"ids"`
	} `json:"special_tokens"`
	Cls []json.RawMessage `json:"cls"`
	Sep []json.RawMessage `json:"sep"`
}

// parsePostProcessor reads the post_processor of a tokenizer.json as the
// template it applies to a single sequence: nil when it adds nothing.
// Supported: ByteLevel (it changes only offsets), TemplateProcessing (its
// "single" template), RobertaProcessing and BertProcessing (cls, the text,
// sep), and a Sequence of these (applied in order, each around the result
// of the one before).
func parsePostProcessor(raw json.RawMessage) ([]templateItem, error) {
	if isNull(raw) {
		return nil, nil
	}
	var p hfPostProc
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	switch p.Type {
	case "ByteLevel":
		return nil, nil
	case "Sequence":
		var out []templateItem
		for i, r := range p.Processors {
			inner, err := parsePostProcessor(r)
			if err != nil {
				return nil, fmt.Errorf("post_processor Sequence[%d]: %w", i, err)
			}
			out = compose(inner, out)
		}
		return out, nil
	case "RobertaProcessing", "BertProcessing":
		cls, err := pairID(p.Cls)
		if err != nil {
			return nil, fmt.Errorf("post_processor %s: cls: %w", p.Type, err)
		}
		sep, err := pairID(p.Sep)
		if err != nil {
			return nil, fmt.Errorf("post_processor %s: sep: %w", p.Type, err)
		}
		return []templateItem{{ids: []int32{cls}}, {sequence: true}, {ids: []int32{sep}}}, nil
	case "TemplateProcessing":
		if len(p.Single) == 0 {
			return nil, fmt.Errorf("post_processor TemplateProcessing: no single template")
		}
		var out []templateItem
		seq := 0
		for i, r := range p.Single {
			var it struct {
				SpecialToken *struct {
					ID string `json:"id"`
				}
				Sequence *struct {
					ID string `json:"id"`
				}
			}
			if err := json.Unmarshal(r, &it); err != nil {
				return nil, fmt.Errorf("post_processor TemplateProcessing single[%d]: %w", i, err)
			}
			switch {
			case it.Sequence != nil:
				if it.Sequence.ID != "A" {
					return nil, fmt.Errorf("post_processor TemplateProcessing single[%d]: sequence %q in a single-sequence template (expected A)", i, it.Sequence.ID)
				}
				out = append(out, templateItem{sequence: true})
				seq++
			case it.SpecialToken != nil:
				sp, ok := p.SpecialTokens[it.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("post_processor TemplateProcessing single[%d]: special token %q is not in special_tokens", i, it.SpecialToken.ID)
				}
				out = append(out, templateItem{ids: append([]int32(nil), sp.IDs...)})
			default:
				return nil, fmt.Errorf("post_processor TemplateProcessing single[%d]: %s: expected SpecialToken or Sequence", i, r)
			}
		}
		if seq != 1 {
			return nil, fmt.Errorf("post_processor TemplateProcessing: the single template holds $A %d times, expected once", seq)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported post_processor %q (supported: ByteLevel, TemplateProcessing, RobertaProcessing, BertProcessing, Sequence)", p.Type)
}

// pairID reads the id of a ["token", id] pair.
func pairID(r []json.RawMessage) (int32, error) {
	var id int32
	if len(r) != 2 || json.Unmarshal(r[1], &id) != nil || id < 0 {
		return 0, fmt.Errorf("expected [\"token\", id]")
	}
	return id, nil
}

// compose returns the template outer applied around the result of inner.
func compose(outer, inner []templateItem) []templateItem {
	if outer == nil {
		return inner
	}
	if inner == nil {
		return outer
	}
	var out []templateItem
	for _, it := range outer {
		if it.sequence {
			out = append(out, inner...)
		} else {
			out = append(out, it)
		}
	}
	return out
}
