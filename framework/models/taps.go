package models

// taps.go exposes a model's per-layer values (the "taps") to the programs
// that distil it layer by layer, and builds a model under a name prefix so a
// frozen teacher and its student can live in one graph.

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// LayerTaps are the values of one block of a built model, shapes [B,T,C]
// unless said otherwise. A tap is only a handle on a node the model computes
// anyway: one nothing reads costs nothing (backends drop dead nodes).
type LayerTaps struct {
	Residual graph.Value // the residual stream entering the block
	Input    graph.Value // u: the block's normed input, what the mixer reads
	Mixer    graph.Value // the mixer (attention) sublayer's output, after its output projection, before the residual add
	Block    graph.Value // the residual stream leaving the block
	// Probs is the teacher attention's post-softmax matrix [B,H,T,T] (the
	// same node the layer multiplies its values with); graph.NoValue for a
	// layer whose mixer is not the model's own attention.
	Probs graph.Value
	// WithMixer builds the block's output when its mixer sublayer outputs
	// mix [B,T,C] instead, reusing the block's own norms and MLP params:
	// Residual + mix + MLP(u) for Phi's parallel block, h₁ + MLP(norm(h₁))
	// with h₁ = Residual + mix for the sequential Llama and GPT-2 blocks.
	WithMixer func(mix graph.Value) graph.Value
}

// BuildOptions choose what BuildModel builds.
type BuildOptions struct {
	// Prefix is prepended to every param name (a frozen teacher beside its
	// student: "teacher/model.layers.0...").
	Prefix string
	// Layers > 0 builds only the first Layers blocks, without the final
	// norm and the head (LM.Logits is then graph.NoValue): what layer-wise
	// stages need of a teacher.
	Layers int
	// Mixers replaces the mixer of the layers it holds (a student).
	Mixers map[int]LayerMixer
	// SeqLen > 0 overrides the config's sequence length.
	SeqLen int
	Seed   uint64
	// ShapesOnly builds the graph and the param list without any initial
	// value (every Param.Init nil): what counting params, FLOPs and memory
	// needs, or a caller that fills the values from elsewhere.
	ShapesOnly bool
	// InitOnly, when set (and ShapesOnly is not), gives an initial value
	// only to the params whose full names it accepts. Each value made is
	// the one a full build with Seed gives; the random draws of params
	// left out are made only as far as a later accepted param needs them.
	InitOnly func(name string) bool
}

// buildOpts is what the family builders take besides the config.
type buildOpts struct {
	prefix string
	layers int                    // blocks to build; the head only when it is all of them
	want   func(name string) bool // params that get an initial value; nil: all
}

// initializer starts the param stream of a model built with o.
func (o buildOpts) initializer(b *graph.Builder, dt graph.DType, seed uint64) *initializer {
	return &initializer{b: b, dt: dt, prefix: o.prefix, want: o.want, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// noParams accepts no param: a shapes-only build.
func noParams(string) bool { return false }

// BuildModel builds cfg's family over tokens [batch, SeqLen] with the
// options: the student when opt.Mixers is set, the teacher otherwise. An
// i32 input "tokens" already in b is reused (two models read the same
// tokens), otherwise it is declared.
func BuildModel(ctx context.Context, b *graph.Builder, cfg HFConfig, dt graph.DType, batch int, opt BuildOptions) (*LM, error) {
	bo := buildOpts{prefix: opt.Prefix, layers: opt.Layers, want: opt.InitOnly}
	if opt.ShapesOnly {
		bo.want = noParams
	}
	switch cfg.Family {
	case FamilyPhi:
		if cfg.Phi == nil {
			return nil, fmt.Errorf("phi family without a phi config")
		}
		c := *cfg.Phi
		if opt.SeqLen > 0 {
			c.SeqLen = opt.SeqLen
		}
		c.Mixers = opt.Mixers
		return buildPhiOpts(ctx, b, c, dt, batch, opt.Seed, bo)
	case FamilyLlama:
		if cfg.Llama == nil {
			return nil, fmt.Errorf("llama family without a llama config")
		}
		c := *cfg.Llama
		if opt.SeqLen > 0 {
			c.SeqLen = opt.SeqLen
		}
		c.Mixers = opt.Mixers
		return buildLlamaOpts(ctx, b, c, dt, batch, opt.Seed, bo)
	case FamilyGPT2:
		if cfg.GPT2 == nil {
			return nil, fmt.Errorf("gpt2 family without a gpt2 config")
		}
		c := *cfg.GPT2
		if opt.SeqLen > 0 {
			c.SeqLen = opt.SeqLen
		}
		c.Mixers = opt.Mixers
		return buildGPT2Opts(ctx, b, c, dt, batch, opt.Seed, bo)
	}
	return nil, fmt.Errorf("model family %q is not supported (phi, llama, gpt2)", cfg.Family)
}

// blocks is how many blocks to build of a model with layers, and whether
// the final norm and head follow.
func (o buildOpts) blocks(layers int) (int, bool, error) {
	switch {
	case o.layers < 0 || o.layers > layers:
		return 0, false, fmt.Errorf("cannot build the first %d blocks of a model with %d layers", o.layers, layers)
	case o.layers == 0:
		return layers, true, nil
	}
	return o.layers, false, nil
}

// tokensInput returns the model's i32 input "tokens" [batch, t], reusing
// one already declared in b.
func tokensInput(b *graph.Builder, batch, t int) graph.Value {
	want := graph.Type{DType: graph.I32, Shape: graph.Shape{batch, t}}
	if v, ok := b.Lookup("tokens"); ok {
		if got := b.Type(v); !got.Equal(want) || b.Node(v).Op != graph.OpInput {
			b.Fail(fmt.Errorf("the graph already has a %s \"tokens\" of type %v, the model reads an input of type %v", b.Node(v).Op, got, want))
			return graph.NoValue
		}
		return v
	}
	return b.Input("tokens", graph.I32, batch, t)
}

// Layers is the number of blocks of cfg's model.
func (c HFConfig) Layers() int { return cfgLayers(c) }

// Vocab is the vocabulary size of cfg's model.
func (c HFConfig) Vocab() int {
	switch {
	case c.Phi != nil:
		return c.Phi.Vocab
	case c.Llama != nil:
		return c.Llama.Vocab
	case c.GPT2 != nil:
		return c.GPT2.Vocab
	}
	return 0
}

// Heads is the number of attention heads of cfg's model.
func (c HFConfig) Heads() int {
	switch {
	case c.Phi != nil:
		return c.Phi.Heads
	case c.Llama != nil:
		return c.Llama.Heads
	case c.GPT2 != nil:
		return c.GPT2.Heads
	}
	return 0
}

// LayerDims are the dims the builders give a replaced layer l's mixer over
// tokens [batch, seqLen] (seqLen 0: the config's).
func (c HFConfig) LayerDims(batch, seqLen, l int, dt graph.DType) mixer.Dims {
	d := mixer.Dims{Batch: batch, SeqLen: seqLen, Layer: l, DType: dt}
	switch {
	case c.Phi != nil:
		d.DModel, d.Heads, d.KVHeads = c.Phi.DModel, c.Phi.Heads, c.Phi.Heads
		if seqLen == 0 {
			d.SeqLen = c.Phi.SeqLen
		}
	case c.Llama != nil:
		l := c.Llama.Defaults()
		d.DModel, d.Heads, d.KVHeads = l.DModel, l.Heads, l.KVHeads
		if seqLen == 0 {
			d.SeqLen = l.SeqLen
		}
	case c.GPT2 != nil:
		d.DModel, d.Heads, d.KVHeads = c.GPT2.DModel, c.GPT2.Heads, c.GPT2.Heads
		if seqLen == 0 {
			d.SeqLen = c.GPT2.SeqLen
		}
	}
	return d
}

// MixerPrefix is the name prefix of layer l's replaced mixer params, as
// BuildStudent names them: "model.layers.l.mixer." ("transformer.h.l.mixer."
// for GPT-2).
func (c HFConfig) MixerPrefix(l int) string {
	if c.Family == FamilyGPT2 {
		return fmt.Sprintf("transformer.h.%d.mixer.", l)
	}
	return fmt.Sprintf("model.layers.%d.mixer.", l)
}

// attend is causal attention written as nn.CausalAttention writes it, so
// that the probabilities [B,H,T,S] are a node of the graph the model
// multiplies its values v[B,Hkv,S,D] with: y [B,H,T,D].
func attend(b *graph.Builder, q, k, v graph.Value, scale float64) (probs, y graph.Value) {
	probs = nn.AttentionProbs(b, q, k, scale, 0, 0)
	return probs, b.MatMul(probs, nn.RepeatHeads(b, v, b.Dim(q, 1)/max(b.Dim(v, 1), 1)))
}
