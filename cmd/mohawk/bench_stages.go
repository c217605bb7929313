package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/framework/bench"
	"github.com/mohawk-distill/mohawk/framework/stages"
	"github.com/mohawk-distill/mohawk/plugins"
	"github.com/mohawk-distill/mohawk/sdk/backend"
)

// runBenchStages is 'mohawk bench stages': one MOHAWK stage-2 and one
// stage-3 training step on random weights, on any backend, in tokens/s.
func runBenchStages(args []string) int {
	fs := flag.NewFlagSet("bench stages", flag.ContinueOnError)
	model := fs.String("model", "small", `"small" (Phi-style, d 256, 4 layers, 4 heads) or "phi-1.5" (d 2048, 24 layers, 32 heads, vocabulary 51200)`)
	seqLen := fs.Int("seq-len", 0, "tokens per sequence (default: 256 small, 2048 phi-1.5)")
	batch := fs.Int("batch", 1, "sequences per step")
	warmup := fs.Int("warmup", 1, "untimed steps first")
	steps := fs.Int("steps", 3, "timed steps (the median is reported)")
	kinds := fs.String("stages", "2,3", "which steps: 2 (hidden-state alignment), 3 (knowledge distillation)")
	backendName := fs.String("backend", "cpu", `"cpu" (in process) or the name of a backend plugin, e.g. "vulkan"`)
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "CPU worker threads (cpu backend)")
	logLevel := fs.String("log-level", "warn", "plugin log level")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	teacher, mix, ok := bench.StageModel(*model)
	if !ok {
		fmt.Fprintf(os.Stderr, "mohawk bench stages: -model %q: expected small or phi-1.5\n", *model)
		return 2
	}
	if *seqLen == 0 {
		*seqLen = teacher.Phi.SeqLen
	}
	teacher.Phi.SeqLen = *seqLen
	var run []stages.Kind
	for _, k := range strings.Split(*kinds, ",") {
		switch strings.TrimSpace(k) {
		case "2":
			run = append(run, stages.HiddenStateAlignment)
		case "3":
			run = append(run, stages.KnowledgeDistillation)
		default:
			fmt.Fprintf(os.Stderr, "mohawk bench stages: -stages %q: expected a list of 2 and 3\n", *kinds)
			return 2
		}
	}
	ctx := context.Background()
	be, closeBackend, err := benchBackend(ctx, *backendName, *threads, *logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk bench stages:", err)
		return 1
	}
	defer closeBackend()
	var rs []bench.StageStepResult
	for _, k := range run {
		fmt.Fprintf(os.Stderr, "timing %s on %s: %s, T %d, batch %d, %d+%d steps\n", k, *backendName, *model, *seqLen, *batch, *warmup, *steps)
		r, err := bench.StageStep(ctx, be, bench.StageStepOptions{Kind: k, Teacher: teacher, Mixer: mix,
			Batch: *batch, SeqLen: *seqLen, Warmup: *warmup, Steps: *steps})
		if err != nil {
			fmt.Fprintln(os.Stderr, "mohawk bench stages:", err)
			return 1
		}
		rs = append(rs, r)
	}
	bench.PrintStageSteps(os.Stdout, rs)
	return 0
}

// benchBackend is the cpu backend in process, or a backend plugin found in
// the plugin folders.
func benchBackend(ctx context.Context, name string, threads int, logLevel string) (backend.Backend, func(), error) {
	if name == "cpu" {
		s := cpu.NewService(cpu.Options{Threads: threads})
		return s, s.Close, nil
	}
	logger, err := newLogger(logLevel)
	if err != nil {
		return nil, nil, err
	}
	found, err := plugins.Find(plugins.KindBackend, name)
	if err != nil {
		return nil, nil, err
	}
	p, err := plugins.Launch(ctx, found, plugins.Options{Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	return p.Backend(), func() { p.Close() }, nil
}
