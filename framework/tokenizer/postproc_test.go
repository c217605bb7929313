package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestHFPostProcessorFixtures checks every id of the library's encodings,
// with and without add_special_tokens, for llama3_template (Llama-3's
// Sequence[ByteLevel, TemplateProcessing] post-processor; added tokens with
// lstrip, rstrip, single_word and normalized in several combinations) and
// gpt2_roberta (RobertaProcessing; <mask> with lstrip).
func TestHFPostProcessorFixtures(t *testing.T) {
	for _, name := range []string{"llama3_template", "gpt2_roberta"} {
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
				Cases []struct {
					Text       string  `json:"text"`
					IDs        []int32 `json:"ids"`
					IDsSpecial []int32 `json:"ids_special"`
				} `json:"cases"`
			}
			if err := json.Unmarshal(data, &fx); err != nil {
				t.Fatal(err)
			}
			if len(fx.Cases) < 500 {
				t.Fatalf("only %d cases", len(fx.Cases))
			}
			bad := 0
			for _, c := range fx.Cases {
				got := tok.Encode(c.Text)
				if !slices.Equal(got, c.IDs) {
					t.Errorf("Encode(%q)\n got %v\nwant %v", c.Text, got, c.IDs)
					bad++
				}
				if got := tok.EncodeSpecial(c.Text, false); !slices.Equal(got, c.IDs) {
					t.Errorf("EncodeSpecial(%q, false)\n got %v\nwant %v", c.Text, got, c.IDs)
					bad++
				}
				if got := tok.EncodeSpecial(c.Text, true); !slices.Equal(got, c.IDsSpecial) {
					t.Errorf("EncodeSpecial(%q, true)\n got %v\nwant %v", c.Text, got, c.IDsSpecial)
					bad++
				}
				if bad > 20 {
					t.Fatal("too many differences")
				}
			}
		})
	}
}

func TestPostProcessorErrors(t *testing.T) {
	base := `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {}, "merges": []}, "post_processor": %s}`
	cases := []struct{ name, pp, want string }{
		{"unknown", `{"type": "Whatever"}`, `unsupported post_processor "Whatever"`},
		{"missingSpecial", `{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}}`, `special token "<s>" is not in special_tokens`},
		{"sequenceB", `{"type": "TemplateProcessing", "single": [{"Sequence": {"id": "B", "type_id": 0}}], "special_tokens": {}}`, `sequence "B"`},
		{"noA", `{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}`, "$A 0 times"},
		{"roberta", `{"type": "RobertaProcessing", "cls": ["<s>"], "sep": ["</s>", 2]}`, "cls"},
		{"inSequence", `{"type": "Sequence", "processors": [{"type": "ByteLevel"}, {"type": "Nope"}]}`, "Sequence[1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeTemp(t, strings.Replace(base, "%s", c.pp, 1))
			_, err := LoadHF(p)
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming the file and %q", err, c.want)
			}
		})
	}
}

// TestEncodeAddsNoBOS checks that corpus encoding (Encode) never inserts the
// template's BOS, while EncodeSpecial puts it first exactly once.
func TestEncodeAddsNoBOS(t *testing.T) {
	tok, err := LoadHF(filepath.Join("testdata", "llama3_template.tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	const bos = 0 // <|begin_of_text|>
	text := "first document\nsecond one"
	if ids := tok.Encode(text); slices.Contains(ids, bos) {
		t.Fatalf("Encode put a BOS in %v", ids)
	}
	ids := tok.EncodeSpecial(text, true)
	if ids[0] != bos || slices.Contains(ids[1:], bos) || !slices.Equal(ids[1:], tok.Encode(text)) {
		t.Fatalf("EncodeSpecial %v", ids)
	}
	if got := Bytes().EncodeSpecial("ab", true); !slices.Equal(got, []int32{'a', 'b'}) {
		t.Fatalf("bytes %v", got)
	}
}
