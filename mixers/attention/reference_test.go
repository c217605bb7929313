package attention

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// reference is attention written as plain float64 loops: projections with
// biases, rotate-half RoPE of the first rotary channels, grouped heads, the
// causal window, softmax and the output projection. It returns y [B,T,C]
// and the probabilities [B,H,T,T].
func reference(c config, d mixer.Dims, p map[string][]float64, u []float64) (y, probs []float64) {
	bs, t, dm, hd := d.Batch, d.SeqLen, d.DModel, c.headDim
	lin := func(name string, x []float64, in, out int) []float64 {
		w, bias := p[name+".weight"], p[name+".bias"]
		res := make([]float64, len(x)/in*out)
		for r := 0; r < len(x)/in; r++ {
			for o := 0; o < out; o++ {
				s := 0.0
				if bias != nil {
					s = bias[o]
				}
				for i := 0; i < in; i++ {
					s += x[r*in+i] * w[o*in+i]
				}
				res[r*out+o] = s
			}
		}
		return res
	}
	q := lin("q_proj", u, dm, c.heads*hd)
	k := lin("k_proj", u, dm, c.kvHeads*hd)
	v := lin("v_proj", u, dm, c.kvHeads*hd)
	rope := func(x []float64, heads int) {
		half := c.rotaryDim / 2
		for r := 0; r < bs*t; r++ {
			pos := float64(r % t)
			for h := 0; h < heads; h++ {
				base := (r*heads + h) * hd
				for i := 0; i < half; i++ {
					ang := pos * refInvFreq(c, i)
					a, b := x[base+i], x[base+i+half]
					x[base+i] = a*math.Cos(ang) - b*math.Sin(ang)
					x[base+i+half] = b*math.Cos(ang) + a*math.Sin(ang)
				}
			}
		}
	}
	rope(q, c.heads)
	rope(k, c.kvHeads)
	group := c.heads / c.kvHeads
	probs = make([]float64, bs*c.heads*t*t)
	mixed := make([]float64, bs*t*c.heads*hd)
	for b := 0; b < bs; b++ {
		for h := 0; h < c.heads; h++ {
			g := h / group
			for i := 0; i < t; i++ {
				row := probs[((b*c.heads+h)*t+i)*t:][:t]
				mx := math.Inf(-1)
				for j := 0; j <= i; j++ {
					if c.window > 0 && j <= i-c.window {
						row[j] = math.Inf(-1)
						continue
					}
					s := 0.0
					for e := 0; e < hd; e++ {
						s += q[((b*t+i)*c.heads+h)*hd+e] * k[((b*t+j)*c.kvHeads+g)*hd+e]
					}
					row[j] = s * c.scale
					mx = math.Max(mx, row[j])
				}
				sum := 0.0
				for j := 0; j <= i; j++ {
					row[j] = math.Exp(row[j] - mx)
					sum += row[j]
				}
				for j := 0; j <= i; j++ {
					row[j] /= sum
					for e := 0; e < hd; e++ {
						mixed[((b*t+i)*c.heads+h)*hd+e] += row[j] * v[((b*t+j)*c.kvHeads+g)*hd+e]
					}
				}
			}
		}
	}
	return lin(c.outName, mixed, c.heads*hd, dm), probs
}

// refInvFreq is the inverse frequency of channel pair i, written in the
// order Hugging Face's rope initialisation computes it: the plain
// frequency; linear divides it by the factor; llama3 first divides it when
// its wavelength exceeds the low-frequency wavelength, then replaces it by
// the smoothed value when the wavelength lies between the two bounds.
func refInvFreq(c config, i int) float64 {
	f := 1 / math.Pow(c.ropeTheta, float64(2*i)/float64(c.rotaryDim))
	r := c.rope
	switch r.typ {
	case RopeLinear:
		return f / r.factor
	case RopeLlama3:
		old := float64(r.originalMaxPositions)
		lowWavelen, highWavelen := old/r.lowFreqFactor, old/r.highFreqFactor
		wavelen := 2 * math.Pi / f
		scaled := f
		if wavelen > lowWavelen {
			scaled = f / r.factor
		}
		smooth := (old/wavelen - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor)
		smoothed := (1-smooth)*scaled/r.factor + smooth*scaled
		if !(wavelen < highWavelen) && !(wavelen > lowWavelen) {
			return smoothed
		}
		return scaled
	}
	return f
}

// Forward and MixingMatrix equal the loop reference on random weights and
// biases, for every conformance case (GQA, partial rotary, windows).
func TestMatchesReference(t *testing.T) {
	for _, tc := range conformanceCases {
		t.Run(tc.Name, func(t *testing.T) {
			l := tc.Layer
			l.Dims.DType = graph.F64
			d := l.Dims
			c, err := configure(l)
			if err != nil {
				t.Fatal(err)
			}
			specs, err := Mixer{}.Params(t.Context(), l)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			bind := map[string]*graph.Tensor{}
			p := map[string][]float64{}
			for _, s := range specs {
				v := graph.NewTensor(graph.F64, s.Shape...)
				for i := range v.F64 {
					v.F64[i] = 0.5 * r.NormFloat64()
				}
				bind["p."+s.Name], p[s.Name] = v, v.F64
			}
			u := graph.NewTensor(graph.F64, d.Batch, d.SeqLen, d.DModel)
			for i := range u.F64 {
				u.F64[i] = r.NormFloat64()
			}
			bind["u"] = u
			wantY, wantP := reference(c, d, p, u.F64)

			eval := func(frag *graph.Graph) map[string]*graph.Tensor {
				b := graph.NewBuilder()
				out, err := b.Inline(frag, "p.", map[string]graph.Value{mixer.InputU: b.Input("u", graph.F64, d.Batch, d.SeqLen, d.DModel)})
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range out {
					b.Output(k, v)
				}
				g, err := b.Build()
				if err != nil {
					t.Fatal(err)
				}
				res, _, err := graph.Evaluate(g, bind)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			fwd, err := Mixer{}.Forward(t.Context(), l)
			if err != nil {
				t.Fatal(err)
			}
			mm, err := Mixer{}.MixingMatrix(t.Context(), l)
			if err != nil {
				t.Fatal(err)
			}
			near := func(what string, got, want []float64) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("%s: %d values, expected %d", what, len(got), len(want))
				}
				for i := range got {
					if math.Abs(got[i]-want[i]) > 1e-10*(1+math.Abs(want[i])) {
						t.Fatalf("%s[%d] = %v, expected %v", what, i, got[i], want[i])
					}
				}
			}
			near("y", eval(fwd)[mixer.OutputY].F64, wantY)
			near("matrix", eval(mm)[mixer.OutputMatrix].F64, wantP)
		})
	}
}

// InitFromTeacher copies each teacher tensor to the parameter of the same
// role, the teacher's o_proj to out_name.
func TestInitFromTeacherCopies(t *testing.T) {
	d := mixer.Dims{Batch: 1, SeqLen: 4, DModel: 8, Heads: 4, KVHeads: 2, DType: graph.F64}
	l := mixer.Layer{Config: cfg(map[string]cty.Value{"qkv_bias": cty.True, "out_bias": cty.True, "out_name": cty.StringVal("dense")}), Dims: d}
	g, err := Mixer{}.InitFromTeacher(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := Mixer{}.Params(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	if err := mixer.CheckFragment(mixer.FragmentInitFromTeacher, l, specs, g); err != nil {
		t.Fatal(err)
	}
	bind := map[string]*graph.Tensor{}
	for i, n := range g.Nodes {
		if n.Op == graph.OpInput {
			v := graph.NewTensor(graph.F64, n.Type.Shape...)
			for j := range v.F64 {
				v.F64[j] = float64(i*1000 + j)
			}
			bind[n.Name] = v
		}
	}
	res, _, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(specs) {
		t.Errorf("copies %d tensors, the layer has %d params", len(res), len(specs))
	}
	for _, s := range specs {
		role := s.Name
		switch s.Name {
		case "dense.weight":
			role = "o_proj.weight"
		case "dense.bias":
			role = "o_proj.bias"
		}
		got, want := res[s.Name], bind[mixer.TeacherPrefix+role]
		if got == nil || want == nil {
			t.Fatalf("%s: no copy of %s", s.Name, role)
		}
		for j := range want.F64 {
			if got.F64[j] != want.F64[j] {
				t.Fatalf("%s differs from the teacher's %s", s.Name, role)
			}
		}
	}
}
