// mohawk plan and mohawk eval.

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/framework/engine"
	"github.com/mohawk-distill/mohawk/framework/pipeline"
	"github.com/mohawk-distill/mohawk/framework/report"
)

const planUsage = `usage: mohawk plan FILE [-var name=value]... [-var-file F]... [-no-calibrate] [-log-level L]

Prints what running the pipeline FILE would do, without training: per stage,
the model, trainable and frozen parameters, tokens, optimizer steps and
micro-batches, FLOPs, memory, and the estimated time on the pipeline's
backend (from one timed step of each stage, or with -no-calibrate from an
assumed throughput).

flags:
`

func runPlan(args []string) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	var pf pipelineFlags
	pf.register(fs, defaultLogLevel)
	noCalibrate := fs.Bool("no-calibrate", false, "estimate times from an assumed throughput instead of timing a step of each stage")
	fs.Usage = func() { fmt.Fprint(fs.Output(), planUsage); fs.PrintDefaults() }
	file, code := onePipeline(fs, args)
	if code >= 0 {
		return code
	}
	logger, err := newLogger(pf.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk plan:", err)
		return 2
	}
	p := pf.load(file)
	if p == nil {
		return 1
	}
	e, diags := engine.Open(context.Background(), p, engine.Options{Log: logger, Progress: -1, NoCalibrate: *noCalibrate})
	printDiagnostics(p, diags)
	if diags.HasErrors() {
		return 1
	}
	defer e.Close()
	pl, err := e.Plan()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk plan:", err)
		return 1
	}
	pl.Print(os.Stdout)
	return 0
}

const evalUsage = `usage: mohawk eval -checkpoint DIR -data GLOB [-data GLOB]... [-tokenizer bytes|teacher|PATH] [-teacher DIR] [-seq-len N] [-tokens N] [-validation F]

Scores the model in DIR (a Hugging Face teacher folder or a saved student)
on the held-out sequences of the text files GLOB (** allowed): validation
perplexity, and with -teacher the top-1 agreement with that teacher and the
teacher's own perplexity on the same text. The held-out split is the one a
pipeline dataset of the same files, seq_len and validation fraction uses, so
a student is scored on text it was not trained on.

flags:
`

func runEval(args []string) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	dir := fs.String("checkpoint", "", "model folder (required)")
	var globs repeated
	fs.Var(&globs, "data", "text files to score, a glob with ** allowed (required; repeatable)")
	tok := fs.String("tokenizer", "", `"bytes", "teacher" (the model folder's tokenizer.json) or a tokenizer.json; default: the folder's tokenizer.json if it has one, else bytes`)
	teacher := fs.String("teacher", "", "teacher folder to measure top-1 agreement against")
	seqLen := fs.Int("seq-len", 0, "tokens per sequence; 0: the model's max_position_embeddings, at most 1024")
	tokens := fs.Int64("tokens", engine.DefaultEvalTokens, "tokens to score at most")
	validation := fs.Float64("validation", 0.01, "fraction of sequences held out (as the pipeline's dataset validation)")
	logLevel := fs.String("log-level", defaultLogLevel, "level of the log on stderr: trace, debug, info, warn, error")
	fs.Usage = func() { fmt.Fprint(fs.Output(), evalUsage); fs.PrintDefaults() }
	if pos, err := parseInterleaved(fs, args); err != nil {
		return flagExit(err)
	} else if len(pos) > 0 {
		fmt.Fprintf(os.Stderr, "mohawk eval: unexpected arguments %q\n", pos)
		return 2
	}
	if *dir == "" || len(globs) == 0 {
		fmt.Fprintln(os.Stderr, "mohawk eval: -checkpoint and -data are required")
		fs.Usage()
		return 2
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk eval:", err)
		return 2
	}
	ds := &pipeline.Dataset{Name: "eval", Tokenizer: *tok, SeqLen: *seqLen, Validation: *validation}
	for _, g := range globs {
		abs, err := filepath.Abs(g)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mohawk eval:", err)
			return 1
		}
		ds.Files = append(ds.Files, abs)
	}
	if ds.Tokenizer == "" {
		ds.Tokenizer = "bytes"
		if _, err := os.Stat(filepath.Join(*dir, "tokenizer.json")); err == nil {
			ds.Tokenizer = "teacher"
		}
	}
	if ds.SeqLen <= 0 {
		ds.SeqLen = min(1024, maxPositions(*dir))
		if ds.SeqLen <= 0 {
			fmt.Fprintf(os.Stderr, "mohawk eval: %s/config.json gives no max_position_embeddings; give -seq-len\n", *dir)
			return 2
		}
	}
	res, err := engine.Evaluate(context.Background(), *dir, ds, *teacher, engine.Options{Log: logger, Progress: 0, EvalTokens: *tokens})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk eval:", err)
		return 1
	}
	rows := []report.Row{{Model: *dir, Tokens: res.Tokens, ValPPL: res.ValPPL, Agreement: res.Agreement}}
	if *teacher != "" {
		rows = append(rows, report.Row{Model: *teacher + " (teacher)", Tokens: res.Tokens, ValPPL: res.TeacherPPL, Agreement: math.NaN()})
	}
	report.Table(os.Stdout, rows)
	return 0
}

// maxPositions is the sequence length in dir's config.json, 0 when it
// gives none.
func maxPositions(dir string) int {
	raw, err := os.ReadFile(filepath.Join(dir, checkpoint.ConfigName))
	if err != nil {
		return 0
	}
	var c struct {
		MaxPositions int `json:"max_position_embeddings"`
		NPositions   int `json:"n_positions"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return 0
	}
	return max(c.MaxPositions, c.NPositions)
}
