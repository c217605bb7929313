package data

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mohawk-distill/mohawk/framework/tokenizer"
)

// The project's tokenizers satisfy this package's interface.
var _ Tokenizer = tokenizer.Bytes()

// byteTok is a byte-level tokenizer: id b for byte b plus off, EOS after them.
type byteTok struct{ off int32 }

func (t byteTok) Encode(s string) []int32 {
	ids := make([]int32, len(s))
	for i := 0; i < len(s); i++ {
		ids[i] = int32(s[i]) + t.off
	}
	return ids
}
func (t byteTok) Decode(ids []int32) string {
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id >= t.off && id < t.off+256 {
			b = append(b, byte(id-t.off))
		}
	}
	return string(b)
}
func (t byteTok) VocabSize() int { return int(t.off) + 257 }
func (t byteTok) EOS() int32     { return t.off + 256 }

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func all(tk *Tokens) []int32 {
	out := make([]int32, tk.Len())
	tk.Read(out, 0)
	return out
}

// corpus writes text, JSONL and .go files and returns the sources and the
// documents they hold, in reading order.
func corpus(t *testing.T) ([]Source, []string) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "txt", "b.txt"), "second text\nline two\n")
	write(t, filepath.Join(dir, "txt", "a.txt"), "first text")
	write(t, filepath.Join(dir, "txt", "sub", "deep", "c.txt"), "deep text")
	write(t, filepath.Join(dir, "txt", "skip.md"), "not matched")
	write(t, filepath.Join(dir, "j", "d.jsonl"), `{"text":"json one","id":1}`+"\n\n"+`{"id":2,"text":"json \"two\"\n"}`+"\n")
	write(t, filepath.Join(dir, "src", "z.go"), "package z\n")
	write(t, filepath.Join(dir, "src", "inner", "y.go"), "package y\n")
	write(t, filepath.Join(dir, "src", "x.txt"), "ignored")
	srcs := []Source{
		Text(filepath.Join(dir, "txt", "**", "*.txt")),
		JSONL(filepath.Join(dir, "j", "*.jsonl"), "text"),
		Dir(filepath.Join(dir, "src"), ".go"),
	}
	docs := []string{"first text", "second text\nline two\n", "deep text", "json one", "json \"two\"\n", "package y\n", "package z\n"}
	return srcs, docs
}

func TestRoundTrip(t *testing.T) {
	for _, tok := range []byteTok{{0}, {70000}} {
		srcs, docs := corpus(t)
		cache := t.TempDir()
		tk, err := Build(srcs, tok, Options{CacheDir: cache, TokenizerID: "bytes"})
		if err != nil {
			t.Fatal(err)
		}
		ids := all(tk)
		var got []string
		for len(ids) > 0 {
			k := slices.Index(ids, tok.EOS())
			if k < 0 {
				t.Fatalf("stream does not end in EOS")
			}
			got = append(got, tok.Decode(ids[:k]))
			ids = ids[k+1:]
		}
		if !slices.Equal(got, docs) {
			t.Fatalf("documents\n%q\nwant\n%q", got, docs)
		}
		want := tk.dtype
		if (tok.off == 0) != (want == dtypeU16) {
			t.Fatalf("dtype %d for vocab %d", want, tok.VocabSize())
		}
		tk.Close()
		// A second Build maps the same file without tokenising.
		entries, _ := os.ReadDir(cache)
		if len(entries) != 1 {
			t.Fatalf("%d cache files", len(entries))
		}
		tk2, err := Build(srcs, panicTok{tok}, Options{CacheDir: cache, TokenizerID: "bytes"})
		if err != nil {
			t.Fatal(err)
		}
		tk2.Close()
	}
}

type panicTok struct{ byteTok }

func (panicTok) Encode(string) []int32 { panic("tokenised again") }

func TestCacheKeyChanges(t *testing.T) {
	srcs, _ := corpus(t)
	k1, _, _, err := CacheKey(srcs, "a", 257)
	if err != nil {
		t.Fatal(err)
	}
	k2, _, _, _ := CacheKey(srcs, "b", 257)
	files, _ := srcs[0].Files()
	later := time.Now().Add(time.Hour)
	os.Chtimes(files[0], later, later)
	k3, _, _, _ := CacheKey(srcs, "a", 257)
	if k1 == k2 || k1 == k3 {
		t.Fatal("key ignores tokenizer id or mtime")
	}
}

func TestCorruptCache(t *testing.T) {
	cases := map[string]func(b []byte) []byte{
		"bad magic":    func(b []byte) []byte { b[0] ^= 1; return b },
		"bad version":  func(b []byte) []byte { b[8] = 99; return b },
		"bad dtype":    func(b []byte) []byte { b[12] = 3; return b },
		"wrong size":   func(b []byte) []byte { return append(b, 0, 0) },
		"truncated":    func(b []byte) []byte { return b[:len(b)-3] },
		"header only":  func(b []byte) []byte { return b[:10] },
		"empty":        func(b []byte) []byte { return b[:0] },
		"bad checksum": func(b []byte) []byte { b[headerSize+5] ^= 0x40; return b },
		"bad count":    func(b []byte) []byte { b[16]++; return b },
	}
	for name, corrupt := range cases {
		t.Run(name, func(t *testing.T) {
			srcs, _ := corpus(t)
			cache := t.TempDir()
			tk, err := Build(srcs, byteTok{}, Options{CacheDir: cache})
			if err != nil {
				t.Fatal(err)
			}
			want := all(tk)
			tk.Close()
			entries, _ := os.ReadDir(cache)
			path := filepath.Join(cache, entries[0].Name())
			b, _ := os.ReadFile(path)
			write(t, path, string(corrupt(b)))
			if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			var logged []string
			tk, err = Build(srcs, byteTok{}, Options{CacheDir: cache, Logf: func(f string, a ...any) {
				logged = append(logged, fmt.Sprintf(f, a...))
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer tk.Close()
			if len(logged) != 1 || !strings.Contains(logged[0], "corrupt") {
				t.Fatalf("logged %q", logged)
			}
			if !slices.Equal(all(tk), want) {
				t.Fatal("rebuilt cache differs")
			}
		})
	}
}

func TestMalformedJSONL(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "bad.jsonl")
	for _, c := range []struct{ body, want string }{
		{`{"text":"ok"}` + "\n" + `{"text": oops}` + "\n", f + ":2: malformed JSON"},
		{`{"text":"ok"}` + "\n\n" + `{"body":"x"}` + "\n", f + `:3: no field "text"`},
		{`{"text":5}` + "\n", f + `:1: field "text" is not a string`},
	} {
		write(t, f, c.body)
		_, err := Build([]Source{JSONL(f, "text")}, byteTok{}, Options{CacheDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("error %v, want %q", err, c.want)
		}
	}
}

func TestGlob(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a.txt", "b/c.txt", "b/d/e.txt", "b/d/e.md", "f/g.txt"} {
		write(t, filepath.Join(dir, p), "x")
	}
	rel := func(ps []string) []string {
		for i := range ps {
			ps[i], _ = filepath.Rel(dir, ps[i])
			ps[i] = filepath.ToSlash(ps[i])
		}
		return ps
	}
	for pat, want := range map[string][]string{
		"**/*.txt":   {"a.txt", "b/c.txt", "b/d/e.txt", "f/g.txt"},
		"b/**/*.txt": {"b/c.txt", "b/d/e.txt"},
		"*/*.txt":    {"b/c.txt", "f/g.txt"},
		"b/d/e.*":    {"b/d/e.md", "b/d/e.txt"},
		"a.txt":      {"a.txt"},
	} {
		got, err := Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rel(got), want) {
			t.Errorf("%s: %q, want %q", pat, got, want)
		}
	}
}

// synthetic builds a cache of n tokens 0..n-1 mod 1000 with an EOS every 97.
func synthetic(t *testing.T, n int) *Tokens {
	dir := t.TempDir()
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString("the quick brown fox jumps over the lazy dog 0123456789\n")
	}
	write(t, filepath.Join(dir, "c.txt"), sb.String()[:n])
	tk, err := Build([]Source{Text(filepath.Join(dir, "c.txt"))}, byteTok{}, Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tk.Close() })
	return tk
}

func collect(t *testing.T, s *Set, b int, seed uint64, start, steps int) [][]int32 {
	it, err := s.Batches(b, seed, start)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]int32
	for range steps {
		x, y := it.Next()
		if !slices.Equal(x.Shape, []int{b, s.SeqLen()}) || !slices.Equal(y.Shape, []int{b, s.SeqLen()}) {
			t.Fatalf("shapes %v %v", x.Shape, y.Shape)
		}
		for r := range b {
			T := s.SeqLen()
			if !slices.Equal(x.I32[r*T+1:(r+1)*T], y.I32[r*T:(r+1)*T-1]) {
				t.Fatal("targets are not inputs shifted by one")
			}
		}
		out = append(out, x.I32, y.I32)
	}
	return out
}

func TestPacking(t *testing.T) {
	tk := synthetic(t, 10_000)
	const T = 16
	train, val, err := Split(tk, T, 0.1, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := (tk.Len() - 1) / T
	if train.Len()+val.Len() != n || val.Len() != int(0.1*float64(n)+0.5) {
		t.Fatalf("train %d val %d of %d", train.Len(), val.Len(), n)
	}
	seen := make([]int, n)
	maxVal := 0
	for k := range train.Len() {
		seen[train.Index(k)]++
	}
	for k := range val.Len() {
		seen[val.Index(k)] += 2
		maxVal = max(maxVal, val.Index(k))
	}
	for i, c := range seen {
		if c != 1 && c != 2 {
			t.Fatalf("sequence %d counted %d", i, c)
		}
	}
	if val.Index(0) > n/2 || maxVal < n/2 {
		t.Fatalf("validation sequences not spread: first %d last %d of %d", val.Index(0), maxVal, n)
	}
	// Every sequence is the stream at its offset.
	row := make([]int32, T+1)
	ids := all(tk)
	for k := range val.Len() {
		val.Sequence(row, k)
		if i := val.Index(k); !slices.Equal(row, ids[i*T:i*T+T+1]) {
			t.Fatalf("sequence %d", i)
		}
	}
	spe := train.Len() / 8
	a := collect(t, train, 8, 1, 0, 2*spe+3)
	b := collect(t, train, 8, 1, 0, 2*spe+3)
	c := collect(t, train, 8, 2, 0, 2*spe+3)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatal("same seed, different batches")
	}
	if slices.Equal(a[0], c[0]) {
		t.Fatal("different seeds, same first batch")
	}
	if slices.Equal(a[0], a[2*spe]) {
		t.Fatal("second epoch not reshuffled")
	}
	for _, k := range []int{1, 5, spe, spe + 1, 2 * spe} {
		r := collect(t, train, 8, 1, k, 2*spe+3-k)
		if !slices.EqualFunc(r, a[2*k:], slices.Equal) {
			t.Fatalf("resume at %d differs", k)
		}
	}
	// One epoch visits each sequence at most once.
	it, _ := train.Batches(8, 3, 0)
	if it.StepsPerEpoch() != spe {
		t.Fatal("steps per epoch")
	}
	if _, _, err := Split(tk, T, 1, 0); err == nil {
		t.Fatal("fraction 1 accepted")
	}
	if _, err := val.Batches(val.Len()+1, 0, 0); err == nil {
		t.Fatal("batch larger than the set accepted")
	}
}

// TestStreaming tokenises a 50 MB file and checks the heap stays small.
func TestStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "big.txt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("streaming corpus line ", 4) + "\n")
	var size int64
	for size < 50<<20 {
		n, _ := f.Write(line)
		size += int64(n)
	}
	f.Close()
	runtime.GC()
	var peak uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	tk, err := Build([]Source{Text(path)}, byteTok{}, Options{CacheDir: dir})
	close(done)
	<-stopped
	if err != nil {
		t.Fatal(err)
	}
	defer tk.Close()
	if tk.Len() != int(size)+1 {
		t.Fatalf("%d tokens for %d bytes", tk.Len(), size)
	}
	t.Logf("peak heap %.1f MB for a %.1f MB file", float64(peak)/(1<<20), float64(size)/(1<<20))
	if peak > 12<<20 {
		t.Fatalf("peak heap %d bytes", peak)
	}
	train, _, err := Split(tk, 1024, 0.01, 0)
	if err != nil {
		t.Fatal(err)
	}
	it, _ := train.Batches(4, 0, 0)
	x, _ := it.Next()
	if s := (byteTok{}).Decode(x.I32[:1024]); !strings.Contains(s, "streaming corpus line") {
		t.Fatalf("batch %q", s[:40])
	}
}

// TestGoRoot tokenises the standard library's Go source with the byte tokenizer.
func TestGoRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skip("no go command")
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "src")
	if _, err := os.Stat(src); err != nil {
		t.Skip("GOROOT/src absent")
	}
	s := Dir(src, ".go")
	files, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range files {
		st, _ := os.Stat(f)
		total += st.Size()
	}
	tok := tokenizer.Bytes()
	tk, err := Build([]Source{s}, tok, Options{CacheDir: t.TempDir(), TokenizerID: "bytes", Progress: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer tk.Close()
	if tk.Len() != int(total)+len(files) {
		t.Fatalf("%d tokens, want %d bytes + %d EOS", tk.Len(), total, len(files))
	}
	// The first document decodes to the first file.
	first, _ := os.ReadFile(files[0])
	buf := make([]int32, len(first)+1)
	tk.Read(buf, 0)
	if tok.Decode(buf[:len(first)]) != string(first) || buf[len(first)] != tok.EOS() {
		t.Fatal("first file does not round-trip")
	}
	train, val, err := Split(tk, 512, 0.05, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files, %d tokens, %d train and %d validation sequences", len(files), tk.Len(), train.Len(), val.Len())
}

// recTok records the pieces it is given.
type recTok struct {
	byteTok
	pieces *[]string
}

func (r recTok) Encode(s string) []int32 {
	*r.pieces = append(*r.pieces, s)
	return r.byteTok.Encode(s)
}

// TestLongLinePieces checks that a line longer than a piece is cut on UTF-8
// boundaries and still round-trips.
func TestLongLinePieces(t *testing.T) {
	dir := t.TempDir()
	text := strings.Repeat("aé€😀", chunkSize/5) + "\n" + strings.Repeat("line\n", chunkSize/4)
	write(t, filepath.Join(dir, "l.txt"), text)
	var pieces []string
	tk, err := Build([]Source{Text(filepath.Join(dir, "l.txt"))}, recTok{pieces: &pieces}, Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer tk.Close()
	if len(pieces) < 3 {
		t.Fatalf("%d pieces", len(pieces))
	}
	for i, p := range pieces {
		if !utf8.ValidString(p) {
			t.Fatalf("piece %d is not valid UTF-8", i)
		}
	}
	if strings.Join(pieces, "") != text {
		t.Fatal("pieces do not join to the file")
	}
	ids := all(tk)
	if (byteTok{}).Decode(ids[:len(ids)-1]) != text || ids[len(ids)-1] != 256 {
		t.Fatal("round trip")
	}
}
