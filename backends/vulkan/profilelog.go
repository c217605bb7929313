//go:build cgo

// The profile log of ProfileEnv: GPU time per program and kernel, summed
// over runs and written as a table, largest first.

package vulkan

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

type kernelTotal struct {
	program uint64
	kernel  string
	calls   int
	nanos   float64
}

type profileLog struct {
	path   string
	runs   int
	totals map[string]*kernelTotal
}

func (l *profileLog) add(program uint64, steps []StepTime) {
	l.runs++
	for _, s := range steps {
		key := fmt.Sprintf("%d/%s", program, s.Kernel)
		t := l.totals[key]
		if t == nil {
			t = &kernelTotal{program: program, kernel: s.Kernel}
			l.totals[key] = t
		}
		t.calls++
		t.nanos += s.Nanos
	}
	all := make([]*kernelTotal, 0, len(l.totals))
	var sum float64
	for _, t := range l.totals {
		all = append(all, t)
		sum += t.nanos
	}
	sort.Slice(all, func(i, j int) bool { return all[i].nanos > all[j].nanos })
	var sb strings.Builder
	fmt.Fprintf(&sb, "# GPU time over %d runs: %.3f ms\n%-8s %-28s %10s %12s %6s\n", l.runs, sum/1e6, "program", "kernel", "dispatches", "ms", "share")
	for _, t := range all {
		fmt.Fprintf(&sb, "%-8d %-28s %10d %12.3f %5.1f%%\n", t.program, t.kernel, t.calls, t.nanos/1e6, 100*t.nanos/max(sum, 1))
	}
	// Best effort: a diagnostic must not fail a run.
	_ = os.WriteFile(l.path, []byte(sb.String()), 0o644)
}
