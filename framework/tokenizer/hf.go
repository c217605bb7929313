package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
)

type hfFile struct {
	Model struct {
		Type                    string          `json:"type"`
		Vocab                   json.RawMessage `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
		IgnoreMerges            bool            `json:"ignore_merges"`
		ByteFallback            bool            `json:"byte_fallback"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	} `json:"model"`
	AddedTokens []struct {
		ID         int32  `json:"id"`
		Content    string `json:"content"`
		Special    bool   `json:"special"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized *bool  `json:"normalized"`
	} `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
}

type hfPreTok struct {
	Type          string          `json:"type"`
	AddPrefix     bool            `json:"add_prefix_space"`
	UseRegex      *bool           `json:"use_regex"`
	PreTokenizers json.RawMessage `json:"pretokenizers"`
	Pattern       struct {
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	} `json:"pattern"`
	Behavior string `json:"behavior"`
	Invert   bool   `json:"invert"`
}

// byteToRune is the GPT-2 byte-to-unicode table: printable Latin-1 bytes map
// to themselves, the others to U+0100 onwards in byte order.
var byteToRune [256]rune
var runeToByte = map[rune]byte{}

func init() {
	next := rune(256)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = next
			next++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// unmapBytes turns a byte-level token string into the raw bytes it stands for.
func unmapBytes(tok string) (string, bool) {
	b := make([]byte, 0, len(tok))
	for _, r := range tok {
		c, ok := runeToByte[r]
		if !ok {
			return "", false
		}
		b = append(b, c)
	}
	return string(b), true
}

type merge struct {
	rank int32
	id   int32
}

// addedTok is an added token with the options of the library's AddedToken
// (see added.go for what each does).
type addedTok struct {
	text                  string
	id                    int32
	singleWord            bool
	lstrip, rstrip        bool
	normalized, isSpecial bool
}

type bpe struct {
	vocab        map[string]int32 // raw bytes -> id
	pieces       []string         // id -> raw bytes ("" if unused)
	merges       map[uint64]merge // left<<32|right -> rank and result
	byteID       [256]int32
	ignoreMerges bool
	split        splitFunc
	addPrefix    bool
	raw          addedSet // added tokens matched in the text as given
	norm         addedSet // added tokens matched after normalization
	template     []templateItem
	vocabSize    int
	eos          int32

	mu    sync.Mutex
	cache map[string][]int32
}

const cacheLimit = 1 << 17

// LoadHF loads a Hugging Face tokenizer.json with a byte-level BPE model.
func LoadHF(path string) (Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: malformed JSON: %w", path, err)
	}
	t, err := buildBPE(&f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

func isNull(m json.RawMessage) bool {
	s := strings.TrimSpace(string(m))
	return s == "" || s == "null"
}

func parsePreTok(raw json.RawMessage, t *bpe) error {
	if isNull(raw) {
		return fmt.Errorf("no pre_tokenizer: only byte-level BPE is supported")
	}
	var p hfPreTok
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch p.Type {
	case "ByteLevel":
		if p.UseRegex == nil || *p.UseRegex {
			t.split = splitGPT2
		}
		t.addPrefix = p.AddPrefix
		return nil
	case "Sequence":
		var seq []json.RawMessage
		if err := json.Unmarshal(p.PreTokenizers, &seq); err != nil {
			return fmt.Errorf("pre_tokenizer Sequence: %w", err)
		}
		var kinds []string
		var parsed []hfPreTok
		for _, r := range seq {
			var q hfPreTok
			if err := json.Unmarshal(r, &q); err != nil {
				return fmt.Errorf("pre_tokenizer Sequence: %w", err)
			}
			kinds = append(kinds, q.Type)
			parsed = append(parsed, q)
		}
		if len(parsed) != 2 || parsed[0].Type != "Split" || parsed[1].Type != "ByteLevel" {
			return fmt.Errorf("unsupported pre_tokenizer Sequence %v: want [Split, ByteLevel]", kinds)
		}
		sp, bl := parsed[0], parsed[1]
		if bl.UseRegex != nil && *bl.UseRegex {
			return fmt.Errorf("unsupported pre_tokenizer: Split followed by ByteLevel with use_regex")
		}
		if sp.Invert || !strings.EqualFold(sp.Behavior, "Isolated") {
			return fmt.Errorf("unsupported Split behavior %q (invert %v): want Isolated", sp.Behavior, sp.Invert)
		}
		if sp.Pattern.Regex == nil {
			return fmt.Errorf("unsupported Split pattern: want a Regex")
		}
		switch *sp.Pattern.Regex {
		case gpt2Pattern:
			t.split = splitGPT2
		case llama3Pattern:
			t.split = splitLlama3
		default:
			return fmt.Errorf("unsupported Split regex %q: only the GPT-2 and Llama-3 patterns are implemented", *sp.Pattern.Regex)
		}
		t.addPrefix = bl.AddPrefix
		return nil
	}
	return fmt.Errorf("unsupported pre_tokenizer %q: only ByteLevel (byte-level BPE) is supported", p.Type)
}

func buildBPE(f *hfFile) (*bpe, error) {
	if f.Model.Type != "BPE" {
		if f.Model.Type == "" {
			return nil, fmt.Errorf("model has no type")
		}
		return nil, fmt.Errorf("unsupported model type %q: only byte-level BPE is supported", f.Model.Type)
	}
	if f.Model.ByteFallback {
		return nil, fmt.Errorf("unsupported BPE with byte_fallback (not byte-level)")
	}
	if p := f.Model.ContinuingSubwordPrefix; p != nil && *p != "" {
		return nil, fmt.Errorf("unsupported BPE with continuing_subword_prefix %q", *p)
	}
	if p := f.Model.EndOfWordSuffix; p != nil && *p != "" {
		return nil, fmt.Errorf("unsupported BPE with end_of_word_suffix %q", *p)
	}
	if !isNull(f.Normalizer) {
		var n struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(f.Normalizer, &n)
		return nil, fmt.Errorf("unsupported normalizer %q", n.Type)
	}
	t := &bpe{ignoreMerges: f.Model.IgnoreMerges, cache: map[string][]int32{}, eos: -1}
	if err := parsePreTok(f.PreTokenizer, t); err != nil {
		return nil, err
	}
	tmpl, err := parsePostProcessor(f.PostProcessor)
	if err != nil {
		return nil, err
	}
	t.template = tmpl

	var vocab map[string]int32
	if err := json.Unmarshal(f.Model.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("model.vocab: %w", err)
	}
	maxID := int32(-1)
	t.vocab = make(map[string]int32, len(vocab))
	isAdded := map[string]bool{}
	for _, a := range f.AddedTokens {
		isAdded[a.Content] = true
	}
	for tok, id := range vocab {
		raw, ok := unmapBytes(tok)
		if !ok && isAdded[tok] {
			// An added token listed in the vocabulary too; it is matched
			// before pre-tokenization and never produced by merges.
			continue
		}
		if !ok {
			return nil, fmt.Errorf("model.vocab token %q is not byte-level (a character outside the byte-to-unicode table)", tok)
		}
		if id < 0 {
			return nil, fmt.Errorf("model.vocab token %q has negative id %d", tok, id)
		}
		t.vocab[raw] = id
		maxID = max(maxID, id)
	}
	for _, a := range f.AddedTokens {
		maxID = max(maxID, a.ID)
	}
	t.vocabSize = int(maxID) + 1
	t.pieces = make([]string, t.vocabSize)
	for raw, id := range t.vocab {
		t.pieces[id] = raw
	}
	for b := 0; b < 256; b++ {
		id, ok := t.vocab[string([]byte{byte(b)})]
		if !ok {
			return nil, fmt.Errorf("model.vocab has no token for byte 0x%02x (%q): not a byte-level vocabulary", b, string(byteToRune[b]))
		}
		t.byteID[b] = id
	}

	pairs, err := parseMerges(f.Model.Merges)
	if err != nil {
		return nil, err
	}
	t.merges = make(map[uint64]merge, len(pairs))
	for rank, p := range pairs {
		l, okl := t.vocab[p[0]]
		r, okr := t.vocab[p[1]]
		m, okm := t.vocab[p[0]+p[1]]
		if !okl || !okr || !okm {
			return nil, fmt.Errorf("model.merges[%d] %q %q: token not in vocab", rank, p[0], p[1])
		}
		k := uint64(uint32(l))<<32 | uint64(uint32(r))
		if _, dup := t.merges[k]; !dup {
			t.merges[k] = merge{rank: int32(rank), id: m}
		}
	}

	var all []addedTok
	for _, a := range f.AddedTokens {
		if a.Content == "" {
			continue
		}
		if a.ID < 0 {
			return nil, fmt.Errorf("added_tokens: %q has negative id %d", a.Content, a.ID)
		}
		// The library's default: special tokens are not normalized, others are.
		normalized := !a.Special
		if a.Normalized != nil {
			normalized = *a.Normalized
		}
		tok := addedTok{text: a.Content, id: a.ID, singleWord: a.SingleWord, lstrip: a.LStrip,
			rstrip: a.RStrip, normalized: normalized, isSpecial: a.Special}
		all = append(all, tok)
		if normalized {
			t.norm.add(tok)
		} else {
			t.raw.add(tok)
		}
		if int(a.ID) < len(t.pieces) {
			t.pieces[a.ID] = a.Content
		}
	}
	t.raw.finish()
	t.norm.finish()
	for _, it := range t.template {
		for _, id := range it.ids {
			if int(id) >= t.vocabSize {
				return nil, fmt.Errorf("post_processor: special token id %d is outside the vocabulary (size %d)", id, t.vocabSize)
			}
		}
	}
	for _, name := range []string{"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|im_end|>"} {
		for _, a := range all {
			if a.text == name {
				t.eos = a.id
				break
			}
		}
		if t.eos >= 0 {
			break
		}
	}
	return t, nil
}

// parseMerges reads merges as ["a b", ...] or [["a", "b"], ...] and returns
// them as raw-byte pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("model.merges: %w", err)
	}
	out := make([][2]string, len(items))
	for i, it := range items {
		var a, b string
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			var ok bool
			a, b, ok = strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, fmt.Errorf("model.merges[%d] %q: want two tokens separated by one space", i, s)
			}
		} else {
			var l []string
			if err := json.Unmarshal(it, &l); err != nil || len(l) != 2 {
				return nil, fmt.Errorf("model.merges[%d] %s: want \"a b\" or [\"a\", \"b\"]", i, it)
			}
			a, b = l[0], l[1]
		}
		ra, oka := unmapBytes(a)
		rb, okb := unmapBytes(b)
		if !oka || !okb {
			return nil, fmt.Errorf("model.merges[%d] %q %q: not byte-level", i, a, b)
		}
		out[i] = [2]string{ra, rb}
	}
	return out, nil
}

func (t *bpe) VocabSize() int { return t.vocabSize }
func (t *bpe) EOS() int32     { return t.eos }

func (t *bpe) Decode(ids []int32) string {
	var sb strings.Builder
	for _, id := range ids {
		if id >= 0 && int(id) < len(t.pieces) {
			sb.WriteString(t.pieces[id])
		}
	}
	return sb.String()
}

// Encode splits out added tokens, pre-tokenizes the rest and applies BPE to
// each piece. It adds no post-processor tokens (see EncodeSpecial).
func (t *bpe) Encode(text string) []int32 {
	return t.encode(make([]int32, 0, len(text)/3+1), text)
}

// EncodeSpecial is Encode with, if addSpecial is set, the post-processor's
// tokens around the ids (a BOS for Llama-3, <s> … </s> for RoBERTa), as the
// library's encode(text, add_special_tokens=True) does.
func (t *bpe) EncodeSpecial(text string, addSpecial bool) []int32 {
	if !addSpecial || len(t.template) == 0 {
		return t.Encode(text)
	}
	ids := make([]int32, 0, len(text)/3+8)
	for _, it := range t.template {
		if it.sequence {
			ids = t.encode(ids, text)
		} else {
			ids = append(ids, it.ids...)
		}
	}
	return ids
}

// encode appends the ids of text: first the added tokens that are not
// normalized are split out of the whole text, then the normalized ones out
// of each remaining stretch (with no normalizer supported, normalizing is
// the identity, but the order of the two passes still decides overlaps),
// and what remains is pre-tokenized and merged.
func (t *bpe) encode(ids []int32, text string) []int32 {
	if t.raw.empty() && t.norm.empty() {
		return t.encodeChunk(ids, text)
	}
	return t.raw.split(ids, text, func(ids []int32, s string) []int32 {
		return t.norm.split(ids, s, t.encodeChunk)
	})
}

func (t *bpe) encodeChunk(ids []int32, s string) []int32 {
	if s == "" {
		return ids
	}
	if t.addPrefix && s[0] != ' ' {
		s = " " + s
	}
	if t.split == nil {
		return t.encodePiece(ids, s)
	}
	for i := 0; i < len(s); {
		j := t.split(s, i)
		ids = t.encodePiece(ids, s[i:j])
		i = j
	}
	return ids
}

func (t *bpe) encodePiece(ids []int32, p string) []int32 {
	if len(p) == 1 {
		return append(ids, t.byteID[p[0]])
	}
	if t.ignoreMerges {
		if id, ok := t.vocab[p]; ok {
			return append(ids, id)
		}
	}
	t.mu.Lock()
	c, ok := t.cache[p]
	t.mu.Unlock()
	if ok {
		return append(ids, c...)
	}
	c = t.bpe(p)
	t.mu.Lock()
	if len(t.cache) >= cacheLimit {
		clear(t.cache)
	}
	t.cache[strings.Clone(p)] = c
	t.mu.Unlock()
	return append(ids, c...)
}

// bpe merges the bytes of p by rank: repeatedly the adjacent pair with the
// lowest merge rank, leftmost first among equal ranks.
func (t *bpe) bpe(p string) []int32 {
	if len(p) >= longPiece {
		return t.bpeHeap(p)
	}
	return t.bpeScan(p)
}

func (t *bpe) bpeScan(p string) []int32 {
	var buf [64]int32
	sym := buf[:0]
	for i := 0; i < len(p); i++ {
		sym = append(sym, t.byteID[p[i]])
	}
	for len(sym) > 1 {
		best := int32(-1)
		bestAt := -1
		var bestID int32
		for i := 0; i+1 < len(sym); i++ {
			m, ok := t.merges[uint64(uint32(sym[i]))<<32|uint64(uint32(sym[i+1]))]
			if ok && (bestAt < 0 || m.rank < best) {
				best, bestAt, bestID = m.rank, i, m.id
			}
		}
		if bestAt < 0 {
			break
		}
		sym[bestAt] = bestID
		sym = append(sym[:bestAt+1], sym[bestAt+2:]...)
	}
	return append([]int32(nil), sym...)
}
