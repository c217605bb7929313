// Datasets: a pipeline dataset becomes a token cache (framework/data), cut
// into training and validation sequences. Each dataset is built once per
// engine and shared by the stages and evaluations that read it.

package engine

import (
	"fmt"
	"os"
	"path/filepath"

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
		vocab, who = teacherVocab(tm.cfg), fmt.Sprintf("teacher %q", tm.t.Name)
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
	toks, err := data.Build(sources(ds), tok, data.Options{CacheDir: cacheDir, TokenizerID: tokID, Progress: e.opt.Progress,
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
