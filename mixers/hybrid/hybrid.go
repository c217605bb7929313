// Package hybrid is a mohawk mixer that mixes softmax attention with the
// discrete Mamba-2 (SSD) student, in one of two ways.
//
// Mode "layer" (Hybrid-Phi-Mamba): some layers keep the teacher's softmax
// attention, the others are discrete Mamba-2; Dims.Layer decides, through
// IsAttentionLayer. Each layer's fragments are those of mixers/attention or
// mixers/mamba2, unchanged.
//
// Mode "within" (LoLCATs / Liger style): every layer runs the SSD heads and,
// over the same heads, a sliding-window softmax attention whose queries,
// keys and values are the SSD's C, B and x, and mixes the two per head:
// y = σ(mix)·y_ssd + (1 − σ(mix))·y_attn before the gate and output
// projection. Since both paths mix the same values x, the layer has a
// mixing matrix: σ(mix)·M_ssd + (1 − σ(mix))·A_window.
//
// Mode "within" with combine = "shared_normalizer" (LoLCATs' form on the
// SSD): one row-stochastic matrix A per head whose weights are the window's
// exp(C_t·B_s/√N) and, for the keys before the window, the SSD decay times
// φ(C_t)·φ(B_s) (φ = elu + 1), normalised together; y = A·x + D·x.
package hybrid

import (
	"context"
	"math"

	"github.com/mohawk-distill/mohawk/mixers/attention"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// Version is the mixer's version.
const Version = "0.1.0"

// Mixer is the hybrid mixer.
type Mixer struct{}

var _ mixer.Mixer = Mixer{}

// Info describes the mixer: every optional fragment, in both modes.
func (Mixer) Info(ctx context.Context) (*mixer.Info, error) {
	return &mixer.Info{
		Name:         "hybrid",
		Version:      Version,
		APIVersion:   mixer.APIVersion,
		Capabilities: mixer.Capabilities{MixingMatrix: true, Step: true, InitFromTeacher: true},
		Schema:       Schema,
	}, nil
}

// pick is the nested mixer and its layer for mode "layer", or ok false
// for mode "within".
func pick(l mixer.Layer) (m mixer.Mixer, nl mixer.Layer, c config, ok bool, err error) {
	if c, err = configure(l.Config); err != nil {
		return nil, l, c, false, err
	}
	if c.mode == ModeWithin {
		return nil, l, c, false, nil
	}
	att, err := IsAttentionLayer(l.Config, l.Dims.Layer)
	if err != nil {
		return nil, l, c, false, err
	}
	if att {
		return attention.Mixer{}, attentionLayer(l), c, true, nil
	}
	return mamba2.Mixer{}, ssdLayer(l), c, true, nil
}

// mixName is the within-layer mix parameter, [H]: σ(mix) weighs the SSD.
const mixName = "mix"

// Params are the nested mixer's (mode "layer") or the discrete Mamba-2's
// plus mix [H], starting at 0 so both paths weigh 1/2 (mode "within";
// combine = "shared_normalizer" adds nothing to the Mamba-2's).
func (Mixer) Params(ctx context.Context, l mixer.Layer) ([]mixer.ParamSpec, error) {
	m, nl, c, ok, err := pick(l)
	if err != nil {
		return nil, err
	}
	if ok {
		return m.Params(ctx, nl)
	}
	specs, err := mamba2.Mixer{}.Params(ctx, ssdLayer(l))
	if err != nil || c.combine == CombineSharedNormalizer {
		return specs, err
	}
	s, _ := mamba2.Configure(ssdLayer(l))
	h, _, _, _, _ := s.Sizes()
	return append(specs, mixer.ParamSpec{Name: mixName, Shape: []int{h},
		Init: mixer.Init{Kind: mixer.InitConstant}, NoDecay: true, InMixingMatrix: true}), nil
}

// within builds a fragment of mode "within".
func within(l mixer.Layer, c config, build func(b *graph.Builder, s mamba2.Layer, w window)) (*graph.Graph, error) {
	s, err := mamba2.Configure(ssdLayer(l))
	if err != nil {
		return nil, err
	}
	b := graph.NewBuilder()
	h, _, n, _, _ := s.Sizes()
	w := window{c: c, scale: 1 / math.Sqrt(float64(n))}
	if c.combine != CombineSharedNormalizer {
		mix := b.Param(mixName, l.Dims.DType, h)
		w.g = b.Reshape(b.Sigmoid(mix), 1, h, 1, 1)
		w.gc = b.Sub(b.Scalar(l.Dims.DType, 1), w.g)
	}
	build(b, s, w)
	return b.Build()
}

// window holds the per-head weights of the two paths, g = σ(mix) [1,H,1,1]
// for the SSD and gc = 1 − g for the window (combine = "sum" only), and the
// score scale 1/√N.
type window struct {
	c     config
	g, gc graph.Value
	scale float64
}

// combine is g·ssd + gc·attn.
func (w window) combine(b *graph.Builder, ssd, attn graph.Value) graph.Value {
	return b.Add(b.Mul(w.g, ssd), b.Mul(w.gc, attn))
}

// Forward is u → y. Mode "within": the chunked SSD and the window's
// softmax(C·Bᵀ/√N)·x mixed per head, and mixed (that sum, before the gate)
// equal to matrix·values.
func (Mixer) Forward(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	m, nl, c, ok, err := pick(l)
	if err != nil {
		return nil, err
	}
	if ok {
		return m.Forward(ctx, nl)
	}
	if c.combine == CombineSharedNormalizer {
		return within(l, c, sharedForward(l))
	}
	return within(l, c, func(b *graph.Builder, s mamba2.Layer, w window) {
		d := l.Dims
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		hd := s.Sequence(b, u)
		ySSD := nn.SSDChunked(b, hd.X, hd.LogA, hd.Bm, hd.Cm, hd.D, c.chunk)
		yAttn := b.MatMul(nn.AttentionProbs(b, hd.Cm, hd.Bm, w.scale, 0, c.window), hd.X)
		mixed := w.combine(b, ySSD, yAttn)
		b.Output(mixer.OutputMixed, mixed)
		b.Output(mixer.OutputY, s.Output(b, mixed, hd.Z))
	})
}

// MixingMatrix is u → (matrix, values). Mode "within": matrix =
// σ(mix)·(L ∘ C·Bᵀ + diag(D)) + (1 − σ(mix))·softmax_window(C·Bᵀ/√N) per
// head, values = the post-conv x that both paths mix.
func (Mixer) MixingMatrix(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	m, nl, c, ok, err := pick(l)
	if err != nil {
		return nil, err
	}
	if ok {
		return m.MixingMatrix(ctx, nl)
	}
	if c.combine == CombineSharedNormalizer {
		return within(l, c, sharedMixingMatrix(l))
	}
	return within(l, c, func(b *graph.Builder, s mamba2.Layer, w window) {
		d := l.Dims
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		hd := s.Sequence(b, u)
		ssd := nn.SSDMatrix(b, hd.LogA, hd.Bm, hd.Cm, hd.D)
		attn := nn.AttentionProbs(b, hd.Cm, hd.Bm, w.scale, 0, c.window)
		b.Output(mixer.OutputMatrix, w.combine(b, ssd, attn))
		b.Output(mixer.OutputValues, hd.X)
	})
}

// State names of mode "within"'s Step.
const (
	stateConv = mixer.StatePrefix + "conv" // [B, conv channels, K−1], absent when K = 1
	stateSSM  = mixer.StatePrefix + "ssm"  // [B,H,P,N]
	stateK    = mixer.StatePrefix + "k"    // [B,H,S,N]: the B of every position
	stateV    = mixer.StatePrefix + "v"    // [B,H,S,P]: the x of every position
)

// Step processes one token. Mode "within": the SSD's conv and recurrent
// states, and a cache of keys (B) and values (x) by position, of which the
// token's query (C) sees rows in (position − window, position].
func (Mixer) Step(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	m, nl, c, ok, err := pick(l)
	if err != nil {
		return nil, err
	}
	if ok {
		return m.Step(ctx, nl)
	}
	if c.combine == CombineSharedNormalizer {
		return within(l, c, sharedStep(l))
	}
	return within(l, c, func(b *graph.Builder, s mamba2.Layer, w window) {
		d := l.Dims
		dt, sl := d.DType, d.SeqLen
		h, p, n, cc, k := s.Sizes()
		u := b.Input(mixer.InputU, dt, d.Batch, 1, d.DModel)
		pos := b.Input(mixer.InputPosition, graph.I32)
		convState := graph.NoValue
		if k > 1 {
			convState = b.Input(stateConv, dt, d.Batch, cc, k-1)
		}
		ssm := b.Input(stateSSM, dt, d.Batch, h, p, n)
		cacheK := b.Input(stateK, dt, d.Batch, h, sl, n)
		cacheV := b.Input(stateV, dt, d.Batch, h, sl, p)

		hd, nextConv := s.Token(b, u, convState) // x [B,H,1,P], Bm, Cm [B,H,1,N]
		one := func(v graph.Value, last int) graph.Value { return b.Reshape(v, d.Batch, h, last) }
		ySSD, nextSSM := nn.SSDStep(b, ssm, one(hd.X, p), b.Reshape(hd.LogA, d.Batch, h), one(hd.Bm, n), one(hd.Cm, n), hd.D)
		ySSD = b.Reshape(ySSD, d.Batch, h, 1, p)

		rows := b.Iota(graph.I32, 0, sl)
		here := b.Reshape(b.Equal(rows, pos), 1, 1, sl, 1)
		k2 := b.Where(here, hd.Bm, cacheK)
		v2 := b.Where(here, hd.X, cacheV)
		masked := b.Max(b.Less(pos, rows), b.Less(b.AddScalar(rows, float64(c.window-1)), pos))
		scores := b.MulScalar(b.MatMulT(hd.Cm, k2, false, true), w.scale) // [B,H,1,S]
		scores = b.Where(b.Reshape(masked, 1, 1, 1, sl), b.Scalar(dt, math.Inf(-1)), scores)
		yAttn := b.MatMul(b.Softmax(scores), v2)

		b.Output(mixer.OutputY, s.Output(b, w.combine(b, ySSD, yAttn), hd.Z))
		b.Output(stateSSM, nextSSM)
		if k > 1 {
			b.Output(stateConv, nextConv)
		}
		b.Output(stateK, k2)
		b.Output(stateV, v2)
	})
}

// InitFromTeacher is the nested mixer's: the attention mixer copies the
// teacher's attention (mode "layer", attention layers), the Mamba-2 mixer
// follows its init attribute (every other layer, and mode "within", where
// mix keeps its Params init).
func (Mixer) InitFromTeacher(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	m, nl, _, ok, err := pick(l)
	if err != nil {
		return nil, err
	}
	if ok {
		return m.InitFromTeacher(ctx, nl)
	}
	return mamba2.Mixer{}.InitFromTeacher(ctx, ssdLayer(l))
}
