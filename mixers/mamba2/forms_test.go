package mamba2

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// The three forms of SSD, through this mixer's fragments (chunked Forward,
// MixingMatrix·values, Step token by token), agree in float64 with each
// other and with a plain float64 loop over the recurrence, on random
// parameters (not only the initial ones).

// formCases are the layers checked, both variants.
var formCases = []struct {
	name string
	cfg  map[string]cty.Value
	dims mixer.Dims
}{
	{"discrete", map[string]cty.Value{"chunk": num(4)}, mixer.Dims{Batch: 2, SeqLen: 11, DModel: 8, Heads: 2}},
	{"discrete_grouped_expand2", map[string]cty.Value{"chunk": num(3), "heads": num(4), "n_qk_heads": num(2), "expand": num(2), "state_size": num(5), "conv_kernel": num(3)},
		mixer.Dims{Batch: 2, SeqLen: 10, DModel: 6, Heads: 3}},
	{"discrete_one_chunk", map[string]cty.Value{}, mixer.Dims{Batch: 1, SeqLen: 7, DModel: 4, Heads: 2}},
	{"continuous", map[string]cty.Value{"variant": continuous, "state_size": num(6), "chunk": num(4)}, mixer.Dims{Batch: 2, SeqLen: 13, DModel: 8, Heads: 2}},
	{"continuous_grouped", map[string]cty.Value{"variant": continuous, "state_size": num(3), "heads": num(4), "n_qk_heads": num(2), "chunk": num(5), "conv_kernel": num(2)},
		mixer.Dims{Batch: 1, SeqLen: 9, DModel: 4, Heads: 2}},
}

// randomParams realises l's params and adds noise, so that D, biases, gates
// and norms are all away from their initial constants.
func randomParams(t *testing.T, l mixer.Layer, r *rand.Rand) map[string]*graph.Tensor {
	t.Helper()
	specs, err := Mixer{}.Params(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*graph.Tensor{}
	for _, s := range specs {
		v, err := s.Realize(s.Name, graph.F64, 3)
		if err != nil {
			t.Fatal(err)
		}
		for i := range v.F64 {
			v.F64[i] += 0.3 * r.NormFloat64()
		}
		out[s.Name] = v
	}
	return out
}

func randTensor(r *rand.Rand, shape ...int) *graph.Tensor {
	t := graph.NewTensor(graph.F64, shape...)
	for i := range t.F64 {
		t.F64[i] = r.NormFloat64()
	}
	return t
}

// evaluate runs a fragment on the reference evaluator with its params and
// inputs bound by name.
func evaluate(t *testing.T, frag *graph.Graph, params, inputs map[string]*graph.Tensor) map[string]*graph.Tensor {
	t.Helper()
	b := graph.NewBuilder()
	in := map[string]graph.Value{}
	for name, v := range inputs {
		in[name] = b.Input("in."+name, v.DType, v.Shape...)
	}
	out, err := b.Inline(frag, "p.", in)
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
	bind := map[string]*graph.Tensor{}
	for _, n := range g.Nodes {
		switch n.Op {
		case graph.OpParam:
			bind[n.Name] = params[n.Name[len("p."):]]
		case graph.OpInput:
			bind[n.Name] = inputs[n.Name[len("in."):]]
		}
	}
	res, _, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func relErr(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	scale, worst := 0.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(want[i]))
		worst = math.Max(worst, math.Abs(got[i]-want[i]))
	}
	return worst / scale
}

func softplus(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }
func silu(x float64) float64     { return x / (1 + math.Exp(-x)) }

// reference is the mixer written as plain loops over the recurrence
// S_t = α_t·S_{t−1} + x_t·B̃_tᵀ, y_t = S_t·C_t + D·x_t: y [B,T,C] and the
// pre-gate SSD output [B,H,T,P].
func reference(c config, p map[string]*graph.Tensor, u *graph.Tensor, bs, tl int) (y, mixed []float64) {
	d, h, pp, n, g, k := c.d, c.h, c.p, c.n, c.g, c.k
	cc, rows := c.convChannels(), c.projRows()
	w, cw, cb := p["in_proj.weight"].F64, p["conv1d.weight"].F64, p["conv1d.bias"].F64
	dd, wo := p["D"].F64, p["out_proj.weight"].F64
	y = make([]float64, bs*tl*d)
	mixed = make([]float64, bs*h*tl*pp)
	xOff, zOff, aOff := 0, cc, cc+c.inner
	if !c.discrete() {
		xOff, zOff, aOff = c.inner, 0, c.inner+cc
	}
	for bi := 0; bi < bs; bi++ {
		proj := make([][]float64, tl)
		for t := range tl {
			proj[t] = make([]float64, rows)
			for r := range rows {
				for i := range d {
					proj[t][r] += w[r*d+i] * u.F64[(bi*tl+t)*d+i]
				}
			}
		}
		conv := make([][]float64, tl)
		for t := range tl {
			conv[t] = make([]float64, cc)
			for ch := range cc {
				s := cb[ch]
				for j := range k {
					if src := t - (k - 1) + j; src >= 0 {
						s += cw[ch*k+j] * proj[src][xOff+ch]
					}
				}
				if !c.discrete() {
					s = silu(s)
				}
				conv[t][ch] = s
			}
		}
		ssm := make([]float64, tl*c.inner)
		for hi := range h {
			gi := hi / (h / g)
			state := make([]float64, pp*n)
			for t := range tl {
				a := proj[t][aOff+hi]
				var logA, scale float64
				if c.discrete() {
					logA, scale = -softplus(a), 1
				} else {
					delta := softplus(a + p["dt_bias"].F64[hi])
					logA, scale = -delta*math.Exp(p["A_log"].F64[hi]), delta
				}
				alpha := math.Exp(logA)
				for q := range pp {
					x := conv[t][hi*pp+q]
					out := dd[hi] * x
					for j := range n {
						bj := scale * conv[t][c.inner+gi*n+j]
						cj := conv[t][c.inner+g*n+gi*n+j]
						state[q*n+j] = alpha*state[q*n+j] + x*bj
						out += state[q*n+j] * cj
					}
					mixed[((bi*h+hi)*tl+t)*pp+q] = out
					ssm[t*c.inner+hi*pp+q] = out
				}
			}
		}
		for t := range tl {
			gated := make([]float64, c.inner)
			for j := range c.inner {
				z := proj[t][zOff+j]
				if c.discrete() {
					gated[j] = ssm[t*c.inner+j] * silu(z+p["z_bias"].F64[j])
				} else {
					gated[j] = ssm[t*c.inner+j] * silu(z)
				}
			}
			if !c.discrete() {
				size := c.inner / g
				for gi := range g {
					ms := 0.0
					for j := gi * size; j < (gi+1)*size; j++ {
						ms += gated[j] * gated[j]
					}
					inv := 1 / math.Sqrt(ms/float64(size)+c.normEps)
					for j := gi * size; j < (gi+1)*size; j++ {
						gated[j] *= inv * p["norm.weight"].F64[j]
					}
				}
			}
			for o := range d {
				s := 0.0
				for j := range c.inner {
					s += wo[o*c.inner+j] * gated[j]
				}
				y[(bi*tl+t)*d+o] = s
			}
		}
	}
	return y, mixed
}

func TestThreeFormsAgree(t *testing.T) {
	const tol = 1e-9
	ctx := context.Background()
	for _, tc := range formCases {
		t.Run(tc.name, func(t *testing.T) {
			l := mixer.Layer{Config: cfg(tc.cfg), Dims: tc.dims}
			l.Dims.DType = graph.F64
			c, err := configure(l)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(5, 6))
			params := randomParams(t, l, r)
			d := l.Dims
			u := randTensor(r, d.Batch, d.SeqLen, d.DModel)
			wantY, wantMixed := reference(c, params, u, d.Batch, d.SeqLen)

			fwd, err := Mixer{}.Forward(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			fo := evaluate(t, fwd, params, map[string]*graph.Tensor{mixer.InputU: u})
			if e := relErr(fo[mixer.OutputY].F64, wantY); e > tol {
				t.Errorf("chunked Forward y differs from the loop by %.3g", e)
			}
			if e := relErr(fo[mixer.OutputMixed].F64, wantMixed); e > tol {
				t.Errorf("chunked Forward mixed differs from the loop by %.3g", e)
			}

			mm, err := Mixer{}.MixingMatrix(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			mo := evaluate(t, mm, params, map[string]*graph.Tensor{mixer.InputU: u})
			mat, vals := mo[mixer.OutputMatrix], mo[mixer.OutputValues]
			tl, pp := d.SeqLen, c.p
			got := make([]float64, len(wantMixed))
			for bh := 0; bh < d.Batch*c.h; bh++ {
				for i := range tl {
					for j := range tl {
						for q := range pp {
							got[(bh*tl+i)*pp+q] += mat.F64[(bh*tl+i)*tl+j] * vals.F64[(bh*tl+j)*pp+q]
						}
					}
				}
			}
			if e := relErr(got, wantMixed); e > tol {
				t.Errorf("matrix·values differs from the loop by %.3g", e)
			}

			st, err := Mixer{}.Step(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			states := map[string]*graph.Tensor{stateSSM: graph.NewTensor(graph.F64, d.Batch, c.h, c.p, c.n)}
			if c.k > 1 {
				states[stateConv] = graph.NewTensor(graph.F64, d.Batch, c.convChannels(), c.k-1)
			}
			stepY := make([]float64, len(wantY))
			for tt := range tl {
				ut := graph.NewTensor(graph.F64, d.Batch, 1, d.DModel)
				for bi := range d.Batch {
					copy(ut.F64[bi*d.DModel:(bi+1)*d.DModel], u.F64[(bi*tl+tt)*d.DModel:])
				}
				in := map[string]*graph.Tensor{mixer.InputU: ut, mixer.InputPosition: graph.FromI32([]int32{int32(tt)})}
				for k, v := range states {
					in[k] = v
				}
				so := evaluate(t, st, params, in)
				for k := range states {
					states[k] = so[k]
				}
				for bi := range d.Batch {
					copy(stepY[(bi*tl+tt)*d.DModel:(bi*tl+tt+1)*d.DModel], so[mixer.OutputY].F64[bi*d.DModel:])
				}
			}
			if e := relErr(stepY, wantY); e > tol {
				t.Errorf("Step over %d tokens differs from the loop by %.3g", tl, e)
			}
		})
	}
}
