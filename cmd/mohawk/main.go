// Command mohawk distills pretrained Transformers into subquadratic
// students. This build has one subcommand, bench, which trains the embedded
// default models for a few steps on the CPU backend and prints their speed.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/mohawk-distill/mohawk/framework/bench"
	"github.com/mohawk-distill/mohawk/framework/models"
)

const usage = `usage: mohawk <command> [flags]

commands:
  bench    time training steps of the small Phi-style LM (attention and
           discrete Mamba-2 mixers) on the CPU backend and print a table
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "bench":
		os.Exit(runBench(os.Args[2:]))
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "mohawk: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}

func runBench(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	steps := fs.Int("steps", 3, "timed training steps per model")
	batch := fs.Int("batch", 16, "sequences per step")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "CPU worker threads")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var rs []bench.TrainStepResult
	for _, m := range []struct{ name, mixer string }{
		{"phi (attention)", models.MixerAttention},
		{"phi (discrete mamba-2)", models.MixerDiscreteMamba2},
	} {
		cfg := bench.SmallPhi(m.mixer)
		fmt.Fprintf(os.Stderr, "timing %s: d_model %d, %d layers, %d heads, T %d, batch %d, %d steps\n", m.name, cfg.DModel, cfg.Layers, cfg.Heads, cfg.SeqLen, *batch, *steps)
		r, err := bench.TrainStep(m.name, cfg, *batch, *steps, *threads)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mohawk bench:", err)
			return 1
		}
		rs = append(rs, r)
	}
	bench.PrintTrainSteps(os.Stdout, rs)
	return 0
}
