package models

import (
	"context"
	"fmt"
	"math"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// LlamaConfig describes a Llama-style model: RMSNorm, SwiGLU MLP, full
// rotary embedding (optionally rescaled, as Llama 3.1's) and grouped-query
// attention. Zero fields take the defaults of Defaults.
type LlamaConfig struct {
	Vocab, DModel, Layers, Heads, SeqLen int
	KVHeads                              int         // Heads
	MLPHidden                            int         // 4·DModel
	RopeTheta                            float64     // 10000
	RopeScaling                          RopeScaling // none: the plain rotary embedding
	RMSNormEps                           float64     // 1e-6
	TieEmbeddings                        bool        // lm_head shares model.embed_tokens.weight
	// Mixers replaces the attention of the layers it holds (a student;
	// see BuildStudent). Nil builds the teacher.
	Mixers map[int]LayerMixer
}

// Defaults fills zero fields.
func (c LlamaConfig) Defaults() LlamaConfig {
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.MLPHidden == 0 {
		c.MLPHidden = 4 * c.DModel
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if c.RMSNormEps == 0 {
		c.RMSNormEps = 1e-6
	}
	return c
}

// Validate names the first attribute that cannot work.
func (c LlamaConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab", c.Vocab}, {"d_model", c.DModel}, {"layers", c.Layers}, {"heads", c.Heads}, {"seq_len", c.SeqLen}, {"kv_heads", c.KVHeads}, {"mlp_hidden", c.MLPHidden}} {
		if f.v <= 0 {
			return fmt.Errorf("%s must be positive, found %d", f.name, f.v)
		}
	}
	if c.DModel%c.Heads != 0 || (c.DModel/c.Heads)%2 != 0 {
		return fmt.Errorf("heads (%d) must divide d_model (%d) into an even head dim", c.Heads, c.DModel)
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("kv_heads (%d) must divide heads (%d)", c.KVHeads, c.Heads)
	}
	return c.RopeScaling.Validate()
}

// BuildLlama appends a Llama-style LM over an i32 input "tokens" [batch,
// SeqLen] to b, with parameters named and shaped as Hugging Face's
// LlamaForCausalLM has them, initialised from seed (normal, std 0.02;
// residual projections scaled by 1/√(2·layers); norms 1).
func BuildLlama(b *graph.Builder, cfg LlamaConfig, dt graph.DType, batch int, seed uint64) (*LM, error) {
	return buildLlamaOpts(context.Background(), b, cfg, dt, batch, seed, buildOpts{})
}

func buildLlamaOpts(ctx context.Context, b *graph.Builder, cfg LlamaConfig, dt graph.DType, batch int, seed uint64, opt buildOpts) (*LM, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("llama config: %w", err)
	}
	if err := checkMixerLayers(cfg.Mixers, cfg.Layers); err != nil {
		return nil, fmt.Errorf("llama config: %w", err)
	}
	blocks, head, err := opt.blocks(cfg.Layers)
	if err != nil {
		return nil, fmt.Errorf("llama config: %w", err)
	}
	in := opt.initializer(b, dt, seed)
	d, t, f := cfg.DModel, cfg.SeqLen, cfg.MLPHidden
	hd := d / cfg.Heads
	rope := newRopeTables(cfg.RopeScaling.InvFreqs(hd, cfg.RopeTheta))
	resid := 0.02 / math.Sqrt(2*float64(cfg.Layers))
	tokens := tokensInput(b, batch, t)
	embed := in.normal("model.embed_tokens.weight", 0.02, cfg.Vocab, d)
	h := b.Gather(embed, tokens)
	taps := make([]LayerTaps, 0, blocks)
	for l := 0; l < blocks; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		entering := h
		u := b.RMSNorm(h, in.constant(p+"input_layernorm.weight", 1, d), cfg.RMSNormEps)
		mix, probs := graph.NoValue, graph.NoValue
		if lm, ok := cfg.Mixers[l]; ok {
			dims := mixer.Dims{Batch: batch, SeqLen: t, DModel: d, Heads: cfg.Heads, KVHeads: cfg.KVHeads, Layer: l, DType: dt}
			var err error
			if mix, err = in.mixerLayer(ctx, lm, in.prefix+p+"mixer.", u, dims, seed); err != nil {
				return nil, fmt.Errorf("layer %d mixer: %w", l, err)
			}
		} else {
			heads := func(name string, n int) graph.Value {
				x := nn.Linear(b, u, in.normal(p+"self_attn."+name+".weight", 0.02, n*hd, d), graph.NoValue)
				return b.Transpose(b.Reshape(x, batch, t, n, hd), 0, 2, 1, 3) // [B,n,T,D]
			}
			q, k, v := heads("q_proj", cfg.Heads), heads("k_proj", cfg.KVHeads), heads("v_proj", cfg.KVHeads)
			q, k = rope.apply(b, q), rope.apply(b, k)
			var y graph.Value
			probs, y = attend(b, q, k, v, 1/math.Sqrt(float64(hd)))
			y = b.Reshape(b.Transpose(y, 0, 2, 1, 3), batch, t, d)
			mix = nn.Linear(b, y, in.normal(p+"self_attn.o_proj.weight", resid, d, d), graph.NoValue)
		}
		// The MLP's params, created in the order of the Hugging Face model
		// (the random init draws them in sequence).
		norm2 := in.constant(p+"post_attention_layernorm.weight", 1, d)
		gateW := in.normal(p+"mlp.gate_proj.weight", 0.02, f, d)
		upW := in.normal(p+"mlp.up_proj.weight", 0.02, f, d)
		downW := in.normal(p+"mlp.down_proj.weight", resid, d, f)
		// The sequential block: the MLP reads the stream after the mixer.
		withMixer := func(m graph.Value) graph.Value {
			h1 := b.Add(entering, m)
			u2 := b.RMSNorm(h1, norm2, cfg.RMSNormEps)
			gate, up := nn.Linear(b, u2, gateW, graph.NoValue), nn.Linear(b, u2, upW, graph.NoValue)
			return b.Add(h1, nn.Linear(b, b.Mul(nn.Silu(b, gate), up), downW, graph.NoValue))
		}
		h = withMixer(mix)
		taps = append(taps, LayerTaps{Residual: entering, Input: u, Mixer: mix, Block: h, Probs: probs, WithMixer: withMixer})
	}
	logits := graph.NoValue
	if head {
		h = b.RMSNorm(h, in.constant("model.norm.weight", 1, d), cfg.RMSNormEps)
		headW := embed
		if !cfg.TieEmbeddings {
			headW = in.normal("lm_head.weight", 0.02, cfg.Vocab, d)
		}
		logits = nn.Linear(b, h, headW, graph.NoValue)
	}
	if err := b.Err(); err != nil {
		return nil, err
	}
	return &LM{Tokens: tokens, Logits: logits, Params: in.params, Layers: taps}, nil
}
