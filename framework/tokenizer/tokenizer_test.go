package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBytes(t *testing.T) {
	tok := Bytes()
	s := "héllo\x00\xff 世界"
	ids := tok.Encode(s)
	if len(ids) != len(s) {
		t.Fatalf("len %d, want %d", len(ids), len(s))
	}
	for i := range ids {
		if ids[i] != int32(s[i]) {
			t.Fatalf("id %d = %d, want %d", i, ids[i], s[i])
		}
	}
	if got := tok.Decode(append(ids, tok.EOS())); got != s {
		t.Fatalf("decode %q, want %q", got, s)
	}
	if tok.VocabSize() != 257 || tok.EOS() != 256 {
		t.Fatalf("vocab %d eos %d", tok.VocabSize(), tok.EOS())
	}
}

type fixtureCase struct {
	Text    string  `json:"text"`
	IDs     []int32 `json:"ids"`
	Decoded string  `json:"decoded"`
}

func TestHFFixtures(t *testing.T) {
	for _, name := range []string{"gpt2_style", "gpt2_prefix_style", "llama3_style"} {
		t.Run(name, func(t *testing.T) {
			tok, err := LoadHF(filepath.Join("testdata", name+".tokenizer.json"))
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join("testdata", name+".cases.json"))
			if err != nil {
				t.Fatal(err)
			}
			var fx struct {
				Cases []fixtureCase `json:"cases"`
			}
			if err := json.Unmarshal(data, &fx); err != nil {
				t.Fatal(err)
			}
			if len(fx.Cases) < 20 {
				t.Fatalf("only %d cases", len(fx.Cases))
			}
			for _, c := range fx.Cases {
				got := tok.Encode(c.Text)
				if !slices.Equal(got, c.IDs) {
					t.Errorf("Encode(%q)\n got %v\nwant %v", c.Text, got, c.IDs)
				}
				// With add_prefix_space the decoding keeps the added space.
				if d := tok.Decode(c.IDs); d != c.Text && name != "gpt2_prefix_style" {
					t.Errorf("Decode(ids of %q) = %q", c.Text, d)
				}
				if d := tok.Decode(c.IDs); d != c.Decoded {
					t.Errorf("Decode(ids of %q) = %q, library gives %q", c.Text, d, c.Decoded)
				}
			}
		})
	}
}

func TestHFEOS(t *testing.T) {
	tok, err := LoadHF(filepath.Join("testdata", "gpt2_style.tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.EOS() != 0 {
		t.Errorf("gpt2_style EOS %d, want 0 (<|endoftext|>)", tok.EOS())
	}
	tok, err = LoadHF(filepath.Join("testdata", "llama3_style.tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.EOS() != 1 {
		t.Errorf("llama3_style EOS %d, want 1 (<|end_of_text|>)", tok.EOS())
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHFErrors(t *testing.T) {
	cases := []struct {
		name, json, want string
	}{
		{"malformed", `{"model": {`, "malformed JSON"},
		{"wordpiece", `{"model": {"type": "WordPiece", "vocab": {}}}`, `"WordPiece"`},
		{"unigram", `{"model": {"type": "Unigram", "vocab": []}}`, `"Unigram"`},
		{"metaspace", `{"pre_tokenizer": {"type": "Metaspace"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}`, `"Metaspace"`},
		{"bytefallback", `{"pre_tokenizer": {"type": "Metaspace"}, "model": {"type": "BPE", "byte_fallback": true, "vocab": {}, "merges": []}}`, "byte_fallback"},
		{"nonbyte", `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"▁a": 0}, "merges": []}}`, "not byte-level"},
		{"addedNotInByteMap", `{"pre_tokenizer": {"type": "ByteLevel"}, "added_tokens": [{"id": 1, "content": "▁x"}], "model": {"type": "BPE", "vocab": {"▁x": 1, "▁y": 2}, "merges": []}}`, "not byte-level"},
		{"regex", `{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]}, "model": {"type": "BPE", "vocab": {}, "merges": []}}`, "unsupported Split regex"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeTemp(t, c.json)
			_, err := LoadHF(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name the file and %s", err, c.want)
			}
		})
	}
}

// TestMergesForms checks that the string and list forms of merges load to
// the same tokenizer.
func TestMergesForms(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "gpt2_style.tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	model := spec["model"].(map[string]any)
	var list [][]string
	for _, m := range model["merges"].([]any) {
		a, b, _ := strings.Cut(m.(string), " ")
		list = append(list, []string{a, b})
	}
	model["merges"] = list
	out, _ := json.Marshal(spec)
	tokList, err := LoadHF(writeTemp(t, string(out)))
	if err != nil {
		t.Fatal(err)
	}
	tokStr, err := LoadHF(filepath.Join("testdata", "gpt2_style.tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	text := multilingual
	if a, b := tokList.Encode(text), tokStr.Encode(text); !slices.Equal(a, b) {
		t.Fatalf("list form %v\nstring form %v", a, b)
	}
}

// multilingual is a hand-written text with many scripts and edge cases.
const multilingual = "Hello, world! It's a test: we'll see; they've said I'm sure you'd agree, DON'T SHOUT.\n" +
	"Numbers: 0 7 42 123 1234 12345 3.14159 -2e10 1,000,000 ١٢٣٤ ४५६७ ½ ⅷ ²³\n" +
	"Emoji: 😀😃🎉 👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵 ❤️ 🦀\n" +
	"CJK: 日本語のテキスト、漢字とかな。中文：你好，世界！한국어 문장입니다.\n" +
	"Combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0360a\u0352l\u0353g\u0354o\u0355 ą́ é\u0327\n" +
	"Scripts: Ελληνικά Русский עברית العربية हिन्दी ไทย Ǆǅǆ ﬁﬂ ſ K Å\n" +
	"Whitespace:   three  two\t\ttabs\n\n\n  newlines \r\n crlf\r\n\u00a0nbsp\u2003em\u3000ideo\u2028ls\u2029ps \u0085nel\n" +
	"Contractions: 's 't 're 've 'm 'll 'd 'S 'RE 'x ''s it''s rock'n'roll\n" +
	"Code: func main() { x := a[i]+b*c // done }\n\tif (x != y) && z >= 0 { return \"ok\" }\n" +
	"   trailing spaces   \n\n" +
	"    "

func TestConcurrentEncode(t *testing.T) {
	tok, err := LoadHF(filepath.Join("testdata", "llama3_style.tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := tok.Encode(multilingual)
	done := make(chan []int32)
	for g := 0; g < 8; g++ {
		go func() {
			var last []int32
			for i := 0; i < 20; i++ {
				last = tok.Encode(multilingual)
			}
			done <- last
		}()
	}
	for g := 0; g < 8; g++ {
		if got := <-done; !slices.Equal(got, want) {
			t.Fatal("concurrent Encode differs")
		}
	}
	if tok.Decode(want) != multilingual {
		t.Fatal("round trip")
	}
}
