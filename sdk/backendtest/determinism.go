package backendtest

import (
	"fmt"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Determinism checks: a program run twice on the same inputs and resident
// values (another program runs in between) gives bit-identical outputs and
// updates. The programs are the ones where order of summation could vary:
// large matrix products, reductions, scatter_add with many repeated ids,
// row-wise fused ops, cumsum and a whole training step.

type detCase struct {
	name  string
	build func(b *graph.Builder, dt graph.DType, n int) // n: 1, or larger with Options.Large
	gen   genFunc
}

func detCases() []detCase {
	return []detCase{
		{"matmul", func(b *graph.Builder, dt graph.DType, n int) {
			b.Output("c", b.MatMul(b.Input("a", dt, 33*n, 65*n), b.Input("b", dt, 65*n, 17*n)))
			b.Output("bc", b.MatMulT(b.Input("x", dt, 3, 9*n, 40*n), b.Input("y", dt, 3, 11*n, 40*n), false, true))
		}, nil},
		{"reductions", func(b *graph.Builder, dt graph.DType, n int) {
			x := b.Input("x", dt, 17*n, 3, 129*n)
			b.Output("all", b.ReduceSum(x))
			b.Output("first", b.ReduceSum(x, 0))
			b.Output("last", b.ReduceSum(x, 2))
			b.Output("max", b.ReduceMax(x, 0, 2))
		}, nil},
		{"scatter_add-repeated-ids", func(b *graph.Builder, dt graph.DType, n int) {
			b.Output("y", b.ScatterAdd(b.Input("ids", graph.I32, 500*n), b.Input("u", dt, 500*n, 7), 5))
		}, idsBelow(5)},
		{"fused-rows", func(b *graph.Builder, dt graph.DType, n int) {
			x := b.Input("x", dt, 9*n, 257)
			g := b.Input("g", dt, 257)
			b.Output("softmax", b.Softmax(x))
			b.Output("log_softmax", b.LogSoftmax(x))
			b.Output("layer_norm", b.LayerNorm(x, g, b.Input("beta", dt, 257), 1e-5))
			b.Output("rms_norm", b.RMSNorm(x, g, 1e-6))
			b.Output("cross_entropy", b.CrossEntropy(x, b.Input("labels", graph.I32, 9*n)))
		}, idsBelow(257)},
		{"cumsum", func(b *graph.Builder, dt graph.DType, n int) {
			x := b.Input("x", dt, 3, 1000*n)
			b.Output("y", b.Cumsum(x, 1))
			b.Output("z", b.CumsumOpts(x, 0, true, true))
		}, nil},
		{"train-step", func(b *graph.Builder, dt graph.DType, n int) {
			loss, params := buildMLP(b, dt)
			grads, err := graph.Grad(b, loss, params)
			if err != nil {
				b.Fail(err)
				return
			}
			b.Output("loss", loss)
			for i, p := range params {
				b.Update(p, b.Sub(p, b.MulScalar(grads[i], 0.1)))
			}
		}, idsBelow(6)},
	}
}

func (s *suite) testDeterminism(t *testing.T) {
	e := s.env(t)
	sc := e.newScribbler(t)
	n := 1
	if s.opts.Large {
		n = 3
	}
	for _, c := range detCases() {
		for _, dt := range s.floats() {
			t.Run(fmt.Sprintf("%v/%s", dt, c.name), func(t *testing.T) {
				b := graph.NewBuilder()
				c.build(b, dt, n)
				g := mustBuild(t, b)
				if why, skip := s.skipped(g); skip {
					t.Skipf("uses %s, declared unsupported", why)
				}
				bind := bindAll(g, newRand(s.opts.Seed, t.Name()), c.gen)
				id := e.mustCompile(t, s.prepare(t, g))
				defer e.release(t, id)
				defer e.deleteResidents(t, g)
				var first map[string]*graph.Tensor
				for run := 1; run <= 2; run++ {
					e.setResidents(t, g, bind)
					out := e.mustRun(t, id, inputsOf(g, bind))
					for _, name := range residentNames(g) {
						out["resident "+name] = e.mustTensor(t, name)
					}
					if run == 1 {
						first = out
						sc.scribble(t)
						continue
					}
					for name, x := range first {
						if err := sameBits(x, out[name]); err != nil {
							t.Errorf("%s differs between two runs on the same inputs: %v", name, err)
						}
					}
				}
			})
		}
	}
}
