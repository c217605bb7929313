// Benchmarks of whole training steps (the attention-and-MLP graph of the
// tests) and of a few single ops, reporting allocations per run (0).

package cpu

import (
	"fmt"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

func benchGraph(b *testing.B, g *graph.Graph, bind map[string]*graph.Tensor, threads int) {
	be := New(Options{Threads: threads})
	defer be.Close()
	in := load(b, be, g, bind)
	p, err := be.Compile(g)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.Run(in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Run(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(p.ArenaBytes())/(1<<20), "arena-MiB")
}

func BenchmarkTrainStep(b *testing.B) {
	for _, sz := range []struct{ B, T, C, V int }{{4, 32, 64, 97}, {8, 128, 256, 1024}} {
		g := trainGraph(b, sz.B, sz.T, sz.C, sz.V)
		bind := trainBindings(g, sz.V, 1)
		for _, th := range []int{1, 0} {
			b.Run(fmt.Sprintf("B%dT%dC%dV%d/threads%d", sz.B, sz.T, sz.C, sz.V, th), func(b *testing.B) {
				benchGraph(b, g, bind, th)
			})
		}
	}
}

func BenchmarkOps(b *testing.B) {
	type bc struct {
		name  string
		build func(gb *graph.Builder)
	}
	const R, C = 1024, 768
	cases := []bc{
		{"add-row", func(gb *graph.Builder) {
			gb.Output("y", gb.Add(gb.Input("x", graph.F32, R, C), gb.Input("b", graph.F32, C)))
		}},
		{"gelu-ish", func(gb *graph.Builder) {
			x := gb.Input("x", graph.F32, R, C)
			gb.Output("y", gb.Mul(x, gb.Sigmoid(gb.MulScalar(x, 1.702))))
		}},
		{"softmax", func(gb *graph.Builder) { gb.Output("y", gb.Softmax(gb.Input("x", graph.F32, R, C))) }},
		{"layernorm", func(gb *graph.Builder) {
			gb.Output("y", gb.LayerNorm(gb.Input("x", graph.F32, R, C), gb.Input("g", graph.F32, C), gb.Input("b", graph.F32, C), 1e-5))
		}},
		{"transpose", func(gb *graph.Builder) { gb.Output("y", gb.Transpose(gb.Input("x", graph.F32, R, C), 1, 0)) }},
		{"heads-transpose", func(gb *graph.Builder) {
			gb.Output("y", gb.Transpose(gb.Input("x", graph.F32, 8, 128, 12, 64), 0, 2, 1, 3))
		}},
		{"reduce-rows", func(gb *graph.Builder) { gb.Output("y", gb.ReduceSum(gb.Input("x", graph.F32, R, C), 0)) }},
		{"matmul", func(gb *graph.Builder) {
			gb.Output("y", gb.MatMul(gb.Input("x", graph.F32, 8, 128, C), gb.Input("w", graph.F32, C, C)))
		}},
		{"batched-attention", func(gb *graph.Builder) {
			q := gb.Input("q", graph.F32, 96, 128, 64)
			gb.Output("y", gb.MatMulT(q, gb.Input("k", graph.F32, 96, 128, 64), false, true))
		}},
	}
	for _, c := range cases {
		gb := graph.NewBuilder()
		c.build(gb)
		g, err := gb.Build()
		if err != nil {
			b.Fatal(err)
		}
		bind := trainBindings(g, 1, 1)
		for _, th := range []int{1, 0} {
			b.Run(fmt.Sprintf("%s/threads%d", c.name, th), func(b *testing.B) { benchGraph(b, g, bind, th) })
		}
	}
}
