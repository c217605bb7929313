package hybrid

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// Mode "within"'s mixed output equals a float64 loop over the SSD
// recurrence and a windowed softmax over the same heads, mixed by σ(mix):
// the window is the last `window` tokens, the query itself included.
func TestWithinReference(t *testing.T) {
	for _, w := range []int{1, 3, 64} {
		l := mixer.Layer{Config: full(obj("mode", "within", "window", w, "chunk", 4, "state_size", 3)),
			Dims: mixer.Dims{Batch: 2, SeqLen: 9, DModel: 8, Heads: 2, KVHeads: 2, DType: graph.F64}}
		specs, err := Mixer{}.Params(t.Context(), l)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, uint64(w)))
		rnd := func(shape ...int) *graph.Tensor {
			x := graph.NewTensor(graph.F64, shape...)
			for i := range x.F64 {
				x.F64[i] = r.NormFloat64() * 0.5
			}
			return x
		}
		bind := map[string]*graph.Tensor{mixer.InputU: rnd(2, 9, 8)}
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

		// The SSD's inputs, from the Mamba-2 mixer's own blocks.
		s, err := mamba2.Configure(ssdLayer(l))
		if err != nil {
			t.Fatal(err)
		}
		b := graph.NewBuilder()
		hd := s.Sequence(b, b.Input(mixer.InputU, graph.F64, 2, 9, 8))
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
		const bs, tl = 2, 9
		x, bm, cm, la, d := in["x"].F64, in["bm"].F64, in["cm"].F64, in["loga"].F64, in["d"].F64
		want := make([]float64, bs*h*tl*p)
		for bi := range bs {
			for hi := range h {
				sig := 1 / (1 + math.Exp(-bind[mixName].F64[hi]))
				st := make([]float64, p*n)
				dot := func(i, j int) float64 { // C_i·B_j
					v := 0.0
					for k := range n {
						v += cm[((bi*h+hi)*tl+i)*n+k] * bm[((bi*h+hi)*tl+j)*n+k]
					}
					return v
				}
				for ti := range tl {
					xi := func(j, c int) float64 { return x[((bi*h+hi)*tl+j)*p+c] }
					alpha := math.Exp(la[(bi*h+hi)*tl+ti])
					for c := range p {
						for k := range n {
							st[c*n+k] = alpha*st[c*n+k] + xi(ti, c)*bm[((bi*h+hi)*tl+ti)*n+k]
						}
					}
					lo := max(0, ti-w+1)
					scores := make([]float64, ti+1-lo)
					mx := math.Inf(-1)
					for j := lo; j <= ti; j++ {
						scores[j-lo] = dot(ti, j) / math.Sqrt(float64(n))
						mx = math.Max(mx, scores[j-lo])
					}
					z := 0.0
					for j := range scores {
						scores[j] = math.Exp(scores[j] - mx)
						z += scores[j]
					}
					for c := range p {
						ySSD := d[hi] * xi(ti, c)
						for k := range n {
							ySSD += st[c*n+k] * cm[((bi*h+hi)*tl+ti)*n+k]
						}
						yAttn := 0.0
						for j := lo; j <= ti; j++ {
							yAttn += scores[j-lo] / z * xi(j, c)
						}
						want[((bi*h+hi)*tl+ti)*p+c] = sig*ySSD + (1-sig)*yAttn
					}
				}
			}
		}
		scale, worst := 0.0, 0.0
		for i := range want {
			scale = math.Max(scale, math.Abs(want[i]))
			worst = math.Max(worst, math.Abs(got[i]-want[i]))
		}
		if len(got) != len(want) || worst > 1e-9*scale {
			t.Errorf("window %d: mixed differs from the loop by %g (scale %g)", w, worst, scale)
		}
	}
}
