// Mode "within" with combine = "shared_normalizer": LoLCATs' single
// normaliser over the window's softmax scores and a decayed linear term,
// on the SSD's queries C, keys B, values x and decay L.

package hybrid

import (
	"math"

	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// features is φ(x) = elu(x) + 1, positive, written so that no branch
// overflows: the exponential only ever sees min(x, 0).
func features(b *graph.Builder, x graph.Value) graph.Value {
	zero := b.Scalar(b.DType(x), 0)
	return b.Where(b.Less(zero, x), b.AddScalar(x, 1), b.Exp(b.Min(x, zero)))
}

// sharedLogWeights are the log-weights of one normalised row per query,
// from scores = C·Bᵀ/√N, logL = log of the SSD decay (Σ_{k=s+1..t} log α_k)
// and the query and key indices qi, kj (I32, broadcastable): the score for
// the keys of the window (t − window < s ≤ t), logL + log(φ(C_t)·φ(B_s))
// for the keys before it (s ≤ t − window), −∞ for the future. Softmax over
// the keys normalises both parts with one denominator; its subtraction of
// the row's largest log-weight is a shift shared by both parts, so it
// changes nothing but the range of the exponentials.
func sharedLogWeights(b *graph.Builder, scores, logL, phiDot, qi, kj graph.Value, window int) graph.Value {
	dt := b.DType(scores)
	before := b.Less(b.AddScalar(kj, float64(window-1)), qi) // s < t − window + 1
	lin := b.Where(before, b.Add(logL, b.Log(phiDot)), b.Scalar(dt, math.Inf(-1)))
	return b.Where(b.Max(b.Less(qi, kj), before), lin, scores) // the future is −∞ through lin
}

// sharedMatrix is the row-stochastic, causal A [B,H,T,T] of the heads hd.
func sharedMatrix(b *graph.Builder, hd mamba2.Heads, w window) graph.Value {
	t := b.Dim(hd.X, 2)
	scores := b.MulScalar(b.MatMulT(hd.Cm, hd.Bm, false, true), w.scale)
	phiDot := b.MatMulT(features(b, hd.Cm), features(b, hd.Bm), false, true)
	qi, kj := b.Iota(graph.I32, 0, t, t), b.Iota(graph.I32, 1, t, t)
	return b.Softmax(sharedLogWeights(b, scores, nn.Segsum(b, hd.LogA), phiDot, qi, kj, w.c.window))
}

// skip is D·x with d [H] and x [B,H,T,P].
func skip(b *graph.Builder, x, d graph.Value) graph.Value {
	return b.Mul(x, b.Reshape(d, 1, b.Dim(d, 0), 1, 1))
}

// sharedForward builds Forward: mixed = A·x + D·x, O(T²) per sequence.
func sharedForward(l mixer.Layer) func(b *graph.Builder, s mamba2.Layer, w window) {
	return func(b *graph.Builder, s mamba2.Layer, w window) {
		d := l.Dims
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		hd := s.Sequence(b, u)
		mixed := b.Add(b.MatMul(sharedMatrix(b, hd, w), hd.X), skip(b, hd.X, hd.D))
		b.Output(mixer.OutputMixed, mixed)
		b.Output(mixer.OutputY, s.Output(b, mixed, hd.Z))
	}
}

// sharedMixingMatrix builds MixingMatrix: A + diag(D), values x.
func sharedMixingMatrix(l mixer.Layer) func(b *graph.Builder, s mamba2.Layer, w window) {
	return func(b *graph.Builder, s mamba2.Layer, w window) {
		d := l.Dims
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		hd := s.Sequence(b, u)
		t := d.SeqLen
		eye := b.Cast(b.Equal(b.Iota(graph.I32, 0, t, t), b.Iota(graph.I32, 1, t, t)), d.DType)
		b.Output(mixer.OutputMatrix, b.Add(sharedMatrix(b, hd, w), skip(b, b.Reshape(eye, 1, 1, t, t), hd.D)))
		b.Output(mixer.OutputValues, hd.X)
	}
}

// State of combine = "shared_normalizer"'s Step beside the conv state and
// the key/value cache: the log-decay from every cached position to the
// current one.
const stateLogDecay = mixer.StatePrefix + "log_decay" // [B,H,S]: Σ_{k=s+1..t} log α_k for s ≤ t

// sharedStep builds Step: row t of A recomputed from the cache of every
// position's B and x and the log-decay to t, which is carried by adding
// each token's log α to the earlier positions' entries (the keys leave the
// window as t advances, so the cache is needed anyway).
func sharedStep(l mixer.Layer) func(b *graph.Builder, s mamba2.Layer, w window) {
	return func(b *graph.Builder, s mamba2.Layer, w window) {
		d := l.Dims
		dt, sl := d.DType, d.SeqLen
		h, p, n, cc, k := s.Sizes()
		u := b.Input(mixer.InputU, dt, d.Batch, 1, d.DModel)
		pos := b.Input(mixer.InputPosition, graph.I32)
		convState := graph.NoValue
		if k > 1 {
			convState = b.Input(stateConv, dt, d.Batch, cc, k-1)
		}
		cacheK := b.Input(stateK, dt, d.Batch, h, sl, n)
		cacheV := b.Input(stateV, dt, d.Batch, h, sl, p)
		logDecay := b.Input(stateLogDecay, dt, d.Batch, h, sl)

		hd, nextConv := s.Token(b, u, convState) // x [B,H,1,P], Bm, Cm [B,H,1,N], LogA [B,H,1]
		rows := b.Iota(graph.I32, 0, sl)
		here := b.Reshape(b.Equal(rows, pos), 1, 1, sl, 1)
		k2 := b.Where(here, hd.Bm, cacheK)
		v2 := b.Where(here, hd.X, cacheV)
		// Earlier positions decay by this token's α; this one starts at 0.
		ld := b.Where(b.Reshape(b.Less(rows, pos), 1, 1, sl), b.Add(logDecay, b.Reshape(hd.LogA, d.Batch, h, 1)), b.Zeros(dt, 1, 1, sl))

		scores := b.MulScalar(b.MatMulT(hd.Cm, k2, false, true), w.scale)           // [B,H,1,S]
		phiDot := b.MatMulT(features(b, hd.Cm), features(b, k2), false, true)       // [B,H,1,S]
		lw := sharedLogWeights(b, scores, b.Reshape(ld, d.Batch, h, 1, sl), phiDot, // [B,H,1,S]
			b.Reshape(pos, 1, 1, 1, 1), b.Reshape(rows, 1, 1, 1, sl), w.c.window)
		y := b.Add(b.MatMul(b.Softmax(lw), v2), skip(b, hd.X, hd.D))

		b.Output(mixer.OutputY, s.Output(b, y, hd.Z))
		if k > 1 {
			b.Output(stateConv, nextConv)
		}
		b.Output(stateK, k2)
		b.Output(stateV, v2)
		b.Output(stateLogDecay, ld)
	}
}
