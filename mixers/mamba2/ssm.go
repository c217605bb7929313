// The pieces every fragment is built from: the input projection and its
// split, the causal conv (over a whole sequence or one token with a state of
// the last K−1 inputs), the SSD inputs per head, and the gated output.

package mamba2

import (
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// param is the layer's parameter name, declared once per fragment.
func param(b *graph.Builder, dt graph.DType, name string, shape ...int) graph.Value {
	if v, ok := b.Lookup(name); ok {
		return v
	}
	return b.Param(name, dt, shape...)
}

// param is the layer's parameter name with its declared shape.
func (c config) param(b *graph.Builder, dt graph.DType, name string) graph.Value {
	switch name {
	case "in_proj.weight":
		return param(b, dt, name, c.projRows(), c.d)
	case "conv1d.weight":
		return param(b, dt, name, c.convChannels(), c.k)
	case "conv1d.bias":
		return param(b, dt, name, c.convChannels())
	case "z_bias", "norm.weight":
		return param(b, dt, name, c.inner)
	case "dt_bias", "A_log", "D":
		return param(b, dt, name, c.h)
	case "out_proj.weight":
		return param(b, dt, name, c.d, c.inner)
	}
	panic("mamba2: unknown param " + name)
}

// ssd is what the SSD of a layer consumes, head-major: x [B,H,T,P], logA
// [B,H,T] (log of the decay), bm and cm [B,H,T,N] (groups repeated to
// heads; bm already scaled by Δ in the continuous variant), d [H]; and the
// gate input z [B,T,H·P].
type ssd struct {
	x, logA, bm, cm, d, z graph.Value
}

// split cuts in_proj's output [B,T,R] into the convolved x|B|C [B,T,conv],
// the gate z [B,T,H·P] and the decay input (a or dt) [B,T,H].
func (c config) split(b *graph.Builder, proj graph.Value) (xbc, z, a graph.Value) {
	cc := c.convChannels()
	if c.discrete() { // [x | B | C | z | a]
		return b.SliceAxis(proj, 2, 0, cc), b.SliceAxis(proj, 2, cc, cc+c.inner), b.SliceAxis(proj, 2, cc+c.inner, cc+c.inner+c.h)
	}
	// [z | x | B | C | dt]
	return b.SliceAxis(proj, 2, c.inner, c.inner+cc), b.SliceAxis(proj, 2, 0, c.inner), b.SliceAxis(proj, 2, c.inner+cc, c.inner+cc+c.h)
}

// activate is the conv's activation: identity (discrete) or SiLU.
func (c config) activate(b *graph.Builder, xbc graph.Value) graph.Value {
	if c.discrete() {
		return xbc
	}
	return nn.Silu(b, xbc)
}

// heads turns the post-activation x|B|C [B,T,conv] and the decay input
// [B,T,H] into the SSD's head-major inputs.
func (c config) heads(b *graph.Builder, xbc, z, a graph.Value) ssd {
	dt := b.DType(xbc)
	bs, t := b.Dim(xbc, 0), b.Dim(xbc, 1)
	headMajor := func(v graph.Value, heads, dim int) graph.Value {
		return b.Transpose(b.Reshape(v, bs, t, heads, dim), 0, 2, 1, 3)
	}
	gn := c.g * c.n
	x := headMajor(b.SliceAxis(xbc, 2, 0, c.inner), c.h, c.p)
	bm := nn.RepeatHeads(b, headMajor(b.SliceAxis(xbc, 2, c.inner, c.inner+gn), c.g, c.n), c.h/c.g)
	cm := nn.RepeatHeads(b, headMajor(b.SliceAxis(xbc, 2, c.inner+gn, c.inner+2*gn), c.g, c.n), c.h/c.g)
	var logA graph.Value
	if c.discrete() {
		// α = exp(−softplus(a)) = sigmoid(−a).
		logA = b.Transpose(b.Neg(b.Softplus(a)), 0, 2, 1) // [B,H,T]
	} else {
		delta := b.Transpose(b.Softplus(b.Add(a, c.param(b, dt, "dt_bias"))), 0, 2, 1) // Δ [B,H,T]
		aNeg := b.Reshape(b.Neg(b.Exp(c.param(b, dt, "A_log"))), 1, c.h, 1)            // A [1,H,1]
		logA = b.Mul(delta, aNeg)
		// Δ·x·Bᵀ = x·(Δ·B)ᵀ: Δ rides on B, so x stays the values.
		bm = b.Mul(bm, b.Reshape(delta, bs, c.h, t, 1))
	}
	return ssd{x: x, logA: logA, bm: bm, cm: cm, d: c.param(b, dt, "D"), z: z}
}

// sequence projects and convolves u [B,T,C] into the SSD's inputs.
func (c config) sequence(b *graph.Builder, u graph.Value) ssd {
	dt := b.DType(u)
	proj := nn.Linear(b, u, c.param(b, dt, "in_proj.weight"), graph.NoValue)
	xbc, z, a := c.split(b, proj)
	xbc = nn.CausalConv1d(b, xbc, c.param(b, dt, "conv1d.weight"), c.param(b, dt, "conv1d.bias"))
	return c.heads(b, c.activate(b, xbc), z, a)
}

// token projects one token u [B,1,C] and convolves it with convState
// [B,conv,K−1] (the last K−1 pre-conv inputs, oldest first; graph.NoValue
// when K = 1), returning the SSD's inputs for that token and the next conv
// state.
func (c config) token(b *graph.Builder, u, convState graph.Value) (ssd, graph.Value) {
	dt := b.DType(u)
	bs := b.Dim(u, 0)
	cc := c.convChannels()
	proj := nn.Linear(b, u, c.param(b, dt, "in_proj.weight"), graph.NoValue)
	xbc, z, a := c.split(b, proj)
	window := b.Reshape(xbc, bs, cc, 1)
	next := graph.NoValue
	if c.k > 1 {
		window = b.Concat(2, convState, window) // [B,conv,K]: x[t−K+1 … t]
		next = b.SliceAxis(window, 2, 1, c.k)
	}
	w := b.Reshape(c.param(b, dt, "conv1d.weight"), 1, cc, c.k)
	conv := b.Add(b.Reshape(b.ReduceSum(b.Mul(window, w), 2), bs, 1, cc), c.param(b, dt, "conv1d.bias"))
	return c.heads(b, c.activate(b, conv), z, a), next
}

// output gates the SSD output y [B,H,T,P] and projects it back to
// [B,T,C]: out_proj(y ⊙ silu(z + z_bias)) (discrete) or
// out_proj(RMSNorm_group(y ⊙ silu(z))·norm.weight) (continuous).
func (c config) output(b *graph.Builder, y, z graph.Value) graph.Value {
	dt := b.DType(y)
	bs, t := b.Dim(y, 0), b.Dim(y, 2)
	y = b.Reshape(b.Transpose(y, 0, 2, 1, 3), bs, t, c.inner)
	if c.discrete() {
		y = b.Mul(y, nn.Silu(b, b.Add(z, c.param(b, dt, "z_bias"))))
	} else {
		g := b.Reshape(b.Mul(y, nn.Silu(b, z)), bs, t, c.g, c.inner/c.g)
		ms := b.Mean(b.Square(g), 3)
		g = b.Mul(g, b.Rsqrt(b.AddScalar(ms, c.normEps)))
		y = b.Mul(b.Reshape(g, bs, t, c.inner), c.param(b, dt, "norm.weight"))
	}
	return nn.Linear(b, y, c.param(b, dt, "out_proj.weight"), graph.NoValue)
}
