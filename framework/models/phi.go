// Package models builds language models as IR graphs. phi.go is the Phi
// family (Phi-1, 1.5, 2): token embedding, blocks of the parallel form
// h + mixer(LN h) + MLP(LN h) with one shared LayerNorm, a final LayerNorm and
// an LM head with bias. A layer's mixer is the teacher's attention or a
// student's discrete Mamba-2 (MOHAWK.md).
package models

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// Mixer kinds.
const (
	MixerAttention      = "attention"
	MixerDiscreteMamba2 = "discrete_mamba2"
)

// PhiConfig describes a Phi-style model. Zero fields take the defaults of
// Defaults.
type PhiConfig struct {
	Vocab, DModel, Layers, Heads, SeqLen int
	MLPHidden                            int     // 4·DModel
	RotaryDim                            int     // half the head dim, as Phi-1.5
	RopeTheta                            float64 // 10000
	LayerNormEps                         float64 // 1e-5
	Mixer                                string  // attention
	SSMState                             int     // N: the head dim
	SSMGroups                            int     // n_qk_heads: Heads
	ConvKernel                           int     // 4
	Chunk                                int     // 64
	// Mixers replaces the mixer of the layers it holds (a student; see
	// BuildStudent), whatever Mixer says.
	Mixers map[int]LayerMixer
}

// Defaults fills zero fields.
func (c PhiConfig) Defaults() PhiConfig {
	hd := 0
	if c.Heads > 0 {
		hd = c.DModel / c.Heads
	}
	set := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	set(&c.MLPHidden, 4*c.DModel)
	set(&c.RotaryDim, hd/2)
	set(&c.SSMState, hd)
	set(&c.SSMGroups, c.Heads)
	set(&c.ConvKernel, 4)
	set(&c.Chunk, 64)
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if c.LayerNormEps == 0 {
		c.LayerNormEps = 1e-5
	}
	if c.Mixer == "" {
		c.Mixer = MixerAttention
	}
	return c
}

// Validate names the first attribute that cannot work.
func (c PhiConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab", c.Vocab}, {"d_model", c.DModel}, {"layers", c.Layers}, {"heads", c.Heads}, {"seq_len", c.SeqLen}} {
		if f.v <= 0 {
			return fmt.Errorf("%s must be positive, found %d", f.name, f.v)
		}
	}
	if c.DModel%c.Heads != 0 {
		return fmt.Errorf("heads (%d) must divide d_model (%d)", c.Heads, c.DModel)
	}
	hd := c.DModel / c.Heads
	if c.RotaryDim%2 != 0 || c.RotaryDim > hd {
		return fmt.Errorf("rotary_dim (%d) must be even and at most the head dim %d", c.RotaryDim, hd)
	}
	if c.Mixer != MixerAttention && c.Mixer != MixerDiscreteMamba2 {
		return fmt.Errorf("mixer %q is unknown (expected %q or %q)", c.Mixer, MixerAttention, MixerDiscreteMamba2)
	}
	if c.SSMGroups <= 0 || c.Heads%c.SSMGroups != 0 {
		return fmt.Errorf("ssm groups (%d) must divide heads (%d)", c.SSMGroups, c.Heads)
	}
	return nil
}

// Param is one trainable tensor of a model with its initial value.
type Param struct {
	Name  string
	Value graph.Value
	Shape graph.Shape
	DType graph.DType
	// Init is the param's random initial value; nil when the model was
	// built without it (BuildOptions.ShapesOnly, or a name that
	// BuildOptions.InitOnly leaves out).
	Init    *graph.Tensor
	NoDecay bool // norms, biases and SSM skips take no weight decay
}

// Size is the number of elements of the param.
func (p Param) Size() int64 { return int64(p.Shape.Size()) }

// LM is a built language model: logits [B,T,V] over input tokens [B,T],
// and each built block's taps (see LayerTaps).
type LM struct {
	Tokens graph.Value
	Logits graph.Value // graph.NoValue when only the first blocks were built
	Params []Param
	Layers []LayerTaps
}

// initializer creates params with deterministic random initial values,
// drawn in creation order from one stream. With want set, only the params
// it accepts get a value; the draws of the others are owed (pending) and
// made only when a later accepted param needs the stream, so every value
// made is the one a full build gives, and nothing is drawn after the last
// accepted param.
type initializer struct {
	b       *graph.Builder
	prefix  string // of every param name
	dt      graph.DType
	rng     *rand.Rand
	params  []Param
	want    func(name string) bool // nil: every param
	pending int                    // draws owed to the stream
}

// wants reports whether the param name gets an initial value.
func (in *initializer) wants(name string) bool { return in.want == nil || in.want(name) }

// param declares a param; fill gives element i's initial value and draws
// says how many values of the stream it takes per element (0 or 1).
func (in *initializer) param(name string, noDecay bool, draws int, fill func(i int) float64, shape ...int) graph.Value {
	name = in.prefix + name
	v := in.b.Param(name, in.dt, shape...)
	prm := Param{Name: name, Value: v, Shape: graph.Shape(shape).Clone(), DType: in.dt, NoDecay: noDecay}
	n := prm.Shape.Size()
	if in.wants(name) {
		for ; in.pending > 0; in.pending-- {
			in.rng.NormFloat64()
		}
		t := graph.NewTensor(in.dt, shape...)
		for i := 0; i < n; i++ {
			t.Set(i, fill(i))
		}
		prm.Init = t
	} else {
		in.pending += draws * n
	}
	in.params = append(in.params, prm)
	return v
}

func (in *initializer) normal(name string, std float64, shape ...int) graph.Value {
	return in.param(name, false, 1, func(int) float64 { return std * in.rng.NormFloat64() }, shape...)
}
func (in *initializer) constant(name string, v float64, shape ...int) graph.Value {
	return in.param(name, true, 0, func(int) float64 { return v }, shape...)
}

// BuildPhi appends a Phi-style LM over an i32 input "tokens" [batch, SeqLen]
// to b, with parameters named as Hugging Face's PhiForCausalLM names them and
// initialised from seed (normal, std 0.02; residual projections scaled by
// 1/√(2·layers); norms 1 and 0).
func BuildPhi(b *graph.Builder, cfg PhiConfig, dt graph.DType, batch int, seed uint64) (*LM, error) {
	return buildPhiOpts(context.Background(), b, cfg, dt, batch, seed, buildOpts{})
}

func buildPhiOpts(ctx context.Context, b *graph.Builder, cfg PhiConfig, dt graph.DType, batch int, seed uint64, opt buildOpts) (*LM, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("phi config: %w", err)
	}
	if err := checkMixerLayers(cfg.Mixers, cfg.Layers); err != nil {
		return nil, fmt.Errorf("phi config: %w", err)
	}
	blocks, head, err := opt.blocks(cfg.Layers)
	if err != nil {
		return nil, fmt.Errorf("phi config: %w", err)
	}
	in := opt.initializer(b, dt, seed)
	d, t := cfg.DModel, cfg.SeqLen
	resid := 0.02 / math.Sqrt(2*float64(cfg.Layers))
	tokens := tokensInput(b, batch, t)
	h := b.Gather(in.normal("model.embed_tokens.weight", 0.02, cfg.Vocab, d), tokens)
	taps := make([]LayerTaps, 0, blocks)
	rope := newRopeTables(nn.RoPEInvFreqs(cfg.RotaryDim, cfg.RopeTheta))
	for l := 0; l < blocks; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		u := b.LayerNorm(h, in.constant(p+"input_layernorm.weight", 1, d), in.constant(p+"input_layernorm.bias", 0, d), cfg.LayerNormEps)
		mix, probs := graph.NoValue, graph.NoValue
		if lm, ok := cfg.Mixers[l]; ok {
			dims := mixer.Dims{Batch: batch, SeqLen: t, DModel: d, Heads: cfg.Heads, KVHeads: cfg.Heads, Layer: l, DType: dt}
			var err error
			if mix, err = in.mixerLayer(ctx, lm, in.prefix+p+"mixer.", u, dims, seed); err != nil {
				return nil, fmt.Errorf("layer %d mixer: %w", l, err)
			}
		} else if cfg.Mixer == MixerAttention {
			mix, probs = phiAttention(b, in, cfg, p+"self_attn.", u, batch, resid, rope)
		} else {
			mix = discreteMamba2(b, in, cfg, p+"mixer.", u, batch, resid)
		}
		f := nn.Linear(b, u, in.normal(p+"mlp.fc1.weight", 0.02, cfg.MLPHidden, d), in.constant(p+"mlp.fc1.bias", 0, cfg.MLPHidden))
		f = nn.Linear(b, nn.GeluTanh(b, f), in.normal(p+"mlp.fc2.weight", resid, d, cfg.MLPHidden), in.constant(p+"mlp.fc2.bias", 0, d))
		// The parallel block: the MLP reads u, not the mixer's output.
		entering := h
		withMixer := func(m graph.Value) graph.Value { return b.Add(entering, b.Add(m, f)) }
		h = withMixer(mix)
		taps = append(taps, LayerTaps{Residual: entering, Input: u, Mixer: mix, Block: h, Probs: probs, WithMixer: withMixer})
	}
	logits := graph.NoValue
	if head {
		h = b.LayerNorm(h, in.constant("model.final_layernorm.weight", 1, d), in.constant("model.final_layernorm.bias", 0, d), cfg.LayerNormEps)
		logits = nn.Linear(b, h, in.normal("lm_head.weight", 0.02, cfg.Vocab, d), in.constant("lm_head.bias", 0, cfg.Vocab))
	}
	if err := b.Err(); err != nil {
		return nil, err
	}
	return &LM{Tokens: tokens, Logits: logits, Params: in.params, Layers: taps}, nil
}

// phiAttention is Phi's attention: q, k, v and dense projections with
// biases, partial rotary embedding, causal softmax. u[B,T,C] → y[B,T,C] and
// the post-softmax probabilities [B,H,T,T].
func phiAttention(b *graph.Builder, in *initializer, cfg PhiConfig, p string, u graph.Value, batch int, resid float64, rope *ropeTables) (y, probs graph.Value) {
	d, h, t := cfg.DModel, cfg.Heads, cfg.SeqLen
	hd := d / h
	heads := func(name string) graph.Value {
		x := nn.Linear(b, u, in.normal(p+name+".weight", 0.02, d, d), in.constant(p+name+".bias", 0, d))
		return b.Transpose(b.Reshape(x, batch, t, h, hd), 0, 2, 1, 3) // [B,H,T,D]
	}
	q, k, v := heads("q_proj"), heads("k_proj"), heads("v_proj")
	if cfg.RotaryDim > 0 {
		q, k = rope.apply(b, q), rope.apply(b, k)
	}
	probs, y = attend(b, q, k, v, 1/math.Sqrt(float64(hd)))
	y = b.Reshape(b.Transpose(y, 0, 2, 1, 3), batch, t, d)
	return nn.Linear(b, y, in.normal(p+"dense.weight", resid, d, d), in.constant(p+"dense.bias", 0, d)), probs
}

// discreteMamba2 is the Phi-Mamba student mixer (MOHAWK.md): in_proj →
// [x | B | C | z | a]; depthwise causal conv (identity activation) over x, B,
// C; decay α = sigmoid(−a), so log α = −softplus(a); chunked SSD with skip D;
// gate silu(z + z_bias); out_proj. u[B,T,C] → [B,T,C].
func discreteMamba2(b *graph.Builder, in *initializer, cfg PhiConfig, p string, u graph.Value, batch int, resid float64) graph.Value {
	d, h, t, n, g := cfg.DModel, cfg.Heads, cfg.SeqLen, cfg.SSMState, cfg.SSMGroups
	hp := d // expand 1: H·P = d_model
	pd := hp / h
	conv := hp + 2*g*n
	proj := nn.Linear(b, u, in.normal(p+"in_proj.weight", 0.02, conv+hp+h, d), graph.NoValue)
	k := cfg.ConvKernel
	// The default MOHAWK init: the convolution starts as the identity.
	xbc := nn.CausalConv1d(b, b.SliceAxis(proj, 2, 0, conv),
		in.param(p+"conv1d.weight", false, 0, func(i int) float64 { return bool2f(i%k == k-1) }, conv, k),
		in.constant(p+"conv1d.bias", 0, conv))
	z := b.SliceAxis(proj, 2, conv, conv+hp)
	a := b.SliceAxis(proj, 2, conv+hp, conv+hp+h)
	headMajor := func(v graph.Value, heads, dim int) graph.Value {
		return b.Transpose(b.Reshape(v, batch, t, heads, dim), 0, 2, 1, 3)
	}
	x := headMajor(b.SliceAxis(xbc, 2, 0, hp), h, pd)
	bm := nn.RepeatHeads(b, headMajor(b.SliceAxis(xbc, 2, hp, hp+g*n), g, n), h/g)
	cm := nn.RepeatHeads(b, headMajor(b.SliceAxis(xbc, 2, hp+g*n, conv), g, n), h/g)
	logA := b.Transpose(b.Neg(b.Softplus(a)), 0, 2, 1) // [B,H,T]
	y := nn.SSDChunked(b, x, logA, bm, cm, in.constant(p+"D", 1, h), cfg.Chunk)
	y = b.Reshape(b.Transpose(y, 0, 2, 1, 3), batch, t, hp)
	y = b.Mul(y, nn.Silu(b, b.Add(z, in.constant(p+"z_bias", 0, hp))))
	return nn.Linear(b, y, in.normal(p+"out_proj.weight", resid, d, hp), graph.NoValue)
}

func bool2f(c bool) float64 {
	if c {
		return 1
	}
	return 0
}

// NextTokenLoss is the mean cross-entropy of logits [B,T,V] against the
// i32 input "targets" [B,T] (the tokens shifted by one).
func (lm *LM) NextTokenLoss(b *graph.Builder) graph.Value {
	s := b.Shape(lm.Logits)
	targets := b.Input("targets", graph.I32, s[0], s[1])
	return b.Reshape(b.Mean(b.CrossEntropy(lm.Logits, targets)))
}

// MaskedNextTokenLoss is the mean cross-entropy over the positions where
// the f32 input "loss_mask" [B,T] is 1 (for tasks that score only some
// positions, such as the copy half of a copying task).
func (lm *LM) MaskedNextTokenLoss(b *graph.Builder) graph.Value {
	s := b.Shape(lm.Logits)
	targets := b.Input("targets", graph.I32, s[0], s[1])
	mask := b.Input("loss_mask", b.DType(lm.Logits), s[0], s[1])
	ce := b.CrossEntropy(lm.Logits, targets)
	return b.Reshape(b.Div(b.ReduceSum(b.Mul(ce, mask)), b.ReduceSum(mask)))
}
