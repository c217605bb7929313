// Command mohawk distills pretrained Transformers into subquadratic
// students. A pipeline file (HCL) says which teacher, which student mixers,
// which data and which stages; run trains it, validate and plan check and
// describe it without training; eval, generate and inspect look at the
// models a run saved; bench and plugins time the CPU backend and manage
// plugins.
//
// Every plugin the command starts is stopped on every way out of it: main
// defers plugins.Shutdown (a normal return, an error, a panic) and
// plugins.CleanupOnSignals covers SIGINT and SIGTERM; a SIGKILL is covered
// by the plugins' own parent-death detection (see package plugins).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/mohawk-distill/mohawk/framework/bench"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/plugins"
)

const usage = `usage: mohawk <command> [flags]

commands:
  run FILE         run a pipeline: train its stages, evaluate, checkpoint,
                   save the models and write report.md
  validate FILE    check a pipeline (HCL, teachers, plugins) without training
  plan FILE        print what a run would do: models, stages, trainable
                   parameters, tokens, FLOPs, memory and estimated time
  eval             perplexity (and agreement with a teacher) of a model
                   folder on a dataset
  generate         sample text from a teacher or a saved student
  inspect          draw teacher attention beside a student's mixing matrix
                   (PNG heatmaps per layer and head) and loss curves
  bench            time training steps of the small Phi-style LM (attention
                   and discrete Mamba-2 mixers) on the CPU backend and print
                   a table
  bench mixers     time forward+backward of each mixer layer (attention,
                   Mamba-2 chunked and materialised) and print its memory
  bench stages     time a MOHAWK stage-2 and stage-3 training step on random
                   weights (up to Phi-1.5's dimensions) on any backend
  plugins list     list every backend and mixer plugin found, asking each
                   for its Info
  plugins check    start the plugin at a path and run its kind's
                   conformance suite against it

Run 'mohawk <command> -h' for the flags of a command.
`

func main() {
	// A built-in plugin process must not install the CLI's signal handlers
	// or plugin cleanup: go-plugin's Serve owns its signals and stdout.
	if len(os.Args) > 1 && os.Args[1] == "plugin" {
		os.Exit(runPluginServe(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

// run is the whole command; it returns the exit status. It stops every
// plugin it started before it returns, panics included (os.Exit in main
// runs after the deferred Shutdown).
func run(args []string) int {
	stop := plugins.CleanupOnSignals()
	defer plugins.Shutdown()
	defer stop() // runs first: the handlers go before Shutdown, as CleanupOnSignals asks

	if len(args) < 1 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "bench":
		if len(args) > 1 && args[1] == "mixers" {
			return runBenchMixers(args[2:])
		}
		if len(args) > 1 && args[1] == "stages" {
			return runBenchStages(args[2:])
		}
		return runBench(args[1:])
	case "plugins":
		return runPlugins(args[1:])
	case "run":
		return runRun(args[1:])
	case "validate":
		return runValidate(args[1:])
	case "plan":
		return runPlan(args[1:])
	case "eval":
		return runEval(args[1:])
	case "generate":
		return runGenerate(args[1:])
	case "inspect":
		return runInspect(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "mohawk: unknown command %q\n\n%s", args[0], usage)
		return 2
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
