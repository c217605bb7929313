// Command testmixer is a tiny mixer plugin for the tests of package mixer:
// a causal "mean of the past" mixer,
//
//	y_t = scale · W · mean_{s≤t} u_s      (u_t, y_t ∈ R^C, W the param "w" [C,C])
//
// with the matrix form matrix[t,s] = scale/(t+1) for s ≤ t (one head) over
// values = u·Wᵀ, and the recurrent form sum ← sum + u_t, y_t = scale ·
// W·sum/(t+1) with the state state/sum [B,C]. Its schema holds scale
// (number, default 1, must be positive) and name (string, optional).
//
// The environment variable TESTMIXER_MODE makes it misbehave, so that the
// host's checks can be tested against a real plugin: "update" adds an
// update to the Forward fragment, "extra-input" makes Forward read an input
// "mask" besides u, "no-mixed" leaves out Forward's output mixed (which a
// mixer with a matrix form owes), "big" bakes a constant of several MiB into Forward (a
// valid fragment that needs many chunks), "print" writes to stdout before
// Serve (which breaks the handshake).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/zclconf/go-cty/cty"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// BigValues is the number of values of the constant of mode "big" (8 bytes
// each on the wire).
const BigValues = 400_000

type meanMixer struct{ mode string }

var schema = mixer.Schema{Attributes: []mixer.Attribute{
	{Name: "scale", Type: cty.Number, Default: cty.NumberIntVal(1), Description: "factor of the output; must be positive"},
	{Name: "name", Type: cty.String, Description: "a label, unused"},
}}

func (m meanMixer) Info(ctx context.Context) (*mixer.Info, error) {
	return &mixer.Info{
		Name: "mean", Version: "0.0.1", APIVersion: mixer.APIVersion,
		Capabilities: mixer.Capabilities{MixingMatrix: true, Step: true},
		Schema:       schema,
	}, nil
}

// scale reads and checks the configuration.
func scale(l mixer.Layer) (float64, error) {
	s, _ := l.Config.GetAttr("scale").AsBigFloat().Float64()
	if !(s > 0) {
		return 0, fmt.Errorf("scale: must be positive, found %v", s)
	}
	return s, nil
}

func (m meanMixer) Params(ctx context.Context, l mixer.Layer) ([]mixer.ParamSpec, error) {
	if _, err := scale(l); err != nil {
		return nil, err
	}
	c := l.Dims.DModel
	return []mixer.ParamSpec{{Name: "w", Shape: []int{c, c}, Init: mixer.Init{Kind: mixer.InitNormal, Std: 0.1}, InMixingMatrix: false}}, nil
}

func build(l mixer.Layer, f func(b *graph.Builder, s float64)) (*graph.Graph, error) {
	s, err := scale(l)
	if err != nil {
		return nil, err
	}
	b := graph.NewBuilder()
	f(b, s)
	return b.Build()
}

// matrix is [B,1,T,T]: scale/(t+1) on and below the diagonal, 0 above.
func matrix(b *graph.Builder, d mixer.Dims, s float64) graph.Value {
	t, dt := d.SeqLen, d.DType
	row := b.Iota(dt, 0, t, t)
	col := b.Iota(dt, 1, t, t)
	m := b.Where(b.Less(row, col), b.Zeros(dt, t, t), b.Div(b.Full(dt, s, t, t), b.AddScalar(row, 1)))
	return b.Broadcast(b.Reshape(m, 1, 1, t, t), d.Batch, 1, t, t)
}

// values is u·Wᵀ as [B,1,T,C].
func values(b *graph.Builder, u graph.Value, d mixer.Dims) graph.Value {
	w := b.Param("w", d.DType, d.DModel, d.DModel)
	v := b.MatMulT(b.Reshape(u, d.Batch*d.SeqLen, d.DModel), w, false, true)
	return b.Reshape(v, d.Batch, 1, d.SeqLen, d.DModel)
}

func (m meanMixer) Forward(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return build(l, func(b *graph.Builder, s float64) {
		d := l.Dims
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		mixed := b.MatMul(matrix(b, d, s), values(b, u, d))
		y := b.Reshape(mixed, d.Batch, d.SeqLen, d.DModel)
		switch m.mode {
		case "update":
			w, _ := b.Lookup("w")
			b.Update(w, b.MulScalar(w, 2))
		case "extra-input":
			y = b.Mul(y, b.Input("mask", d.DType, d.Batch, d.SeqLen, d.DModel))
		case "big":
			vals := make([]float64, BigValues)
			for i := range vals {
				vals[i] = float64(i%7) / 7
			}
			y = b.Add(y, b.MulScalar(b.Sum(b.Const(d.DType, []int{BigValues}, vals)), 0))
		}
		if m.mode != "no-mixed" {
			b.Output(mixer.OutputMixed, mixed)
		}
		b.Output(mixer.OutputY, y)
	})
}

func (m meanMixer) MixingMatrix(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return build(l, func(b *graph.Builder, s float64) {
		d := l.Dims
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		b.Output(mixer.OutputMatrix, matrix(b, d, s))
		b.Output(mixer.OutputValues, values(b, u, d))
	})
}

// Step: sum ← sum + u_t; y_t = scale · W·sum/(t+1).
func (m meanMixer) Step(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return build(l, func(b *graph.Builder, s float64) {
		d := l.Dims
		dt := d.DType
		u := b.Input(mixer.InputU, dt, d.Batch, 1, d.DModel)
		pos := b.Input(mixer.InputPosition, graph.I32)
		sum := b.Input(mixer.StatePrefix+"sum", dt, d.Batch, d.DModel)
		next := b.Add(sum, b.Reshape(u, d.Batch, d.DModel))
		mean := b.Div(next, b.AddScalar(b.Cast(pos, dt), 1))
		w := b.Param("w", dt, d.DModel, d.DModel)
		y := b.MulScalar(b.MatMulT(mean, w, false, true), s)
		b.Output(mixer.OutputY, b.Reshape(y, d.Batch, 1, d.DModel))
		b.Output(mixer.StatePrefix+"sum", next)
	})
}

func (m meanMixer) InitFromTeacher(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return nil, fmt.Errorf("mean: InitFromTeacher is not a capability of this mixer")
}

func main() {
	mode := os.Getenv("TESTMIXER_MODE")
	if mode == "print" {
		fmt.Println("hello from a plugin that prints before Serve")
	}
	mixer.Serve(meanMixer{mode: mode})
}
