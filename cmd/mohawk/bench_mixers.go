package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/mohawk-distill/mohawk/framework/bench/mixerbench"
)

// runBenchMixers is 'mohawk bench mixers': one forward+backward step of each
// mixer layer on the CPU backend, its speed and its arena.
func runBenchMixers(args []string) int {
	fs := flag.NewFlagSet("bench mixers", flag.ContinueOnError)
	runs := fs.Int("runs", 2, "timed steps per case, after one warm-up step")
	tokens := fs.Int("tokens", 4096, "tokens per step, B·T")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "CPU worker threads")
	maxGiB := fs.Float64("max-arena-gib", 8, "compile but do not run a case whose arena exceeds this many GiB")
	only := fs.String("mixers", strings.Join(mixerbench.Mixers, ","), "comma-separated mixers: "+strings.Join(mixerbench.Mixers, ", "))
	if err := fs.Parse(args); err != nil {
		return 2
	}
	want := map[string]bool{}
	for _, m := range strings.Split(*only, ",") {
		want[strings.TrimSpace(m)] = true
	}
	var cs []mixerbench.Case
	for _, c := range mixerbench.Cases(*tokens) {
		if want[c.Mixer] {
			cs = append(cs, c)
		}
	}
	fmt.Printf("forward+backward of one mixer layer, float32, CPU backend, %d threads, %d tokens/step\n", *threads, *tokens)
	rs, err := mixerbench.Run(cs, *runs, *threads, int64(*maxGiB*(1<<30)), func(r mixerbench.Result) {
		fmt.Fprintf(os.Stderr, "%s done\n", r.Name())
	})
	mixerbench.Print(os.Stdout, rs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mohawk bench mixers: %v\n", err)
		return 1
	}
	return 0
}
