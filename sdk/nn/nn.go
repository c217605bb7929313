// Package nn holds the building blocks of sequence models written once, in
// IR ops, for every model family, mixer and backend: linear layers,
// activations, rotary embeddings, causal attention, the depthwise causal
// convolution and the three forms of Mamba-2's SSD. Each function appends
// nodes to a graph.Builder and names its shapes in its comment (B batch,
// T time, C channels, H heads, P head dim, N state size).
package nn

import (
	"fmt"
	"math"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Linear is x[..., in]·wᵀ (+ bias[out] unless bias is graph.NoValue) with w
// in PyTorch's layout [out, in], so checkpoints load without transposes. x is
// flattened to a matrix so the product and its gradients are single GEMMs.
func Linear(b *graph.Builder, x, w, bias graph.Value) graph.Value {
	xs := b.Shape(x)
	if len(xs) == 0 {
		b.Fail(fmt.Errorf("linear: x must have rank ≥ 1, found %v", b.Type(x)))
		return graph.NoValue
	}
	in := xs[len(xs)-1]
	out := b.Dim(w, 0)
	y := b.MatMulT(b.Reshape(x, -1, in), w, false, true)
	if bias != graph.NoValue {
		y = b.Add(y, bias)
	}
	return b.Reshape(y, append(xs[:len(xs)-1].Clone(), out)...)
}

// GeluTanh is GELU with the tanh approximation (Hugging Face "gelu_new"):
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func GeluTanh(b *graph.Builder, x graph.Value) graph.Value {
	x3 := b.Mul(x, b.Square(x))
	inner := b.MulScalar(b.Add(x, b.MulScalar(x3, 0.044715)), math.Sqrt(2/math.Pi))
	return b.Mul(b.MulScalar(x, 0.5), b.AddScalar(b.Tanh(inner), 1))
}

// Silu is x·sigmoid(x).
func Silu(b *graph.Builder, x graph.Value) graph.Value { return b.Mul(x, b.Sigmoid(x)) }

// CausalMaskCond is an i32 [T,S] tensor that is 1 where key s lies in the
// future of query t (s > t + offset) or, with window > 0, further than
// window−1 positions in its past; those scores are masked out.
func CausalMaskCond(b *graph.Builder, t, s, offset, window int) graph.Value {
	qi := b.AddScalar(b.Iota(graph.I32, 0, t, s), float64(offset))
	kj := b.Iota(graph.I32, 1, t, s)
	future := b.Less(qi, kj)
	if window <= 0 {
		return future
	}
	tooOld := b.Less(b.AddScalar(kj, float64(window-1)), qi) // s < t − (window−1)
	return b.Max(future, tooOld)
}

// RepeatHeads expands x[B, G, T, D] to [B, G·r, T, D], each group repeated r
// times in a row (head h uses group h / r), as grouped-query attention and
// grouped SSD B/C do.
func RepeatHeads(b *graph.Builder, x graph.Value, r int) graph.Value {
	if r == 1 {
		return x
	}
	s := b.Shape(x)
	if len(s) != 4 {
		b.Fail(fmt.Errorf("repeat heads: expected [B,G,T,D], found %v", b.Type(x)))
		return graph.NoValue
	}
	e := b.Broadcast(b.Reshape(x, s[0], s[1], 1, s[2], s[3]), s[0], s[1], r, s[2], s[3])
	return b.Reshape(e, s[0], s[1]*r, s[2], s[3])
}

// AttentionProbs is softmax(q·kᵀ·scale + causal mask) for q[B,H,T,D] and
// k[B,Hkv,S,D] (Hkv divides H); the post-softmax matrix [B,H,T,S]. offset is
// the position of the first query (S − T when a cache holds earlier keys);
// window > 0 limits each query to its last window keys.
func AttentionProbs(b *graph.Builder, q, k graph.Value, scale float64, offset, window int) graph.Value {
	h, hkv := b.Dim(q, 1), b.Dim(k, 1)
	if hkv == 0 || h%hkv != 0 {
		b.Fail(fmt.Errorf("attention: %d key heads do not divide %d query heads", hkv, h))
		return graph.NoValue
	}
	k = RepeatHeads(b, k, h/hkv)
	scores := b.MulScalar(b.MatMulT(q, k, false, true), scale)
	masked := CausalMaskCond(b, b.Dim(q, 2), b.Dim(k, 2), offset, window)
	scores = b.Where(masked, b.Scalar(b.DType(q), math.Inf(-1)), scores)
	return b.Softmax(scores)
}

// CausalAttention is AttentionProbs(q, k)·v with v[B,Hkv,S,D]: the output
// [B,H,T,D].
func CausalAttention(b *graph.Builder, q, k, v graph.Value, scale float64, offset, window int) graph.Value {
	p := AttentionProbs(b, q, k, scale, offset, window)
	return b.MatMul(p, RepeatHeads(b, v, b.Dim(q, 1)/max(b.Dim(v, 1), 1)))
}

// RoPE rotates the first rotaryDim channels of x[B,H,T,D] by position
// (offset + t) with base theta, in the "rotate half" layout that Hugging
// Face's Llama, Phi and GPT-NeoX use; the other channels pass through
// (partial rotary, as Phi's). The cos/sin tables are computed in float64 and
// embedded as constants.
func RoPE(b *graph.Builder, x graph.Value, rotaryDim int, theta float64, offset int) graph.Value {
	if rotaryDim <= 0 || rotaryDim%2 != 0 {
		b.Fail(fmt.Errorf("rope: rotary dim %d must be even and ≤ the head dim of %v", rotaryDim, b.Type(x)))
		return graph.NoValue
	}
	return RoPEInvFreq(b, x, RoPEInvFreqs(rotaryDim, theta), offset)
}

// RoPEInvFreqs are the inverse frequencies theta^(−2i/rotaryDim), i <
// rotaryDim/2, of the plain rotary embedding: channel pair i turns by
// position·invFreq[i].
func RoPEInvFreqs(rotaryDim int, theta float64) []float64 {
	inv := make([]float64, rotaryDim/2)
	for i := range inv {
		inv[i] = math.Pow(theta, -float64(2*i)/float64(rotaryDim))
	}
	return inv
}

// llama3Scale rescales inverse frequencies inv in place as Llama 3.1's
// rope scaling does, against the original context length L =
// originalMaxPositions: a frequency f whose wavelength λ = 2π/f is below
// L/highFreqFactor is kept, one whose wavelength is above L/lowFreqFactor
// becomes f/factor, and in between f·((1−s)/factor + s) with s = (L/λ −
// lowFreqFactor)/(highFreqFactor − lowFreqFactor), 0 at the long end and 1
// at the short one, so the result is continuous across the bands.
func llama3Scale(inv []float64, factor, lowFreqFactor, highFreqFactor float64, originalMaxPositions int) {
	l := float64(originalMaxPositions)
	shortest, longest := l/highFreqFactor, l/lowFreqFactor
	for i, f := range inv {
		switch lambda := 2 * math.Pi / f; {
		case lambda < shortest:
		case lambda > longest:
			inv[i] = f / factor
		default:
			s := (l/lambda - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
			inv[i] = f * ((1-s)/factor + s)
		}
	}
}

// Rope scaling types, named as transformers' rope_type names them.
const (
	RoPELinear = "linear" // every frequency divided by the factor
	RoPELlama3 = "llama3" // Llama 3.1's three wavelength bands
)

// RoPEScaling rescales the rotary embedding's frequencies for a longer
// context: Type "" (or "default") keeps them, RoPELinear divides every one
// by Factor, RoPELlama3 applies Llama 3.1's
// scaling with the other fields: frequencies whose wavelength is below
// OriginalMaxPositions/HighFreqFactor are kept, those above
// OriginalMaxPositions/LowFreqFactor divided by Factor, and those between
// blended continuously.
type RoPEScaling struct {
	Type                          string
	Factor                        float64
	LowFreqFactor, HighFreqFactor float64
	OriginalMaxPositions          int
}

// InvFreqs are the rotaryDim/2 inverse frequencies of RoPEInvFreqs,
// rescaled by s.
func (s RoPEScaling) InvFreqs(rotaryDim int, theta float64) []float64 {
	inv := RoPEInvFreqs(rotaryDim, theta)
	switch s.Type {
	case RoPELinear:
		for i := range inv {
			inv[i] /= s.Factor
		}
	case RoPELlama3:
		llama3Scale(inv, s.Factor, s.LowFreqFactor, s.HighFreqFactor, s.OriginalMaxPositions)
	}
	return inv
}

// RoPEInvFreq is RoPE with the inverse frequencies given (a rescaled rotary
// embedding, as Llama 3's): it rotates the first 2·len(invFreq) channels of
// x[B,H,T,D], pair (i, i+len(invFreq)) by the angle (offset+t)·invFreq[i].
func RoPEInvFreq(b *graph.Builder, x graph.Value, invFreq []float64, offset int) graph.Value {
	s := b.Shape(x)
	half := len(invFreq)
	rotaryDim := 2 * half
	if len(s) != 4 || half == 0 || rotaryDim > s[3] {
		b.Fail(fmt.Errorf("rope: rotary dim %d must be even and ≤ the head dim of %v", rotaryDim, b.Type(x)))
		return graph.NoValue
	}
	t := s[2]
	cos, sin := make([]float64, t*rotaryDim), make([]float64, t*rotaryDim)
	for p := 0; p < t; p++ {
		for i, f := range invFreq {
			ang := float64(offset+p) * f
			for _, j := range []int{i, i + half} {
				cos[p*rotaryDim+j], sin[p*rotaryDim+j] = math.Cos(ang), math.Sin(ang)
			}
		}
	}
	dt := b.DType(x)
	rot := b.SliceAxis(x, 3, 0, rotaryDim)
	x1, x2 := b.SliceAxis(rot, 3, 0, half), b.SliceAxis(rot, 3, half, rotaryDim)
	rotated := b.Concat(3, b.Neg(x2), x1)
	out := b.Add(b.Mul(rot, b.Const(dt, []int{t, rotaryDim}, cos)), b.Mul(rotated, b.Const(dt, []int{t, rotaryDim}, sin)))
	if rotaryDim == s[3] {
		return out
	}
	return b.Concat(3, out, b.SliceAxis(x, 3, rotaryDim, s[3]))
}

// CausalConv1d is a depthwise causal convolution of x[B,T,C] with taps
// w[C,K] and bias[C] (graph.NoValue for none): y[t,c] = bias[c] +
// Σ_k w[c,k]·x[t−(K−1)+k, c], with zeros before the start. It is PyTorch's
// Conv1d(groups=C, padding=K−1) cut to the first T outputs.
func CausalConv1d(b *graph.Builder, x, w, bias graph.Value) graph.Value {
	s := b.Shape(x)
	k := b.Dim(w, 1)
	if len(s) != 3 || b.Dim(w, 0) != s[2] || k < 1 {
		b.Fail(fmt.Errorf("causal conv1d: expected x[B,T,C] and w[C,K], found %v and %v", b.Type(x), b.Type(w)))
		return graph.NoValue
	}
	xp := b.Pad(x, []int{0, k - 1, 0}, []int{0, 0, 0})
	y := graph.NoValue
	for j := 0; j < k; j++ {
		tap := b.Reshape(b.SliceAxis(w, 1, j, j+1), s[2])
		term := b.Mul(b.SliceAxis(xp, 1, j, j+s[1]), tap)
		if y == graph.NoValue {
			y = term
		} else {
			y = b.Add(y, term)
		}
	}
	if bias != graph.NoValue {
		y = b.Add(y, bias)
	}
	return y
}
