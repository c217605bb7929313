package nn

import (
	"fmt"
	"math"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// The three forms of Mamba-2's state-space duality (SSD) for one layer, all
// in head-major layout: x[B,H,T,P], logA[B,H,T] (log of the per-token decay,
// ≤ 0), bm and cm [B,H,T,N] (B and C already expanded from groups to heads
// with RepeatHeads), d[H] the skip (graph.NoValue for none). They agree:
// y_t = Σ_{s≤t} (Π_{k=s+1..t} α_k)·(C_t·B_s)·x_s + D·x_t.

// Segsum is the stable segment sum of a[..., T]: out[..., i, j] =
// Σ_{k=j+1..i} a_k for i ≥ j and −∞ above the diagonal. It is a masked
// cumulative sum, never a difference of two cumulative sums, so long
// sequences lose no precision.
func Segsum(b *graph.Builder, a graph.Value) graph.Value {
	s := b.Shape(a)
	if len(s) == 0 {
		b.Fail(fmt.Errorf("segsum: expected a[..., T], found %v", b.Type(a)))
		return graph.NoValue
	}
	t := s[len(s)-1]
	full := append(s.Clone(), t)
	rep := b.Broadcast(b.Reshape(a, append(s.Clone(), 1)...), full...) // rep[..., i, j] = a_i
	i, j := b.Iota(graph.I32, 0, t, t), b.Iota(graph.I32, 1, t, t)
	dt := b.DType(a)
	zero := b.Scalar(dt, 0)
	strict := b.Where(b.Less(j, i), rep, zero) // keep a_i only where j < i
	cs := b.Cumsum(strict, len(full)-2)        // Σ_{k ≤ i, k > j} a_k
	return b.Where(b.Less(i, j), b.Scalar(dt, math.Inf(-1)), cs)
}

// SSDMatrix is the materialised mixing matrix M = L ∘ (C·Bᵀ) + diag(D),
// [B,H,T,T], with L = exp(Segsum(logA)). It is what stage 1 of MOHAWK fits
// to the teacher's attention matrix.
func SSDMatrix(b *graph.Builder, logA, bm, cm, d graph.Value) graph.Value {
	l := b.Exp(Segsum(b, logA))
	m := b.Mul(l, b.MatMulT(cm, bm, false, true))
	if d == graph.NoValue {
		return m
	}
	t := b.Dim(logA, -1)
	eye := b.Cast(b.Equal(b.Iota(graph.I32, 0, t, t), b.Iota(graph.I32, 1, t, t)), b.DType(m))
	return b.Add(m, b.Mul(b.Reshape(d, 1, b.Dim(d, 0), 1, 1), eye))
}

// SSDMaterialized is y = M·x with M from SSDMatrix: O(T²) time and memory.
func SSDMaterialized(b *graph.Builder, x, logA, bm, cm, d graph.Value) graph.Value {
	return b.MatMul(SSDMatrix(b, logA, bm, cm, d), x)
}

// SSDChunked computes the same y in chunks of q tokens (Mamba-2's
// "minimal SSD"): quadratic attention-like products inside each chunk, one
// state [P,N] per chunk, a scan of states across chunks, and the states'
// contribution to each chunk's outputs. T is padded to a multiple of q inside
// (zero inputs and zero log-decay after the end change nothing before it).
// Memory is O(T·q), time O(T·q·(P+N)).
func SSDChunked(b *graph.Builder, x, logA, bm, cm, d graph.Value, q int) graph.Value {
	xs := b.Shape(x)
	if len(xs) != 4 || q < 1 {
		b.Fail(fmt.Errorf("ssd chunked: expected x[B,H,T,P] and chunk ≥ 1, found %v and %d", b.Type(x), q))
		return graph.NoValue
	}
	bs, h, t, p := xs[0], xs[1], xs[2], xs[3]
	n := b.Dim(bm, -1)
	q = min(q, t)
	c := (t + q - 1) / q
	pad := c*q - t
	padT := func(v graph.Value, rank int) graph.Value {
		if pad == 0 {
			return v
		}
		lo, hi := make([]int, rank), make([]int, rank)
		hi[2] = pad
		return b.Pad(v, lo, hi)
	}
	X := b.Reshape(padT(x, 4), bs, h, c, q, p)
	A := b.Reshape(padT(logA, 3), bs, h, c, q)
	Bc := b.Reshape(padT(bm, 4), bs, h, c, q, n)
	Cc := b.Reshape(padT(cm, 4), bs, h, c, q, n)

	// 1. Within each chunk: (L ∘ C·Bᵀ)·X.
	L := b.Exp(Segsum(b, A)) // [B,H,c,q,q]
	yDiag := b.MatMul(b.Mul(L, b.MatMulT(Cc, Bc, false, true)), X)

	// 2. Each chunk's end state: Σ_l decay(l→end)·X_lᵀ·B_l, [B,H,c,P,N].
	toEnd := b.Exp(b.CumsumOpts(A, 3, true, true)) // Σ_{k>l} A_k within the chunk
	states := b.MatMulT(b.Mul(X, b.Reshape(toEnd, bs, h, c, q, 1)), Bc, true, false)

	// 3. Scan across chunks: the state entering chunk z sums every earlier
	// chunk's end state, decayed through the chunks between.
	totals := b.ReduceSum(A, 3)                                                                        // [B,H,c,1]
	chunkDecay := b.Exp(Segsum(b, b.Pad(b.Reshape(totals, bs, h, c), []int{0, 0, 1}, []int{0, 0, 0}))) // [B,H,c+1,c+1]
	flat := b.Pad(b.Reshape(states, bs, h, c, p*n), []int{0, 0, 1, 0}, []int{0, 0, 0, 0})              // zero initial state
	entering := b.SliceAxis(b.MatMul(chunkDecay, flat), 2, 0, c)                                       // [B,H,c,P·N]

	// 4. Entering states' contribution: decay(start→l)·C_l·S.
	fromStart := b.Exp(b.Cumsum(A, 3)) // Σ_{k≤l} A_k
	yOff := b.Mul(b.MatMulT(Cc, b.Reshape(entering, bs, h, c, p, n), false, true), b.Reshape(fromStart, bs, h, c, q, 1))

	y := b.Reshape(b.Add(yDiag, yOff), bs, h, c*q, p)
	if pad > 0 {
		y = b.SliceAxis(y, 2, 0, t)
	}
	return addSkip(b, y, x, d)
}

// SSDStep advances the recurrence by one token: S ← α·S + x·Bᵀ and
// y = S·C + D·x, with state[B,H,P,N], x[B,H,P], logA[B,H], bm and cm
// [B,H,N]. It is how a student generates, in O(1) memory per token.
func SSDStep(b *graph.Builder, state, x, logA, bm, cm, d graph.Value) (y, next graph.Value) {
	s := b.Shape(state)
	if len(s) != 4 {
		b.Fail(fmt.Errorf("ssd step: expected state[B,H,P,N], found %v", b.Type(state)))
		return graph.NoValue, graph.NoValue
	}
	bs, h, p, n := s[0], s[1], s[2], s[3]
	alpha := b.Reshape(b.Exp(logA), bs, h, 1, 1)
	outer := b.Mul(b.Reshape(x, bs, h, p, 1), b.Reshape(bm, bs, h, 1, n))
	next = b.Add(b.Mul(alpha, state), outer)
	y = b.Reshape(b.MatMul(next, b.Reshape(cm, bs, h, n, 1)), bs, h, p)
	return addSkip(b, y, x, d), next
}

// SSDRecurrent runs SSDStep over every token from a zero state: the
// reference form of the recurrence (its graph grows with T; use it for
// checks and short sequences).
func SSDRecurrent(b *graph.Builder, x, logA, bm, cm, d graph.Value) graph.Value {
	xs := b.Shape(x)
	if len(xs) != 4 {
		b.Fail(fmt.Errorf("ssd recurrent: expected x[B,H,T,P], found %v", b.Type(x)))
		return graph.NoValue
	}
	bs, h, t, p := xs[0], xs[1], xs[2], xs[3]
	n := b.Dim(bm, -1)
	state := b.Zeros(b.DType(x), bs, h, p, n)
	ys := make([]graph.Value, t)
	at := func(v graph.Value, i int) graph.Value {
		vs := b.Shape(v)
		out := append(vs[:2].Clone(), vs[3:]...)
		return b.Reshape(b.SliceAxis(v, 2, i, i+1), out...)
	}
	for i := 0; i < t; i++ {
		var y graph.Value
		y, state = SSDStep(b, state, at(x, i), b.Reshape(b.SliceAxis(logA, 2, i, i+1), bs, h), at(bm, i), at(cm, i), d)
		ys[i] = b.Reshape(y, bs, h, 1, p)
	}
	return b.Concat(2, ys...)
}

func addSkip(b *graph.Builder, y, x, d graph.Value) graph.Value {
	if d == graph.NoValue {
		return y
	}
	shape := make([]int, len(b.Shape(x)))
	for i := range shape {
		shape[i] = 1
	}
	shape[1] = b.Dim(d, 0)
	return b.Add(y, b.Mul(x, b.Reshape(d, shape...)))
}
