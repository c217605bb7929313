package tokenizer

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer/codec"
)

// r50kTokens returns the bytes of every GPT-2 (r50k_base) token, by id.
func r50kTokens(tb testing.TB) []string {
	c := codec.NewR50kBase()
	toks := make([]string, 50256)
	for id := range toks {
		s, err := c.Decode([]uint{uint(id)})
		if err != nil {
			tb.Fatal(err)
		}
		toks[id] = s
	}
	return toks
}

// gpt2JSON builds a tokenizer.json for GPT-2 from tiktoken's ranks. The rank
// of a token is its id; BPE by ranks merges the adjacent pair whose
// concatenation has the lowest rank, so every split of a token into two tokens
// is a merge, ranked by the token. Ties between two splits of one token are
// ordered by the split point. ignore_merges mirrors tiktoken's look-up of the
// whole piece before merging.
func gpt2JSON(tb testing.TB, ignoreMerges bool) []byte {
	toks := r50kTokens(tb)
	rank := make(map[string]int, len(toks))
	for id, s := range toks {
		rank[s] = id
	}
	mapped := func(s string) string {
		var sb strings.Builder
		for i := 0; i < len(s); i++ {
			sb.WriteRune(byteToRune[s[i]])
		}
		return sb.String()
	}
	vocab := make(map[string]int, len(toks))
	var merges []string
	for id, s := range toks {
		vocab[mapped(s)] = id
		for k := 1; k < len(s); k++ {
			if _, ok := rank[s[:k]]; !ok {
				continue
			}
			if _, ok := rank[s[k:]]; !ok {
				continue
			}
			merges = append(merges, mapped(s[:k])+" "+mapped(s[k:]))
		}
	}
	// The fields and options of GPT-2's own tokenizer.json, as the Hub has
	// it (vocabulary and merges from tiktoken's ranks).
	spec := map[string]any{
		"version":    "1.0",
		"truncation": nil,
		"padding":    nil,
		"normalizer": nil,
		"added_tokens": []map[string]any{
			{"id": 50256, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": true},
		},
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true},
		"model": map[string]any{
			"type":                      "BPE",
			"dropout":                   nil,
			"unk_token":                 nil,
			"continuing_subword_prefix": "",
			"end_of_word_suffix":        "",
			"fuse_unk":                  false,
			"vocab":                     vocab,
			"merges":                    merges,
			"ignore_merges":             ignoreMerges,
		},
	}
	out, err := json.Marshal(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

var (
	gpt2Once sync.Once
	gpt2Tok  Tokenizer
	gpt2Err  error
)

func loadGPT2(tb testing.TB) Tokenizer {
	gpt2Once.Do(func() {
		dir, err := os.MkdirTemp("", "gpt2tok")
		if err != nil {
			gpt2Err = err
			return
		}
		defer os.RemoveAll(dir)
		p := filepath.Join(dir, "tokenizer.json")
		if gpt2Err = os.WriteFile(p, gpt2JSON(tb, true), 0o644); gpt2Err != nil {
			return
		}
		gpt2Tok, gpt2Err = LoadHF(p)
	})
	if gpt2Err != nil {
		tb.Fatal(gpt2Err)
	}
	return gpt2Tok
}

// goSources returns valid UTF-8 .go files of the Go standard library, in path
// order, until about limit bytes.
func goSources(tb testing.TB, limit int) []string {
	root := filepath.Join(runtime.GOROOT(), "src")
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		tb.Skipf("Go sources not readable: %v", err)
	}
	sort.Strings(paths)
	var out []string
	total := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !utf8.Valid(b) {
			continue
		}
		out = append(out, string(b))
		total += len(b)
		if total >= limit {
			break
		}
	}
	if total < limit/2 {
		tb.Skipf("only %d bytes of Go sources", total)
	}
	return out
}

func TestGPT2AgainstTiktoken(t *testing.T) {
	tok := loadGPT2(t)
	ref := codec.NewR50kBase()
	// tiktoken-go encodes special tokens as ordinary text; the HF loader
	// matches added tokens first.
	if got, want := tok.Encode("<|endoftext|>a<|endoftext|><|endoftext|> b"), []int32{50256, 64, 50256, 50256, 275}; !slices.Equal(got, want) {
		t.Errorf("special tokens: got %v, want %v", got, want)
	}
	// GPT-2's post-processor (ByteLevel) adds no tokens.
	if got, want := tok.EncodeSpecial("Hello world", true), tok.Encode("Hello world"); !slices.Equal(got, want) {
		t.Errorf("EncodeSpecial with GPT-2's ByteLevel post-processor: %v, want %v", got, want)
	}
	size := 4 << 20
	if testing.Short() {
		size = 1 << 20
	}
	texts := append([]string{multilingual}, goSources(t, size)...)
	total, bad := 0, 0
	for _, s := range texts {
		want, _, err := ref.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		got := tok.Encode(s)
		total += len(got)
		w := make([]int32, len(want))
		for i, id := range want {
			w[i] = int32(id)
		}
		if !slices.Equal(got, w) {
			bad++
			if bad <= 3 {
				i := 0
				for i < len(got) && i < len(w) && got[i] == w[i] {
					i++
				}
				t.Errorf("first difference at token %d: got %v, want %v (text near %q)",
					i, got[i:min(i+8, len(got))], w[i:min(i+8, len(w))], tok.Decode(w[max(0, i-4):min(i+8, len(w))]))
			}
		}
		if d := tok.Decode(got); d != s {
			t.Errorf("round trip differs for text starting %q", s[:min(40, len(s))])
		}
	}
	t.Logf("%d texts, %d tokens, %d differ", len(texts), total, bad)
}

func BenchmarkGPT2Encode(b *testing.B) {
	tok := loadGPT2(b)
	text := strings.Join(goSources(b, 4<<20), "")
	n := len(tok.Encode(text)) // warm the cache once, as a long run would
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		tok.Encode(text)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// TestLongPieces checks the heap BPE used for long pieces against tiktoken
// and against the scan used for short ones.
func TestLongPieces(t *testing.T) {
	tok := loadGPT2(t)
	b := tok.(*bpe)
	ref := codec.NewR50kBase()
	var texts []string
	for _, unit := range []string{"=", "ab", "hello", "ü", "日本", "0123", " ", "\n", "-_", "aaaa"} {
		for _, n := range []int{longPiece / len(unit), 300, 5000} {
			texts = append(texts, strings.Repeat(unit, n))
		}
	}
	texts = append(texts, strings.Repeat("Supercalifragilisticexpialidocious", 40))
	for _, s := range texts {
		want, _, err := ref.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		w := make([]int32, len(want))
		for i, id := range want {
			w[i] = int32(id)
		}
		if got := tok.Encode(s); !slices.Equal(got, w) {
			t.Errorf("%q x %d: got %d tokens, want %d", s[:min(8, len(s))], len(s), len(got), len(w))
		}
		if len(s) < 2000 {
			for i := 0; i < len(s); {
				j := b.split(s, i)
				piece := s[i:j]
				if len(piece) >= longPiece && !slices.Equal(b.bpeHeap(piece), b.bpeScan(piece)) {
					t.Errorf("heap and scan differ on %q", piece[:min(20, len(piece))])
				}
				i = j
			}
		}
	}
}

// BenchmarkGPT2EncodeCold empties the piece cache before each pass.
func BenchmarkGPT2EncodeCold(b *testing.B) {
	tok := loadGPT2(b).(*bpe)
	text := strings.Join(goSources(b, 4<<20), "")
	n := len(tok.Encode(text))
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		tok.mu.Lock()
		clear(tok.cache)
		tok.mu.Unlock()
		b.StartTimer()
		tok.Encode(text)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
