package tokenizer

// Tokenizer maps text to token ids and back.
type Tokenizer interface {
	// Encode returns the ids of text and nothing else: no BOS or other
	// post-processor tokens, so that documents tokenised for a corpus can be
	// joined with EOS separators and no BOS appears between them.
	Encode(text string) []int32
	// EncodeSpecial returns the ids of text as a model input: with
	// addSpecial, wrapped in the tokenizer's post-processor tokens (a
	// tokenizer.json's TemplateProcessing, e.g. Llama-3's BOS), as the
	// Hugging Face library's encode(text, add_special_tokens=True) does;
	// without, the same as Encode.
	EncodeSpecial(text string, addSpecial bool) []int32
	// Decode returns the text of ids; ids out of range are skipped.
	Decode(ids []int32) string
	// VocabSize is one more than the largest id Encode or EOS can return.
	VocabSize() int
	// EOS is the end-of-sequence id, or -1 if the vocabulary has none.
	EOS() int32
}

// ByteEOS is the end-of-sequence id of the byte-level tokenizer.
const ByteEOS = 256

type byteTok struct{}

// Bytes returns the byte-level tokenizer: id b for byte b, and EOS = 256 as a
// separate id (VocabSize 257) so that an EOS separator in packed sequences is
// never a byte of the text.
func Bytes() Tokenizer { return byteTok{} }

func (byteTok) Encode(text string) []int32 {
	ids := make([]int32, len(text))
	for i := 0; i < len(text); i++ {
		ids[i] = int32(text[i])
	}
	return ids
}

// EncodeSpecial is Encode: the byte-level tokenizer adds no special tokens.
func (t byteTok) EncodeSpecial(text string, _ bool) []int32 { return t.Encode(text) }

func (byteTok) Decode(ids []int32) string {
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id >= 0 && id < 256 {
			b = append(b, byte(id))
		}
	}
	return string(b)
}

func (byteTok) VocabSize() int { return 257 }
func (byteTok) EOS() int32     { return ByteEOS }
