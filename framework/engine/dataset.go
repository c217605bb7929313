// Datasets: a pipeline dataset becomes a token cache (framework/data), cut
// into training and validation sequences. Each dataset is built once per
// engine and shared by the stages and evaluations that read it.

package engine

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/framework/data"
	"github.com/mohawk-distill/mohawk/framework/pipeline"
	"github.com/mohawk-distill/mohawk/framework/tokenizer"
	"github.com/mohawk-distill/mohawk/plugins"
)

// corpus is a built dataset.
type corpus struct {
	ds         *pipeline.Dataset
	tokens     *data.Tokens
	train, val *data.Set
	vocab      int
}

func (c *corpus) close() {
	if c != nil && c.tokens != nil {
		c.tokens.Close()
	}
}

// sources turns a dataset's files, JSONL and folder into data sources.
func sources(ds *pipeline.Dataset) []data.Source {
	var srcs []data.Source
	for _, f := range ds.Files {
		srcs = append(srcs, data.Text(f))
	}
	if ds.JSONL != "" {
		srcs = append(srcs, data.JSONL(ds.JSONL, ds.Field))
	}
	if ds.Dir != "" {
		srcs = append(srcs, data.Dir(ds.Dir, ds.Ext))
	}
	return srcs
}

// cappedSources applies a dataset's max_tokens: whole files are taken, in
// an order fixed by a hash of their paths (spread over the corpus rather
// than its first folders), until their bytes reach max_tokens tokens' worth
// at bytesPerToken; each becomes its own source. The tokenised stream is
// then about max_tokens long (one file more at most). Without max_tokens,
// or when the corpus is smaller, the dataset's own sources are returned.
func cappedSources(ds *pipeline.Dataset, bytesPerToken float64) ([]data.Source, error) {
	srcs := sources(ds)
	if ds.MaxTokens <= 0 {
		return srcs, nil
	}
	type file struct {
		src  data.Source
		size int64
		key  uint64
	}
	var files []file
	var total int64
	for _, s := range srcs {
		paths, err := s.Files()
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				return nil, err
			}
			one := data.Text(p)
			if s.Kind == data.KindJSONL {
				one = data.JSONL(p, s.Field)
			}
			h := fnv.New64a()
			h.Write([]byte(p))
			files = append(files, file{one, st.Size(), h.Sum64()})
			total += st.Size()
		}
	}
	budget := int64(float64(ds.MaxTokens) * bytesPerToken)
	if total <= budget {
		return srcs, nil
	}
	sort.Slice(files, func(i, j int) bool { return files[i].key < files[j].key })
	var out []data.Source
	var taken int64
	for _, f := range files {
		if taken >= budget {
			break
		}
		out = append(out, f.src)
		taken += f.size
	}
	return out, nil
}

// loadTokenizer resolves a dataset's tokenizer: the byte tokenizer, a
// tokenizer.json, or the one in a teacher's folder (teacherDir). It returns
// the tokenizer and an identity for the cache key.
func loadTokenizer(name, teacherDir string) (tokenizer.Tokenizer, string, error) {
	switch name {
	case "", "bytes":
		return tokenizer.Bytes(), "bytes", nil
	case "teacher":
		if teacherDir == "" {
			return nil, "", fmt.Errorf(`tokenizer = "teacher" needs a teacher with a checkpoint folder holding tokenizer.json`)
		}
		name = filepath.Join(teacherDir, "tokenizer.json")
	}
	tok, err := tokenizer.LoadHF(name)
	if err != nil {
		return nil, "", err
	}
	sum, err := plugins.FileSHA256(name)
	if err != nil {
		return nil, "", err
	}
	return tok, "hf:" + sum, nil
}

// corpus builds (once) the dataset ds for the teacher tm, whose folder
// provides tokenizer "teacher" and whose vocabulary must hold every id.
func (e *Engine) corpus(ds *pipeline.Dataset, tm *teacherModel) (*corpus, error) {
	dir, vocab, who := "", 0, ""
	if tm != nil {
		dir = tm.t.Checkpoint
		vocab, who = tm.cfg.Vocab(), fmt.Sprintf("teacher %q", tm.t.Name)
	}
	return e.corpusFor(ds, dir, vocab, who)
}

// corpusFor builds (once) the dataset ds: tokenizer "teacher" reads
// tokDir's tokenizer.json, and every id must be below vocab (the model's,
// named who) when vocab > 0.
func (e *Engine) corpusFor(ds *pipeline.Dataset, tokDir string, vocab int, who string) (*corpus, error) {
	if c, ok := e.corpora[ds.Name]; ok {
		return c, nil
	}
	tok, tokID, err := loadTokenizer(ds.Tokenizer, tokDir)
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", ds.Name, err)
	}
	if vocab > 0 && vocab < tok.VocabSize() {
		return nil, fmt.Errorf("dataset %q: its tokenizer has %d ids but %s has a vocabulary of %d", ds.Name, tok.VocabSize(), who, vocab)
	}
	cacheDir := ds.CacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(e.p.Dir, ".mohawk", "cache")
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("dataset %q: %w", ds.Name, err)
	}
	log := e.log
	// The byte tokenizer makes one token per byte; byte-level BPE about one
	// per four bytes of English or code.
	bytesPerToken := 4.0
	if tokID == "bytes" {
		bytesPerToken = 1
	}
	srcs, err := cappedSources(ds, bytesPerToken)
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", ds.Name, err)
	}
	toks, err := data.Build(srcs, tok, data.Options{CacheDir: cacheDir, TokenizerID: tokID, Progress: e.opt.Progress,
		Logf: func(format string, args ...any) { log.Info().Str("dataset", ds.Name).Msgf(format, args...) }})
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", ds.Name, err)
	}
	train, val, err := data.Split(toks, ds.SeqLen, ds.Validation, 0)
	if err != nil {
		toks.Close()
		return nil, fmt.Errorf("dataset %q: %w", ds.Name, err)
	}
	if train.Len() == 0 {
		toks.Close()
		return nil, fmt.Errorf("dataset %q: %d tokens make no training sequence of %d tokens", ds.Name, toks.Len(), ds.SeqLen+1)
	}
	c := &corpus{ds: ds, tokens: toks, train: train, val: val, vocab: tok.VocabSize()}
	e.corpora[ds.Name] = c
	e.log.Info().Str("dataset", ds.Name).Int("tokens", toks.Len()).Int("train_sequences", train.Len()).
		Int("validation_sequences", val.Len()).Msg("dataset ready")
	return c, nil
}

// tokenizerFolder is the folder whose tokenizer files a saved model copies:
// its teacher's checkpoint folder, if any.
func tokenizerFolder(tm *teacherModel) string {
	if tm == nil || tm.t.Checkpoint == "" {
		return ""
	}
	for _, f := range checkpoint.TokenizerFiles {
		if _, err := os.Stat(filepath.Join(tm.t.Checkpoint, f)); err == nil {
			return tm.t.Checkpoint
		}
	}
	return ""
}
