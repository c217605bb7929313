package hybrid

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// combine = "shared_normalizer": Forward's mixed and MixingMatrix's matrix
// equal a float64 loop over the formula, written without any shift,
//
//	A[t,s] = w[t,s] / Σ_s' w[t,s'],  w[t,s] = exp(C_t·B_s/√N)              t − window < s ≤ t
//	                                          Π_{k=s+1..t} α_k·φ(C_t)·φ(B_s)  s ≤ t − window
//	mixed_t = Σ_s A[t,s]·x_s + D·x_t,
//
// with φ(v) = elu(v) + 1; the matrix's rows, less the D diagonal, sum to 1.
func TestSharedNormalizerReference(t *testing.T) {
	for _, tc := range []struct {
		window, groups int
	}{{1, 0}, {3, 0}, {3, 1}, {20, 0}} {
		const bs, tl, dm = 2, 9, 8
		l := mixer.Layer{Config: full(obj("mode", "within", "combine", "shared_normalizer", "window", tc.window, "n_qk_heads", tc.groups, "state_size", 3)),
			Dims: mixer.Dims{Batch: bs, SeqLen: tl, DModel: dm, Heads: 2, KVHeads: 2, DType: graph.F64}}
		specs, err := Mixer{}.Params(t.Context(), l)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(3, uint64(tc.window*10+tc.groups)))
		rnd := func(shape ...int) *graph.Tensor {
			x := graph.NewTensor(graph.F64, shape...)
			for i := range x.F64 {
				x.F64[i] = r.NormFloat64() * 0.5
			}
			return x
		}
		bind := map[string]*graph.Tensor{mixer.InputU: rnd(bs, tl, dm)}
		for _, s := range specs {
			bind[s.Name] = rnd(s.Shape...)
		}
		eval := func(g *graph.Graph) map[string]*graph.Tensor {
			used := map[string]*graph.Tensor{}
			for _, n := range g.Nodes {
				if n.Op == graph.OpInput || n.Op == graph.OpParam {
					used[n.Name] = bind[n.Name]
				}
			}
			out, _, err := graph.Evaluate(g, used)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		fwd, err := Mixer{}.Forward(t.Context(), l)
		if err != nil {
			t.Fatal(err)
		}
		got := eval(fwd)[mixer.OutputMixed].F64
		mm, err := Mixer{}.MixingMatrix(t.Context(), l)
		if err != nil {
			t.Fatal(err)
		}
		mat := eval(mm)[mixer.OutputMatrix].F64

		// The SSD's inputs, from the Mamba-2 mixer's own blocks.
		s, err := mamba2.Configure(ssdLayer(l))
		if err != nil {
			t.Fatal(err)
		}
		b := graph.NewBuilder()
		hd := s.Sequence(b, b.Input(mixer.InputU, graph.F64, bs, tl, dm))
		b.Output("x", hd.X)
		b.Output("bm", hd.Bm)
		b.Output("cm", hd.Cm)
		b.Output("loga", hd.LogA)
		b.Output("d", hd.D)
		g, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		in := eval(g)
		h, p, n, _, _ := s.Sizes()
		x, bm, cm, la, d := in["x"].F64, in["bm"].F64, in["cm"].F64, in["loga"].F64, in["d"].F64
		phi := func(v float64) float64 {
			if v > 0 {
				return v + 1
			}
			return math.Exp(v)
		}
		want := make([]float64, bs*h*tl*p)
		wantA := make([]float64, bs*h*tl*tl)
		linear := false
		for bi := range bs {
			for hi := range h {
				bh := bi*h + hi
				for ti := range tl {
					w := make([]float64, ti+1)
					z := 0.0
					for si := 0; si <= ti; si++ {
						if si > ti-tc.window {
							dot := 0.0
							for k := range n {
								dot += cm[(bh*tl+ti)*n+k] * bm[(bh*tl+si)*n+k]
							}
							w[si] = math.Exp(dot / math.Sqrt(float64(n)))
						} else {
							decay := 1.0
							for k := si + 1; k <= ti; k++ {
								decay *= math.Exp(la[bh*tl+k])
							}
							dot := 0.0
							for k := range n {
								dot += phi(cm[(bh*tl+ti)*n+k]) * phi(bm[(bh*tl+si)*n+k])
							}
							w[si] = decay * dot
							linear = true
						}
						z += w[si]
					}
					for si := 0; si <= ti; si++ {
						wantA[(bh*tl+ti)*tl+si] = w[si] / z
					}
					for c := range p {
						y := d[hi] * x[(bh*tl+ti)*p+c]
						for si := 0; si <= ti; si++ {
							y += w[si] / z * x[(bh*tl+si)*p+c]
						}
						want[(bh*tl+ti)*p+c] = y
					}
				}
			}
		}
		if linear != (tc.window < tl) {
			t.Fatalf("window %d: the loop used the linear term: %v", tc.window, linear)
		}
		worst := func(got, want []float64) float64 {
			scale, e := 0.0, 0.0
			for i := range want {
				scale = math.Max(scale, math.Abs(want[i]))
				e = math.Max(e, math.Abs(got[i]-want[i]))
			}
			if len(got) != len(want) {
				return math.Inf(1)
			}
			return e / scale
		}
		if e := worst(got, want); e > 1e-9 {
			t.Errorf("window %d groups %d: mixed differs from the loop by %g (relative)", tc.window, tc.groups, e)
		}
		// The matrix less diag(D) is the loop's A, and its rows sum to 1.
		a := append([]float64(nil), mat...)
		for bh := range bs * h {
			for ti := range tl {
				a[(bh*tl+ti)*tl+ti] -= d[bh%h]
				sum := 0.0
				for si := range tl {
					sum += a[(bh*tl+ti)*tl+si]
				}
				if math.Abs(sum-1) > 1e-12 {
					t.Errorf("window %d groups %d: row %d of head %d sums to %v, less D", tc.window, tc.groups, ti, bh, sum)
				}
			}
		}
		if e := worst(a, wantA); e > 1e-9 {
			t.Errorf("window %d groups %d: matrix less diag(D) differs from the loop by %g (relative)", tc.window, tc.groups, e)
		}
	}
}
