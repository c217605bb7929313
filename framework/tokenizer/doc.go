// Package tokenizer turns text into token ids and back.
//
// Two kinds are provided:
//
//   - Bytes: one token per byte (ids 0..255) plus a separate end-of-sequence
//     id 256, so VocabSize is 257. The extra id is used rather than byte 0
//     because packing documents into training sequences separates them with
//     EOS, and a separator must never be confused with a byte of the text:
//     a NUL byte can occur in real data, id 256 cannot.
//
//   - LoadHF: a Hugging Face tokenizer.json whose model is byte-level BPE,
//     as used by GPT-2, Phi and Llama-3. Supported: model.vocab; model.merges
//     in both the "a b" string form and the ["a", "b"] list form;
//     model.ignore_merges; added_tokens (matched by exact string before
//     pre-tokenization, leftmost and then longest first, with their options); the ByteLevel
//     pre-tokenizer with its GPT-2 split, or a Sequence of a Split with the
//     GPT-2 or Llama-3 pattern (behavior Isolated) followed by ByteLevel
//     without its own regex; the ByteLevel decoder. The split patterns use
//     look-ahead, which Go's regexp lacks, so they are implemented by hand as
//     small scanners (pretok.go) that give the same pieces as the regular
//     expressions. Other model kinds (WordPiece, Unigram, WordLevel),
//     non-byte-level pre-tokenizers, normalizers and unknown split patterns
//     are rejected with an error naming the file and what was found.
//
// BPE results are cached per pre-tokenized piece, so encoding a large text
// mostly costs the pre-tokenizer scan and map look-ups. Pieces of 128 bytes
// or more are merged with a heap of candidate pairs, so a long run of one
// character costs n log n, not n². A Tokenizer is safe for concurrent use.
//
// EOS of a loaded tokenizer is the id of the first added token found among
// <|endoftext|>, <|end_of_text|>, </s>, <eos> and <|im_end|>, or -1.
//
// Encode never adds post-processor tokens: it is what corpora are tokenised
// with, and packing puts EOS between documents, never a BOS. EncodeSpecial
// (text, true) adds them as the library's encode does by default, from the
// post_processor: TemplateProcessing (its single-sequence template, e.g.
// Llama-3's "<|begin_of_text|> $A"), RobertaProcessing and BertProcessing
// (cls, text, sep), ByteLevel (no tokens) and a Sequence of these. Pair
// templates are not used.
//
// Added tokens follow the library's AddedToken options: single_word,
// lstrip, rstrip and normalized (added.go says exactly how). ByteLevel's add_prefix_space is applied to each stretch of text between
// added tokens that does not start with a space, as the library does.
//
// Decode returns the raw bytes of the tokens concatenated; it does not
// replace invalid UTF-8 (a byte-level id sequence may end in the middle of a
// character). Decode(Encode(s)) == s for every string s.
package tokenizer
