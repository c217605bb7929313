// Package mixerbench measures the forward+backward speed and the memory of
// mohawk's sequence mixers, one layer at a time, on the CPU backend in
// float32.
//
// Each case builds a graph with an input u [B,T,C], inlines the mixer's
// fragment with its parameters realised from its ParamSpecs, takes the loss
// sum(out·r) for a fixed random r, appends the gradients of the loss with
// respect to u and every parameter (graph.Grad), compiles it once and times
// Run. The program's arena (cpu Program.ArenaBytes) is every value the step
// computes, planned with reuse: the step's peak memory besides the
// parameters and the tensors bound to it.
//
// Mixers:
//
//   - attention: mixers/attention, multi-head, no RoPE, no biases; its
//     Forward fragment, out = y.
//   - mamba2: mixers/mamba2, discrete variant, chunked SSD (chunk 64); its
//     Forward fragment, out = y.
//   - mamba2-matrix: mixers/mamba2, discrete variant, the materialised SSD:
//     its MixingMatrix fragment, out = matrix·values [B,H,T,P]. It stops
//     before the gate and the output projection (so those weights get zero
//     gradient), which are O(T) work; it is there to show the cost of the
//     T×T matrix.
package mixerbench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/mixers/attention"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// Mixer names of the cases.
const (
	Attention    = "attention"
	Mamba2       = "mamba2"
	Mamba2Matrix = "mamba2-matrix"
)

// Mixers are the mixers benchmarked, in order.
var Mixers = []string{Attention, Mamba2, Mamba2Matrix}

// DefaultMaxArenaBytes is the arena above which a case is compiled (to
// measure its arena) but not run: 8 GiB.
const DefaultMaxArenaBytes = 8 << 30

// Case is one benchmark configuration.
type Case struct {
	Mixer         string
	DModel, Heads int
	SeqLen, Batch int
}

// Name is the case's sub-benchmark name: mixer/d256/T2048.
func (c Case) Name() string { return fmt.Sprintf("%s/d%d/T%d", c.Mixer, c.DModel, c.SeqLen) }

// Tokens is B·T.
func (c Case) Tokens() int { return c.Batch * c.SeqLen }

// Cases are the standard cases: every mixer at d_model 256 (4 heads) and
// 1024 (16 heads), T 256 and 2048, with the batch making B·T = tokens.
func Cases(tokens int) []Case {
	var cs []Case
	for _, m := range Mixers {
		for _, d := range []struct{ dModel, heads int }{{256, 4}, {1024, 16}} {
			for _, t := range []int{256, 2048} {
				cs = append(cs, Case{Mixer: m, DModel: d.dModel, Heads: d.heads, SeqLen: t, Batch: max(tokens/t, 1)})
			}
		}
	}
	return cs
}

// Result is the measurement of one case.
type Result struct {
	Case
	Params       int
	ArenaBytes   int64
	Skipped      string  // why the case was not run; empty when it ran
	StepSeconds  float64 // mean over the timed runs
	TokensPerSec float64
	Loss         float64
}

// ArenaBytesPerToken is the arena divided by B·T.
func (r Result) ArenaBytesPerToken() float64 { return float64(r.ArenaBytes) / float64(r.Tokens()) }

// Step is a compiled forward+backward step of one case, ready to run.
type Step struct {
	Case    Case
	Params  int
	be      *cpu.Backend
	prog    *cpu.Program
	inputs  map[string]*graph.Tensor
	outName string
}

// ArenaBytes is the compiled program's arena.
func (s *Step) ArenaBytes() int64 { return s.prog.ArenaBytes() }

// Run runs the step once and returns the loss.
func (s *Step) Run() (float64, error) {
	out, err := s.prog.Run(s.inputs)
	if err != nil {
		return 0, err
	}
	return out[s.outName].At(0), nil
}

// Close stops the backend's workers.
func (s *Step) Close() { s.be.Close() }

func config(schema mixer.Schema, set map[string]cty.Value) cty.Value {
	m := map[string]cty.Value{}
	for _, a := range schema.Attributes {
		m[a.Name] = a.Default
	}
	for k, v := range set {
		m[k] = v
	}
	return cty.ObjectVal(m)
}

// Build builds and compiles the step of c on a new CPU backend with threads
// workers (0: GOMAXPROCS).
func Build(c Case, threads int) (*Step, error) {
	ctx := context.Background()
	dims := mixer.Dims{Batch: c.Batch, SeqLen: c.SeqLen, DModel: c.DModel, Heads: c.Heads, KVHeads: c.Heads, DType: graph.F32}
	var (
		m        mixer.Mixer
		l        mixer.Layer
		fragment func(context.Context, mixer.Layer) (*graph.Graph, error)
	)
	switch c.Mixer {
	case Attention:
		m = attention.Mixer{}
		l = mixer.Layer{Config: config(attention.Schema, nil), Dims: dims}
		fragment = m.Forward
	case Mamba2, Mamba2Matrix:
		m = mamba2.Mixer{}
		l = mixer.Layer{Config: config(mamba2.Schema, map[string]cty.Value{"variant": cty.StringVal(mamba2.VariantDiscrete)}), Dims: dims}
		fragment = m.Forward
		if c.Mixer == Mamba2Matrix {
			fragment = m.MixingMatrix
		}
	default:
		return nil, fmt.Errorf("mixerbench: unknown mixer %q", c.Mixer)
	}
	specs, err := m.Params(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name(), err)
	}
	frag, err := fragment(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name(), err)
	}

	const prefix = "layer."
	b := graph.NewBuilder()
	u := b.Input(mixer.InputU, graph.F32, c.Batch, c.SeqLen, c.DModel)
	outs, err := b.Inline(frag, prefix, map[string]graph.Value{mixer.InputU: u})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name(), err)
	}
	var out graph.Value
	if c.Mixer == Mamba2Matrix {
		out = b.MatMul(outs[mixer.OutputMatrix], outs[mixer.OutputValues])
	} else {
		out = outs[mixer.OutputY]
	}
	r := b.Input("r", graph.F32, b.Shape(out)...)
	loss := b.Sum(b.Mul(out, r))
	b.Output("loss", loss)

	be := cpu.New(cpu.Options{Threads: threads})
	wrt := []graph.Value{u}
	names := []string{"grad/u"}
	count := 0
	for _, s := range specs {
		name := prefix + s.Name
		v, ok := b.Lookup(name)
		if !ok {
			continue // a parameter the fragment does not read
		}
		t, err := s.Realize(name, graph.F32, 1)
		if err != nil {
			be.Close()
			return nil, err
		}
		if err := be.SetTensor(name, t); err != nil {
			be.Close()
			return nil, err
		}
		count += t.Len()
		wrt = append(wrt, v)
		names = append(names, "grad/"+s.Name)
	}
	grads, err := graph.Grad(b, loss, wrt)
	if err != nil {
		be.Close()
		return nil, fmt.Errorf("%s: %w", c.Name(), err)
	}
	for i, g := range grads {
		b.Output(names[i], g)
	}
	g, err := b.Build()
	if err != nil {
		be.Close()
		return nil, fmt.Errorf("%s: %w", c.Name(), err)
	}
	prog, err := be.Compile(g)
	if err != nil {
		be.Close()
		return nil, fmt.Errorf("%s: %w", c.Name(), err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	random := func(shape graph.Shape) *graph.Tensor {
		t := graph.NewTensor(graph.F32, shape...)
		for i := range t.F32 {
			t.F32[i] = float32(rng.NormFloat64())
		}
		return t
	}
	inputs := map[string]*graph.Tensor{mixer.InputU: random(b.Shape(u)), "r": random(b.Shape(out))}
	return &Step{Case: c, Params: count, be: be, prog: prog, inputs: inputs, outName: "loss"}, nil
}

// Measure builds c, and unless its arena exceeds maxArena runs one untimed
// warm-up step and then runs timed steps.
func Measure(c Case, runs, threads int, maxArena int64) (Result, error) {
	s, err := Build(c, threads)
	if err != nil {
		return Result{Case: c}, err
	}
	defer s.Close()
	res := Result{Case: c, Params: s.Params, ArenaBytes: s.ArenaBytes()}
	if maxArena > 0 && res.ArenaBytes > maxArena {
		res.Skipped = fmt.Sprintf("arena %.1f GiB > limit %.1f GiB", gib(res.ArenaBytes), gib(maxArena))
		return res, nil
	}
	var elapsed time.Duration
	for i := 0; i <= runs; i++ {
		start := time.Now()
		l, err := s.Run()
		if err != nil {
			return res, fmt.Errorf("%s run %d: %w", c.Name(), i, err)
		}
		if i > 0 {
			elapsed += time.Since(start)
		}
		res.Loss = l
	}
	res.StepSeconds = elapsed.Seconds() / float64(max(runs, 1))
	res.TokensPerSec = float64(c.Tokens()) / res.StepSeconds
	return res, nil
}

func gib(n int64) float64 { return float64(n) / (1 << 30) }

// Run measures every case in cs in turn, calling report (if not nil) after
// each; it stops at the first error.
func Run(cs []Case, runs, threads int, maxArena int64, report func(Result)) ([]Result, error) {
	var rs []Result
	for _, c := range cs {
		r, err := Measure(c, runs, threads, maxArena)
		debug.FreeOSMemory() // the last case's arena, before the next one's
		if err != nil {
			return rs, err
		}
		rs = append(rs, r)
		if report != nil {
			report(r)
		}
	}
	return rs, nil
}

// Print writes results as a table: speed, the arena and the arena per
// token (flat in T for an O(T) mixer, growing with T for an O(T²) one).
func Print(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mixer\td_model\theads\tT\tB\tparams\ts/step\ttokens/s\tarena MiB\tarena KiB/token\t")
	for _, r := range rs {
		speed, tps := "-", "skipped: "+r.Skipped
		if r.Skipped == "" {
			speed, tps = fmt.Sprintf("%.3f", r.StepSeconds), fmt.Sprintf("%.0f", r.TokensPerSec)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%.0f\t%.1f\t\n", r.Mixer, r.DModel, r.Heads, r.SeqLen, r.Batch, r.Params,
			speed, tps, float64(r.ArenaBytes)/(1<<20), r.ArenaBytesPerToken()/(1<<10))
	}
	tw.Flush()
}
