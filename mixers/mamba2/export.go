// Exported building blocks of the SSD layer, for mixers that combine it
// with something else in the same layer (mixers/hybrid's within-layer mode):
// the same projection, conv, per-head inputs and gated output that this
// mixer's own fragments use, so the math is written once.

package mamba2

import (
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// Layer is a validated configuration of an SSD layer for one set of dims.
type Layer struct{ c config }

// Configure decodes and validates l's configuration as Params does; the
// error names the attribute.
func Configure(l mixer.Layer) (Layer, error) {
	c, err := configure(l)
	return Layer{c}, err
}

// Sizes are the layer's heads H, head dim P, state size N, conv channels
// (x|B|C) and conv taps K.
func (x Layer) Sizes() (h, p, n, convChannels, k int) {
	return x.c.h, x.c.p, x.c.n, x.c.convChannels(), x.c.k
}

// Heads are the SSD's head-major inputs: X [B,H,T,P] (the values), LogA
// [B,H,T], Bm and Cm [B,H,T,N] (groups repeated to heads, Δ folded into Bm
// for the continuous variant), D [H], and the gate input Z [B,T,H·P].
type Heads struct{ X, LogA, Bm, Cm, D, Z graph.Value }

func exported(s ssd) Heads { return Heads{X: s.x, LogA: s.logA, Bm: s.bm, Cm: s.cm, D: s.d, Z: s.z} }

// Sequence projects and convolves u [B,T,C] into the SSD's inputs,
// declaring the layer's parameters on b as needed.
func (x Layer) Sequence(b *graph.Builder, u graph.Value) Heads {
	return exported(x.c.sequence(b, u))
}

// Token is Sequence for one token u [B,1,C] with the conv state
// [B,conv,K−1] (graph.NoValue when K = 1); it also returns the next conv
// state.
func (x Layer) Token(b *graph.Builder, u, convState graph.Value) (Heads, graph.Value) {
	s, next := x.c.token(b, u, convState)
	return exported(s), next
}

// Output gates y [B,H,T,P] with z and projects it back to [B,T,C].
func (x Layer) Output(b *graph.Builder, y, z graph.Value) graph.Value {
	return x.c.output(b, y, z)
}
