// mohawk generate: sample text from a teacher or a saved student.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/rs/zerolog"

	"github.com/mohawk-distill/mohawk/framework/generate"
	"github.com/mohawk-distill/mohawk/framework/tokenizer"
	"github.com/mohawk-distill/mohawk/plugins"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

const generateUsage = `usage: mohawk generate -checkpoint DIR -prompt TEXT [-max-tokens N] [-temperature T] [-top-k K] [-seed S] [-tokenizer bytes|PATH]

Continues TEXT with the model in DIR: a Hugging Face teacher folder (phi,
llama, gpt2) or a student saved by a run. The prompt and the continuation are
printed to stdout as they come. Attention layers decode with a key/value
cache, SSD layers recurrently in constant memory per token. Temperature 0 is
greedy decoding; generation stops early at the tokenizer's end-of-sequence.

flags:
`

func runGenerate(args []string) int {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	dir := fs.String("checkpoint", "", "model folder: a teacher's or a saved student's (required)")
	prompt := fs.String("prompt", "", "text to continue (required)")
	maxTokens := fs.Int("max-tokens", 200, "tokens to generate")
	temperature := fs.Float64("temperature", 0.8, "sampling temperature; 0 is greedy")
	topK := fs.Int("top-k", 40, "sample among the K most likely tokens; 0 is all")
	seed := fs.Uint64("seed", 1, "random seed of the sampling")
	tok := fs.String("tokenizer", "", `"bytes" or a tokenizer.json; default: the folder's tokenizer.json, else bytes`)
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "CPU threads")
	logLevel := fs.String("log-level", defaultLogLevel, "level of the log on stderr: trace, debug, info, warn, error")
	fs.Usage = func() { fmt.Fprint(fs.Output(), generateUsage); fs.PrintDefaults() }
	if pos, err := parseInterleaved(fs, args); err != nil {
		return flagExit(err)
	} else if len(pos) > 0 {
		fmt.Fprintf(os.Stderr, "mohawk generate: unexpected arguments %q\n", pos)
		return 2
	}
	if *dir == "" || *prompt == "" {
		fmt.Fprintln(os.Stderr, "mohawk generate: -checkpoint and -prompt are required")
		fs.Usage()
		return 2
	}
	if *maxTokens < 0 || *temperature < 0 || *topK < 0 {
		fmt.Fprintln(os.Stderr, "mohawk generate: -max-tokens, -temperature and -top-k must not be negative")
		return 2
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk generate:", err)
		return 2
	}
	if err := generateText(context.Background(), logger, *dir, *tok, *prompt, *threads, generate.Sampling{
		MaxTokens: *maxTokens, Temperature: *temperature, TopK: *topK, Seed: *seed,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "mohawk generate:", err)
		return 1
	}
	return 0
}

func generateText(ctx context.Context, logger zerolog.Logger, dir, tokName, prompt string, threads int, s generate.Sampling) error {
	tk, err := modelTokenizer(dir, tokName)
	if err != nil {
		return err
	}
	var ids []int
	for _, id := range tk.Encode(prompt) {
		ids = append(ids, int(id))
	}
	// Attention caches as long as this generation needs, no longer (within
	// the model's positions).
	maxLen := len(ids) + s.MaxTokens
	if limit := maxPositions(dir); limit > 0 {
		maxLen = min(maxLen, limit)
	}
	m, err := generate.Load(ctx, dir, generate.Options{Threads: threads, Mixer: mixerResolver(logger), MaxLen: maxLen})
	if err != nil {
		return err
	}
	defer m.Close()
	if tk.VocabSize() > m.Vocab {
		return fmt.Errorf("the tokenizer has %d ids, the model in %s only %d: give the model's tokenizer with -tokenizer", tk.VocabSize(), dir, m.Vocab)
	}
	s.Stop = int(tk.EOS())
	if limit := m.MaxLen(); limit > 0 && len(ids)+s.MaxTokens > limit+1 {
		s.MaxTokens = max(0, limit+1-len(ids))
		logger.Warn().Int("max_tokens", s.MaxTokens).Int("positions", limit).Msg("the model holds only this many positions; generating fewer tokens")
	}
	fmt.Print(prompt)
	var out []int32
	printed := ""
	_, err = m.Generate(ctx, ids, s, func(id int) error {
		if id == s.Stop {
			return nil
		}
		// Decode the whole continuation, so that a character split over
		// tokens prints once it is whole.
		out = append(out, int32(id))
		text := tk.Decode(out)
		if len(text) > len(printed) && text[:len(printed)] == printed {
			fmt.Print(text[len(printed):])
			printed = text
		}
		return nil
	})
	fmt.Println()
	return err
}

// modelTokenizer is the tokenizer named by tokName ("bytes", a path), or
// when it is "" the folder's tokenizer.json, else the byte tokenizer.
func modelTokenizer(dir, tokName string) (tokenizer.Tokenizer, error) {
	path := tokName
	if tokName == "" {
		path = filepath.Join(dir, "tokenizer.json")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			path = "bytes"
		}
	}
	if path == "bytes" {
		return tokenizer.Bytes(), nil
	}
	return tokenizer.LoadHF(path)
}

// mixerResolver finds the mixer a saved student names as the engine does:
// a plugin executable of that name first, else the built-in, in process.
func mixerResolver(logger zerolog.Logger) func(context.Context, string) (mixer.Mixer, error) {
	launched := map[string]mixer.Mixer{}
	return func(ctx context.Context, name string) (mixer.Mixer, error) {
		if m, ok := launched[name]; ok {
			return m, nil
		}
		found, err := plugins.Find(plugins.KindMixer, name)
		if err != nil {
			if m, builtinErr := generate.BuiltinMixer(ctx, name); builtinErr == nil {
				return m, nil
			}
			return nil, err // it names every place searched
		}
		p, err := plugins.Launch(ctx, found, plugins.Options{Logger: logger})
		if err != nil {
			return nil, err
		}
		launched[name] = p.Mixer()
		return p.Mixer(), nil
	}
}
