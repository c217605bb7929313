package models

import (
	"context"
	"fmt"
	"math"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// GPT2Config describes a GPT-2 model: learned positions, pre-LayerNorm
// blocks, GELU (tanh) MLP, final LayerNorm and a head tied to the token
// embedding. Zero fields take the defaults of Defaults.
type GPT2Config struct {
	Vocab, DModel, Layers, Heads, SeqLen int
	Positions                            int     // rows of wpe: SeqLen
	MLPHidden                            int     // 4·DModel
	LayerNormEps                         float64 // 1e-5
	// Mixers replaces the attention of the layers it holds (a student;
	// see BuildStudent). Nil builds the teacher.
	Mixers map[int]LayerMixer
}

// Defaults fills zero fields.
func (c GPT2Config) Defaults() GPT2Config {
	if c.Positions == 0 {
		c.Positions = c.SeqLen
	}
	if c.MLPHidden == 0 {
		c.MLPHidden = 4 * c.DModel
	}
	if c.LayerNormEps == 0 {
		c.LayerNormEps = 1e-5
	}
	return c
}

// Validate names the first attribute that cannot work.
func (c GPT2Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab", c.Vocab}, {"d_model", c.DModel}, {"layers", c.Layers}, {"heads", c.Heads}, {"seq_len", c.SeqLen}, {"mlp_hidden", c.MLPHidden}} {
		if f.v <= 0 {
			return fmt.Errorf("%s must be positive, found %d", f.name, f.v)
		}
	}
	if c.DModel%c.Heads != 0 {
		return fmt.Errorf("heads (%d) must divide d_model (%d)", c.Heads, c.DModel)
	}
	if c.SeqLen > c.Positions {
		return fmt.Errorf("seq_len (%d) exceeds the %d learned positions", c.SeqLen, c.Positions)
	}
	return nil
}

// conv1d is Hugging Face's GPT-2 Conv1D: x[..., in]·w + bias with w stored
// as [in, out] (the transpose of Linear's layout).
func conv1d(b *graph.Builder, x, w, bias graph.Value) graph.Value {
	xs := b.Shape(x)
	in, out := b.Dim(w, 0), b.Dim(w, 1)
	y := b.Add(b.MatMulT(b.Reshape(x, -1, in), w, false, false), bias)
	return b.Reshape(y, append(xs[:len(xs)-1].Clone(), out)...)
}

// BuildGPT2 appends a GPT-2 LM over an i32 input "tokens" [batch, SeqLen] to
// b, with parameters named and shaped as Hugging Face's GPT2LMHeadModel has
// them (Conv1D weights [in, out]), initialised from seed (normal, std 0.02;
// residual projections scaled by 1/√(2·layers); norms 1 and 0).
func BuildGPT2(b *graph.Builder, cfg GPT2Config, dt graph.DType, batch int, seed uint64) (*LM, error) {
	return buildGPT2Opts(context.Background(), b, cfg, dt, batch, seed, buildOpts{})
}

func buildGPT2Opts(ctx context.Context, b *graph.Builder, cfg GPT2Config, dt graph.DType, batch int, seed uint64, opt buildOpts) (*LM, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gpt2 config: %w", err)
	}
	if err := checkMixerLayers(cfg.Mixers, cfg.Layers); err != nil {
		return nil, fmt.Errorf("gpt2 config: %w", err)
	}
	blocks, head, err := opt.blocks(cfg.Layers)
	if err != nil {
		return nil, fmt.Errorf("gpt2 config: %w", err)
	}
	in := opt.initializer(b, dt, seed)
	d, t, nh, f := cfg.DModel, cfg.SeqLen, cfg.Heads, cfg.MLPHidden
	hd := d / nh
	resid := 0.02 / math.Sqrt(2*float64(cfg.Layers))
	tokens := tokensInput(b, batch, t)
	wte := in.normal("transformer.wte.weight", 0.02, cfg.Vocab, d)
	wpe := in.normal("transformer.wpe.weight", 0.01, cfg.Positions, d)
	pos := b.Gather(wpe, b.Iota(graph.I32, 0, t)) // [T,d]
	h := b.Add(b.Gather(wte, tokens), b.Broadcast(b.Reshape(pos, 1, t, d), batch, t, d))
	type lnParams struct{ w, bias graph.Value }
	lnNew := func(name string) lnParams {
		return lnParams{in.constant(name+".weight", 1, d), in.constant(name+".bias", 0, d)}
	}
	ln := func(p lnParams, x graph.Value) graph.Value { return b.LayerNorm(x, p.w, p.bias, cfg.LayerNormEps) }
	taps := make([]LayerTaps, 0, blocks)
	for l := 0; l < blocks; l++ {
		p := fmt.Sprintf("transformer.h.%d.", l)
		entering := h
		u := ln(lnNew(p+"ln_1"), h)
		mix, probs := graph.NoValue, graph.NoValue
		if lm, ok := cfg.Mixers[l]; ok {
			dims := mixer.Dims{Batch: batch, SeqLen: t, DModel: d, Heads: nh, KVHeads: nh, Layer: l, DType: dt}
			var err error
			if mix, err = in.mixerLayer(ctx, lm, in.prefix+p+"mixer.", u, dims, seed); err != nil {
				return nil, fmt.Errorf("layer %d mixer: %w", l, err)
			}
		} else {
			qkv := conv1d(b, u, in.normal(p+"attn.c_attn.weight", 0.02, d, 3*d), in.constant(p+"attn.c_attn.bias", 0, 3*d))
			split := func(i int) graph.Value {
				x := b.SliceAxis(qkv, 2, i*d, (i+1)*d)
				return b.Transpose(b.Reshape(x, batch, t, nh, hd), 0, 2, 1, 3)
			}
			var y graph.Value
			probs, y = attend(b, split(0), split(1), split(2), 1/math.Sqrt(float64(hd)))
			y = b.Reshape(b.Transpose(y, 0, 2, 1, 3), batch, t, d)
			mix = conv1d(b, y, in.normal(p+"attn.c_proj.weight", resid, d, d), in.constant(p+"attn.c_proj.bias", 0, d))
		}
		// The MLP's params, in the order of the Hugging Face model.
		ln2 := lnNew(p + "ln_2")
		fcW, fcB := in.normal(p+"mlp.c_fc.weight", 0.02, d, f), in.constant(p+"mlp.c_fc.bias", 0, f)
		projW, projB := in.normal(p+"mlp.c_proj.weight", resid, f, d), in.constant(p+"mlp.c_proj.bias", 0, d)
		// The sequential block: the MLP reads the stream after the mixer.
		withMixer := func(m graph.Value) graph.Value {
			h1 := b.Add(entering, m)
			x := conv1d(b, ln(ln2, h1), fcW, fcB)
			return b.Add(h1, conv1d(b, nn.GeluTanh(b, x), projW, projB))
		}
		h = withMixer(mix)
		taps = append(taps, LayerTaps{Residual: entering, Input: u, Mixer: mix, Block: h, Probs: probs, WithMixer: withMixer})
	}
	logits := graph.NoValue
	if head {
		h = ln(lnNew("transformer.ln_f"), h)
		logits = nn.Linear(b, h, wte, graph.NoValue)
	}
	if err := b.Err(); err != nil {
		return nil, err
	}
	return &LM{Tokens: tokens, Logits: logits, Params: in.params, Layers: taps}, nil
}
