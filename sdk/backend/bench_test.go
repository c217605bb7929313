// The cost of the plugin boundary on a real training step: the same step of
// a small Phi-style LM, run by the CPU backend in this process and through
// the mohawk-backend-cpu plugin.

package backend_test

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/train"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// trainStep is one AdamW training step of a model, ready to set up on any
// backend.
type trainStep struct {
	cfg      models.PhiConfig
	batch    int
	resident map[string]*graph.Tensor // params and optimizer state, by name
	progs    *train.Programs
}

// newTrainStep builds the benchmark model of framework/bench: d_model 256,
// 4 layers, 4 heads, T 256, byte vocabulary, batch 16, f32, with AdamW.
func newTrainStep(tb testing.TB) *trainStep {
	cfg := models.PhiConfig{Vocab: 256, DModel: 256, Layers: 4, Heads: 4, SeqLen: 256}
	const batch = 16
	b := graph.NewBuilder()
	lm, err := models.BuildPhi(b, cfg, graph.F32, batch, 1)
	if err != nil {
		tb.Fatal(err)
	}
	loss := lm.NextTokenLoss(b)
	b.Output(train.OutputLoss, loss)
	params := make([]train.Param, len(lm.Params))
	resident := map[string]*graph.Tensor{}
	for i, p := range lm.Params {
		params[i] = train.Param{Value: p.Value, NoDecay: p.NoDecay}
		resident[p.Name] = p.Init
	}
	progs, err := train.StepGraphs(b, loss, params, train.DefaultAdamW(), 1)
	if err != nil {
		tb.Fatal(err)
	}
	for n, t := range progs.StateInit {
		resident[n] = t
	}
	return &trainStep{cfg: cfg, batch: batch, resident: resident, progs: progs}
}

// stepRunner runs the training step on one backend.
type stepRunner struct {
	prepare func(k int)          // draws fresh tokens and the feeds of step k (1-based)
	run     func() time.Duration // runs the prepared step, timing the Run alone
	release func()
}

// setup sets the step up on be.
func (s *trainStep) setup(b *testing.B, be backend.Backend, seed uint64) stepRunner {
	ctx := context.Background()
	for name, t := range s.resident {
		if err := be.SetTensor(ctx, name, t); err != nil {
			b.Fatal(err)
		}
	}
	id, err := be.Compile(ctx, s.progs.Step)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	t := s.cfg.SeqLen
	tokens, targets := graph.NewTensor(graph.I32, s.batch, t), graph.NewTensor(graph.I32, s.batch, t)
	inputs := map[string]*graph.Tensor{"tokens": tokens, "targets": targets}
	return stepRunner{
		prepare: func(k int) {
			for i := range tokens.I32 {
				tokens.I32[i] = int32(rng.IntN(s.cfg.Vocab))
				targets.I32[i] = int32(rng.IntN(s.cfg.Vocab))
			}
			for name, v := range s.progs.Feeds(1e-3, k) {
				inputs[name] = v
			}
		},
		run: func() time.Duration {
			start := time.Now()
			out, err := be.Run(ctx, id, inputs)
			elapsed := time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if l := out[train.OutputLoss].At(0); math.IsNaN(l) || math.IsInf(l, 0) {
				b.Fatalf("loss %v", l)
			}
			return elapsed
		},
		release: func() { be.Release(ctx, id) },
	}
}

func (s *trainStep) tokens() int { return s.batch * s.cfg.SeqLen }

// bench runs one untimed warm-up step on be, then times b.N steps (Run
// only: fresh tokens are drawn outside the timer) and reports tokens/s.
func (s *trainStep) bench(b *testing.B, be backend.Backend) {
	r := s.setup(b, be, 2)
	defer r.release()
	r.prepare(1)
	r.run()
	b.ResetTimer()
	var elapsed time.Duration
	for i := range b.N {
		b.StopTimer()
		r.prepare(i + 2)
		b.StartTimer()
		elapsed += r.run()
	}
	b.StopTimer()
	b.ReportMetric(float64(s.tokens()*b.N)/elapsed.Seconds(), "tokens/s")
}

// BenchmarkTrainStepPlugin measures one training step in process (the CPU
// backend's Service) and through the plugin, in one run, as three
// sub-benchmarks: in-process, plugin, and paired, which alternates a step
// on each (both set up side by side) so that both see the same load on a
// shared machine, and reports the ratio. The step uploads two B×T token
// tensors (32 KiB) and reads back two scalars, so the boundary should cost
// well under 5 % of a step.
func BenchmarkTrainStepPlugin(b *testing.B) {
	step := newTrainStep(b)
	b.Run("in-process", func(b *testing.B) {
		step.bench(b, inProcess(b))
	})
	b.Run("plugin", func(b *testing.B) {
		c, _ := startPlugin(b)
		step.bench(b, c)
	})
	b.Run("paired", func(b *testing.B) {
		c, pc := startPlugin(b)
		pid := pc.ReattachConfig().Pid
		in := step.setup(b, inProcess(b), 2)
		defer in.release()
		plugin := step.setup(b, c, 2)
		defer plugin.release()
		for _, r := range []stepRunner{in, plugin} {
			r.prepare(1)
			r.run()
		}
		b.ResetTimer()
		b.StopTimer() // the Runs are timed one by one
		// Wall time, and the CPU time of both processes during each kind
		// of step, which a shared machine disturbs less than wall time.
		var inTime, pluginTime, inCPU, pluginCPU time.Duration
		runIn := func() {
			c0 := cpuTime(b, "self")
			inTime += in.run()
			inCPU += cpuTime(b, "self") - c0
		}
		runPlugin := func() {
			c0, p0 := cpuTime(b, "self"), cpuTime(b, strconv.Itoa(pid))
			pluginTime += plugin.run()
			pluginCPU += cpuTime(b, "self") - c0 + cpuTime(b, strconv.Itoa(pid)) - p0
		}
		for i := range b.N {
			in.prepare(i + 2)
			plugin.prepare(i + 2)
			// Alternate which goes first, so that neither always follows the other.
			if i%2 == 0 {
				runIn()
				runPlugin()
			} else {
				runPlugin()
				runIn()
			}
		}
		tokens := float64(step.tokens() * b.N)
		b.ReportMetric(float64(inTime+pluginTime)/float64(2*b.N), "ns/op")
		b.ReportMetric(tokens/inTime.Seconds(), "in-process-tokens/s")
		b.ReportMetric(tokens/pluginTime.Seconds(), "plugin-tokens/s")
		b.ReportMetric(100*inTime.Seconds()/pluginTime.Seconds(), "plugin-%-of-in-process")
		b.ReportMetric(inCPU.Seconds()/float64(b.N), "in-process-cpu-s/step")
		b.ReportMetric(pluginCPU.Seconds()/float64(b.N), "plugin-cpu-s/step")
	})
}

// cpuTime is the user and system CPU time a process has used so far (pid
// "self" or a number), from /proc/<pid>/stat, in clock ticks of 10 ms.
func cpuTime(b *testing.B, pid string) time.Duration {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) in parentheses;
	// utime and stime are fields 14 and 15 of the line.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%s/stat: %q", pid, data)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkRunBoundary isolates what the boundary costs a Run: a program
// with the training step's inputs and outputs (two 16×256 i32 token
// tensors in, two f32 scalars out) and almost no work, in process and
// through the plugin. The difference is the plugin's cost per step.
func BenchmarkRunBoundary(b *testing.B) {
	gb := graph.NewBuilder()
	tokens := gb.Input("tokens", graph.I32, 16, 256)
	targets := gb.Input("targets", graph.I32, 16, 256)
	gb.Output("loss", gb.Sum(gb.Cast(tokens, graph.F32)))
	gb.Output("grad_norm", gb.Sum(gb.Cast(targets, graph.F32)))
	g, err := gb.Build()
	if err != nil {
		b.Fatal(err)
	}
	inputs := map[string]*graph.Tensor{"tokens": graph.NewTensor(graph.I32, 16, 256), "targets": graph.NewTensor(graph.I32, 16, 256)}
	bench := func(b *testing.B, be backend.Backend) {
		ctx := context.Background()
		id, err := be.Compile(ctx, g)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := be.Run(ctx, id, inputs); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("in-process", func(b *testing.B) { bench(b, inProcess(b)) })
	b.Run("plugin", func(b *testing.B) {
		c, _ := startPlugin(b)
		bench(b, c)
	})
}
