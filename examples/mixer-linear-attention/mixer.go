// The linear-attention mixer: causal linear attention with the elu+1
// feature map (Katharopoulos et al., 2020), written only on mohawk's public
// sdk as a third party would write one. For each head, with φ(x) = elu(x)+1,
//
//	y_t = Σ_{s≤t} (φ(q_t)·φ(k_s)) v_s / Σ_{s≤t} φ(q_t)·φ(k_s)
//
// Its mixing matrix is the normalised A[t,s] = φ(q_t)·φ(k_s) / Σ_{s'≤t} …,
// and its recurrent state is S = Σ φ(k_s) v_sᵀ and z = Σ φ(k_s).
package main

import (
	"context"
	"fmt"
	"math"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

const version = "0.1.0"

// linearAttention implements mixer.Mixer.
type linearAttention struct{}

var schema = mixer.Schema{Attributes: []mixer.Attribute{
	{Name: "heads", Type: cty.Number, Description: "number of heads; 0 takes the teacher's", Default: cty.NumberIntVal(0)},
	{Name: "eps", Type: cty.Number, Description: "added to the normaliser", Default: cty.NumberFloatVal(1e-6)},
}}

func (linearAttention) Info(ctx context.Context) (*mixer.Info, error) {
	return &mixer.Info{
		Name: "linear-attention", Version: version, APIVersion: mixer.APIVersion,
		Capabilities: mixer.Capabilities{MixingMatrix: true, Step: true, InitFromTeacher: true},
		Schema:       schema,
	}, nil
}

// config is a layer's decoded configuration.
type config struct {
	heads, headDim int
	eps            float64
}

func configure(l mixer.Layer) (config, error) {
	d := l.Dims
	c := config{heads: d.Heads, eps: 1e-6}
	if l.Config.Type().IsObjectType() {
		if v := l.Config.GetAttr("heads"); !v.IsNull() {
			h, _ := v.AsBigFloat().Int64()
			if h != 0 {
				c.heads = int(h)
			}
		}
		if v := l.Config.GetAttr("eps"); !v.IsNull() {
			c.eps, _ = v.AsBigFloat().Float64()
		}
	}
	if c.heads <= 0 || d.DModel%c.heads != 0 {
		return c, fmt.Errorf("heads: %d heads must divide d_model %d", c.heads, d.DModel)
	}
	if !(c.eps > 0) {
		return c, fmt.Errorf("eps: must be positive, found %v", c.eps)
	}
	c.headDim = d.DModel / c.heads
	return c, nil
}

func (linearAttention) Params(ctx context.Context, l mixer.Layer) ([]mixer.ParamSpec, error) {
	if _, err := configure(l); err != nil {
		return nil, err
	}
	d := l.Dims.DModel
	std := 1 / math.Sqrt(float64(d))
	proj := func(name string, inMatrix bool) mixer.ParamSpec {
		return mixer.ParamSpec{Name: name, Shape: []int{d, d}, Init: mixer.Init{Kind: mixer.InitNormal, Std: std}, InMixingMatrix: inMatrix}
	}
	return []mixer.ParamSpec{proj("q_proj.weight", true), proj("k_proj.weight", true), proj("v_proj.weight", false), proj("o_proj.weight", false)}, nil
}

// features is φ(x) = elu(x) + 1, written so that no branch overflows: the
// exponential only ever sees min(x, 0).
func features(b *graph.Builder, x graph.Value) graph.Value {
	zero := b.Scalar(b.DType(x), 0)
	return b.Where(b.Less(zero, x), b.AddScalar(x, 1), b.Exp(b.Min(x, zero)))
}

// heads projects u[B,T,C] with w[C,C] (PyTorch layout) to [B,H,T,D].
func heads(b *graph.Builder, u, w graph.Value, c config) graph.Value {
	s := b.Shape(u)
	x := b.MatMulT(b.Reshape(u, s[0]*s[1], s[2]), w, false, true)
	return b.Transpose(b.Reshape(x, s[0], s[1], c.heads, c.headDim), 0, 2, 1, 3)
}

// merge is the inverse of heads followed by the output projection.
func merge(b *graph.Builder, y, wo graph.Value, bs, t, d int) graph.Value {
	y = b.Reshape(b.Transpose(y, 0, 2, 1, 3), bs*t, d)
	return b.Reshape(b.MatMulT(y, wo, false, true), bs, t, d)
}

// matrix is the normalised causal matrix [B,H,T,T].
func matrix(b *graph.Builder, u graph.Value, c config) graph.Value {
	t := b.Dim(u, 1)
	dt := b.DType(u)
	q := features(b, heads(b, u, b.Param("q_proj.weight", dt, b.Dim(u, 2), b.Dim(u, 2)), c))
	k := features(b, heads(b, u, b.Param("k_proj.weight", dt, b.Dim(u, 2), b.Dim(u, 2)), c))
	future := b.Less(b.Iota(graph.I32, 0, t, t), b.Iota(graph.I32, 1, t, t))
	a := b.Where(future, b.Scalar(dt, 0), b.MatMulT(q, k, false, true))
	return b.Div(a, b.AddScalar(b.ReduceSum(a, -1), c.eps))
}

func fragment(l mixer.Layer, build func(b *graph.Builder, c config) error) (*graph.Graph, error) {
	c, err := configure(l)
	if err != nil {
		return nil, err
	}
	b := graph.NewBuilder()
	if err := build(b, c); err != nil {
		return nil, err
	}
	return b.Build()
}

func (linearAttention) Forward(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(b *graph.Builder, c config) error {
		d := l.Dims
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		v := heads(b, u, b.Param("v_proj.weight", d.DType, d.DModel, d.DModel), c)
		y := b.MatMul(matrix(b, u, c), v)
		b.Output(mixer.OutputMixed, y)
		b.Output(mixer.OutputY, merge(b, y, b.Param("o_proj.weight", d.DType, d.DModel, d.DModel), d.Batch, d.SeqLen, d.DModel))
		return nil
	})
}

func (linearAttention) MixingMatrix(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(b *graph.Builder, c config) error {
		d := l.Dims
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		b.Output(mixer.OutputMatrix, matrix(b, u, c))
		b.Output(mixer.OutputValues, heads(b, u, b.Param("v_proj.weight", d.DType, d.DModel, d.DModel), c))
		return nil
	})
}

// Step processes one token: S ← S + φ(k)vᵀ, z ← z + φ(k),
// y = φ(q)ᵀS / (φ(q)·z + eps).
func (linearAttention) Step(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(b *graph.Builder, c config) error {
		d := l.Dims
		dt := d.DType
		u := b.Input(mixer.InputU, dt, d.Batch, 1, d.DModel)
		b.Input(mixer.InputPosition, graph.I32)
		s := b.Input(mixer.StatePrefix+"kv", dt, d.Batch, c.heads, c.headDim, c.headDim)
		z := b.Input(mixer.StatePrefix+"k", dt, d.Batch, c.heads, 1, c.headDim)
		w := func(name string) graph.Value { return b.Param(name, dt, d.DModel, d.DModel) }
		q := features(b, heads(b, u, w("q_proj.weight"), c)) // [B,H,1,D]
		k := features(b, heads(b, u, w("k_proj.weight"), c))
		v := heads(b, u, w("v_proj.weight"), c)
		s2 := b.Add(s, b.MatMulT(k, v, true, false)) // [B,H,D,D]
		z2 := b.Add(z, k)
		num := b.MatMul(q, s2)                                   // [B,H,1,D]
		den := b.AddScalar(b.MatMulT(q, z2, false, true), c.eps) // [B,H,1,1]
		b.Output(mixer.OutputY, merge(b, b.Div(num, den), w("o_proj.weight"), d.Batch, 1, d.DModel))
		b.Output(mixer.StatePrefix+"kv", s2)
		b.Output(mixer.StatePrefix+"k", z2)
		return nil
	})
}

// InitFromTeacher copies the teacher's projections: linear attention is
// attention with another kernel, so q, k, v and o keep their roles.
func (linearAttention) InitFromTeacher(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(b *graph.Builder, c config) error {
		d := l.Dims
		if d.KVHeads != 0 && d.KVHeads != d.Heads {
			return fmt.Errorf("heads: grouped-query teachers (%d key heads for %d query heads) are not supported by this mixer", d.KVHeads, d.Heads)
		}
		for _, name := range []string{"q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight"} {
			b.Output(name, b.Input(mixer.TeacherPrefix+name, d.DType, d.DModel, d.DModel))
		}
		return nil
	})
}
