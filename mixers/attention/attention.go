// Package attention is mohawk's softmax attention mixer: multi-head and
// grouped-query attention with optional (partial) rotary embeddings in the
// rotate-half layout (plain, or with linear or Llama 3.1 frequency
// scaling), optional biases, an optional sliding window and a
// key/value cache for one-token steps. Configured as a teacher's attention
// (Phi-1.5, Llama-3, GPT-2), it is the attention layer a hybrid student keeps
// from its teacher: InitFromTeacher copies the teacher's projections.
//
// For each head h with query group g = h / (heads / kv_heads),
//
//	A = softmax(scale · q_h k_gᵀ + causal/window mask),  y_h = A v_g,
//
// and the layer's output is the output projection of the heads' outputs.
// Parameters are named as Hugging Face names them: q_proj, k_proj, v_proj
// and the output projection (o_proj, or dense for Phi), each with a weight
// in PyTorch layout [out, in] and, where configured, a bias.
package attention

import (
	"context"
	"fmt"
	"math"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// Version is the mixer's version.
const Version = "0.1.0"

// Mixer implements mixer.Mixer.
type Mixer struct{}

var _ mixer.Mixer = Mixer{}

// Info names the mixer, declares every capability and the Schema.
func (Mixer) Info(ctx context.Context) (*mixer.Info, error) {
	return &mixer.Info{
		Name: "attention", Version: Version, APIVersion: mixer.APIVersion,
		Capabilities: mixer.Capabilities{MixingMatrix: true, Step: true, InitFromTeacher: true},
		Schema:       Schema,
	}, nil
}

// Params declares q_proj, k_proj, v_proj and the output projection
// (weights normal with std 0.02, biases zero and without weight decay).
// The query and key projections are what the mixing matrix depends on.
func (Mixer) Params(ctx context.Context, l mixer.Layer) ([]mixer.ParamSpec, error) {
	c, err := configure(l)
	if err != nil {
		return nil, err
	}
	var specs []mixer.ParamSpec
	add := func(name string, out, in int, bias, inMatrix bool) {
		specs = append(specs, mixer.ParamSpec{Name: name + ".weight", Shape: []int{out, in},
			Init: mixer.Init{Kind: mixer.InitNormal, Std: 0.02}, InMixingMatrix: inMatrix})
		if bias {
			specs = append(specs, mixer.ParamSpec{Name: name + ".bias", Shape: []int{out},
				Init: mixer.Init{Kind: mixer.InitConstant}, NoDecay: true, InMixingMatrix: inMatrix})
		}
	}
	d := l.Dims.DModel
	add("q_proj", c.heads*c.headDim, d, c.qkvBias, true)
	add("k_proj", c.kvHeads*c.headDim, d, c.qkvBias, true)
	add("v_proj", c.kvHeads*c.headDim, d, c.qkvBias, false)
	add(c.outName, d, c.heads*c.headDim, c.outBias, false)
	return specs, nil
}

// layer holds what the fragments of one layer share while they are built.
type layer struct {
	b *graph.Builder
	c config
	d mixer.Dims
}

func (x *layer) param(name string, shape ...int) graph.Value {
	return x.b.Param(name, x.d.DType, shape...)
}

// project is u[B,T,C] through name (with its bias where configured) split
// into heads: [B,heads,T,headDim].
func (x *layer) project(u graph.Value, name string, heads int, bias bool) graph.Value {
	b, c := x.b, x.c
	w := x.param(name+".weight", heads*c.headDim, x.d.DModel)
	bv := graph.NoValue
	if bias {
		bv = x.param(name+".bias", heads*c.headDim)
	}
	s := b.Shape(u)
	y := nn.Linear(b, u, w, bv)
	return b.Transpose(b.Reshape(y, s[0], s[1], heads, c.headDim), 0, 2, 1, 3)
}

// qkv is the queries [B,H,T,D] and keys and values [B,KV,T,D] of u, the
// queries and keys rotated when RoPE is configured (rope is nil for the
// whole-sequence forms, which rotate positions 0.. with nn.RoPEInvFreq by
// the layer's scaled inverse frequencies).
func (x *layer) qkv(u graph.Value, rope func(graph.Value) graph.Value) (q, k, v graph.Value) {
	c := x.c
	q = x.project(u, "q_proj", c.heads, c.qkvBias)
	k = x.project(u, "k_proj", c.kvHeads, c.qkvBias)
	v = x.project(u, "v_proj", c.kvHeads, c.qkvBias)
	if c.rotaryDim > 0 {
		if rope == nil {
			inv := c.invFreqs()
			rope = func(t graph.Value) graph.Value { return nn.RoPEInvFreq(x.b, t, inv, 0) }
		}
		q, k = rope(q), rope(k)
	}
	return q, k, v
}

// out merges heads y[B,H,T,D] and applies the output projection: [B,T,C].
func (x *layer) out(y graph.Value) graph.Value {
	b, c := x.b, x.c
	s := b.Shape(y)
	y = b.Reshape(b.Transpose(y, 0, 2, 1, 3), s[0], s[2], c.heads*c.headDim)
	bv := graph.NoValue
	if c.outBias {
		bv = x.param(c.outName+".bias", x.d.DModel)
	}
	return nn.Linear(b, y, x.param(c.outName+".weight", x.d.DModel, c.heads*c.headDim), bv)
}

// fragment configures l and runs build on a fresh builder.
func fragment(l mixer.Layer, build func(x *layer) error) (*graph.Graph, error) {
	c, err := configure(l)
	if err != nil {
		return nil, err
	}
	x := &layer{b: graph.NewBuilder(), c: c, d: l.Dims}
	if err := build(x); err != nil {
		return nil, err
	}
	return x.b.Build()
}

// Forward is u → y over the whole sequence, with mixed = probs·v
// [B,H,T,D] (v repeated to the query heads).
func (Mixer) Forward(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(x *layer) error {
		b, c, d := x.b, x.c, x.d
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		q, k, v := x.qkv(u, nil)
		p := nn.AttentionProbs(b, q, k, c.scale, 0, c.window)
		mixed := b.MatMul(p, nn.RepeatHeads(b, v, c.heads/c.kvHeads))
		b.Output(mixer.OutputMixed, mixed)
		b.Output(mixer.OutputY, x.out(mixed))
		return nil
	})
}

// MixingMatrix is u → (matrix, values): the post-softmax probabilities
// [B,H,T,T], computed in the fragment's dtype, and v repeated to H heads.
func (Mixer) MixingMatrix(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(x *layer) error {
		b, c, d := x.b, x.c, x.d
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		q, k, v := x.qkv(u, nil)
		b.Output(mixer.OutputMatrix, nn.AttentionProbs(b, q, k, c.scale, 0, c.window))
		b.Output(mixer.OutputValues, nn.RepeatHeads(b, v, c.heads/c.kvHeads))
		return nil
	})
}

// Step processes the token at position with a key/value cache: state/k and
// state/v [B,KV,S,D] with S = Dims.SeqLen. The token's key and value are
// written at row position; its query attends to rows ≤ position (and, with
// a window, > position − sliding_window). RoPE takes the position's angles
// from constant cos/sin tables [S, rotary_dim] by a gather, built from the
// same (scaled) inverse frequencies as Forward's.
func (Mixer) Step(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(x *layer) error {
		b, c, d := x.b, x.c, x.d
		dt, s := d.DType, d.SeqLen
		u := b.Input(mixer.InputU, dt, d.Batch, 1, d.DModel)
		pos := b.Input(mixer.InputPosition, graph.I32)
		cacheK := b.Input(mixer.StatePrefix+"k", dt, d.Batch, c.kvHeads, s, c.headDim)
		cacheV := b.Input(mixer.StatePrefix+"v", dt, d.Batch, c.kvHeads, s, c.headDim)

		var rope func(graph.Value) graph.Value
		if c.rotaryDim > 0 {
			cosT, sinT := ropeTables(s, c.invFreqs())
			ids := b.Reshape(pos, 1)
			cos := b.Gather(b.Const(dt, []int{s, c.rotaryDim}, cosT), ids) // [1, rotary_dim]
			sin := b.Gather(b.Const(dt, []int{s, c.rotaryDim}, sinT), ids)
			rope = func(t graph.Value) graph.Value { return rotate(b, t, cos, sin, c.rotaryDim) }
		}
		q, k, v := x.qkv(u, rope) // q [B,H,1,D], k and v [B,KV,1,D]

		rows := b.Iota(graph.I32, 0, s)
		here := b.Reshape(b.Equal(rows, pos), 1, 1, s, 1)
		k2 := b.Where(here, k, cacheK)
		v2 := b.Where(here, v, cacheV)

		masked := b.Less(pos, rows) // future rows
		if c.window > 0 {
			masked = b.Max(masked, b.Less(b.AddScalar(rows, float64(c.window-1)), pos))
		}
		r := c.heads / c.kvHeads
		scores := b.MulScalar(b.MatMulT(q, nn.RepeatHeads(b, k2, r), false, true), c.scale) // [B,H,1,S]
		scores = b.Where(b.Reshape(masked, 1, 1, 1, s), b.Scalar(dt, math.Inf(-1)), scores)
		y := b.MatMul(b.Softmax(scores), nn.RepeatHeads(b, v2, r))
		b.Output(mixer.OutputY, x.out(y))
		b.Output(mixer.StatePrefix+"k", k2)
		b.Output(mixer.StatePrefix+"v", v2)
		return nil
	})
}

// ropeTables are the cos and sin tables [n, 2·len(invFreq)] of positions
// 0..n−1 in the rotate-half layout, computed in float64 from the same
// inverse frequencies as nn.RoPEInvFreq rotates by.
func ropeTables(n int, invFreq []float64) (cos, sin []float64) {
	half := len(invFreq)
	rotaryDim := 2 * half
	cos, sin = make([]float64, n*rotaryDim), make([]float64, n*rotaryDim)
	for p := 0; p < n; p++ {
		for i, f := range invFreq {
			ang := float64(p) * f
			for _, j := range []int{i, i + half} {
				cos[p*rotaryDim+j], sin[p*rotaryDim+j] = math.Cos(ang), math.Sin(ang)
			}
		}
	}
	return cos, sin
}

// rotate is nn.RoPE with given cos and sin rows [T, rotaryDim] for
// x[B,H,T,D]: the first rotaryDim channels rotated, the rest passed through.
func rotate(b *graph.Builder, x, cos, sin graph.Value, rotaryDim int) graph.Value {
	hd := b.Dim(x, 3)
	half := rotaryDim / 2
	rot := b.SliceAxis(x, 3, 0, rotaryDim)
	x1, x2 := b.SliceAxis(rot, 3, 0, half), b.SliceAxis(rot, 3, half, rotaryDim)
	out := b.Add(b.Mul(rot, cos), b.Mul(b.Concat(3, b.Neg(x2), x1), sin))
	if rotaryDim == hd {
		return out
	}
	return b.Concat(3, out, b.SliceAxis(x, 3, rotaryDim, hd))
}

// InitFromTeacher copies the teacher's q, k, v and output projections (the
// teacher's o_proj becomes out_name), with their biases where the layer is
// configured with them: the teacher must then have them too. The layer's
// heads, kv_heads and head_dim must be the teacher's.
func (Mixer) InitFromTeacher(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(x *layer) error {
		b, c, d := x.b, x.c, x.d
		kv := d.KVHeads
		if kv == 0 {
			kv = d.Heads
		}
		switch {
		case d.Heads <= 0 || d.DModel%d.Heads != 0:
			return fmt.Errorf("heads: the teacher's %d heads do not divide d_model %d", d.Heads, d.DModel)
		case c.heads != d.Heads:
			return fmt.Errorf("heads: copying the teacher needs its %d heads, found %d", d.Heads, c.heads)
		case c.kvHeads != kv:
			return fmt.Errorf("kv_heads: copying the teacher needs its %d key/value heads, found %d", kv, c.kvHeads)
		case c.headDim != d.DModel/d.Heads:
			return fmt.Errorf("head_dim: copying the teacher needs its head dim %d, found %d", d.DModel/d.Heads, c.headDim)
		}
		hd, dm := c.headDim, d.DModel
		copyParam := func(role, name string, shape ...int) {
			b.Output(name, b.Input(mixer.TeacherPrefix+role, d.DType, shape...))
		}
		for _, p := range []struct {
			name string
			out  int
		}{{"q_proj", c.heads * hd}, {"k_proj", kv * hd}, {"v_proj", kv * hd}} {
			copyParam(p.name+".weight", p.name+".weight", p.out, dm)
			if c.qkvBias {
				copyParam(p.name+".bias", p.name+".bias", p.out)
			}
		}
		copyParam("o_proj.weight", c.outName+".weight", dm, c.heads*hd)
		if c.outBias {
			copyParam("o_proj.bias", c.outName+".bias", dm)
		}
		return nil
	})
}
