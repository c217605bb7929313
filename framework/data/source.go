package data

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// Kind says how a source's files are split into documents.
type Kind int

const (
	// KindText: each file is one document.
	KindText Kind = iota
	// KindJSONL: each non-blank line is a JSON object; its Field is one document.
	KindJSONL
	// KindDir: each file under a directory whose name ends in Ext is one document.
	KindDir
)

// Source is a set of files and the way they are read.
type Source struct {
	Kind    Kind
	Pattern string // glob (with ** for any depth) or plain path; the root for KindDir
	Field   string // JSONL field holding the text
	Ext     string // KindDir extension filter, e.g. ".go"; empty keeps every file
}

// Text is a source of text files matching pattern; each file is a document.
func Text(pattern string) Source { return Source{Kind: KindText, Pattern: pattern} }

// JSONL is a source of JSON-lines files matching pattern; field of each line is a document.
func JSONL(pattern, field string) Source {
	return Source{Kind: KindJSONL, Pattern: pattern, Field: field}
}

// Dir is a source of every file under root whose name ends in ext.
func Dir(root, ext string) Source { return Source{Kind: KindDir, Pattern: root, Ext: ext} }

func (s Source) String() string {
	switch s.Kind {
	case KindJSONL:
		return "jsonl:" + s.Pattern + "#" + s.Field
	case KindDir:
		return "dir:" + s.Pattern + "*" + s.Ext
	}
	return "text:" + s.Pattern
}

// Files resolves the source to a sorted list of regular files.
func (s Source) Files() ([]string, error) {
	var out []string
	if s.Kind == KindDir {
		err := filepath.WalkDir(s.Pattern, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && strings.HasSuffix(p, s.Ext) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", s, err)
		}
	} else {
		var err error
		out, err = Glob(s.Pattern)
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("data: %s matches no file", s)
	}
	sort.Strings(out)
	return out, nil
}

// Glob returns the sorted regular files matching pattern, where a path
// component "**" matches any number of directories (zero included) and other
// components follow path.Match. A pattern with no meta character names one file.
func Glob(pattern string) ([]string, error) {
	pattern = filepath.ToSlash(filepath.Clean(pattern))
	if !strings.ContainsAny(pattern, "*?[\\") {
		st, err := os.Stat(pattern)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("data: %s is not a regular file", pattern)
		}
		return []string{filepath.FromSlash(pattern)}, nil
	}
	parts := strings.Split(pattern, "/")
	// The root is the longest prefix of components with no meta character.
	i := 0
	for i < len(parts)-1 && !strings.ContainsAny(parts[i], "*?[\\") {
		i++
	}
	root := strings.Join(parts[:i], "/")
	if root == "" {
		if strings.HasPrefix(pattern, "/") {
			root = "/"
		} else {
			root = "."
		}
	}
	pat := parts[i:]
	for _, p := range pat {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("data: bad pattern %q: %w", pattern, err)
		}
	}
	var out []string
	err := filepath.WalkDir(filepath.FromSlash(root), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(filepath.FromSlash(root), p)
		if err != nil {
			return err
		}
		if matchParts(pat, strings.Split(filepath.ToSlash(rel), "/")) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("data: glob %s: %w", pattern, err)
	}
	sort.Strings(out)
	return out, nil
}

func matchParts(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for k := 0; k <= len(name); k++ {
			if matchParts(pat[1:], name[k:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, _ := path.Match(pat[0], name[0])
	return ok && matchParts(pat[1:], name[1:])
}

// chunkSize bounds how much of a text file is handed to the tokenizer at once.
const chunkSize = 256 << 10

// forEachChunk calls fn with the pieces of the documents in file, in order.
// end is true on the last piece of each document. A text document is read in
// pieces of about chunkSize bytes cut after a newline (or anywhere in a line
// longer than that), so a file larger than memory streams through.
// progress is called with the bytes of the file consumed so far.
func (s Source) forEachChunk(file string, fn func(piece string, end bool) error, progress func(int64)) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	if s.Kind == KindJSONL {
		return s.jsonl(file, f, fn, progress)
	}
	r := bufio.NewReaderSize(f, 64<<10)
	buf := make([]byte, 0, chunkSize+64<<10)
	for {
		line, err := r.ReadSlice('\n')
		buf = append(buf, line...)
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if !errors.Is(err, io.EOF) {
				return fmt.Errorf("data: %s: %w", file, err)
			}
			if err := fn(string(buf), true); err != nil {
				return err
			}
			progress(int64(len(line)))
			return nil
		}
		progress(int64(len(line)))
		if len(buf) >= chunkSize {
			// Cut after a newline, or else before an incomplete UTF-8
			// sequence at the end, which is carried into the next piece.
			cut := len(buf)
			if buf[cut-1] != '\n' {
				for k := cut - 1; k >= 0 && k >= cut-utf8.UTFMax; k-- {
					if utf8.RuneStart(buf[k]) {
						if !utf8.FullRune(buf[k:]) {
							cut = k
						}
						break
					}
				}
			}
			if err := fn(string(buf[:cut]), false); err != nil {
				return err
			}
			buf = append(buf[:0], buf[cut:]...)
		}
	}
}

func (s Source) jsonl(file string, f io.Reader, fn func(string, bool) error, progress func(int64)) error {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		progress(int64(len(b)) + 1)
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return fmt.Errorf("data: %s:%d: malformed JSON: %w", file, line, err)
		}
		raw, ok := obj[s.Field]
		if !ok {
			return fmt.Errorf("data: %s:%d: no field %q", file, line, s.Field)
		}
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return fmt.Errorf("data: %s:%d: field %q is not a string", file, line, s.Field)
		}
		if err := fn(text, true); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("data: %s:%d: %w", file, line+1, err)
	}
	return nil
}
