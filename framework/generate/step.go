package generate

// step.go builds the one-token step program of a model: the token's
// embedding, every block, the final norm and the head. A block's mixer is
// the teacher's own attention with a key/value cache, or a student mixer's
// Step fragment (SSD with its recurrent state). Parameters keep their
// Hugging Face (or saved student) names, so they load straight from the
// model's folder; caches and recurrent states are resident state tensors the
// program updates in place, as is the position counter.

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// Names in the step program.
const (
	inputToken    = "token"    // i32 [1,1]: the token fed at this step
	outputLogits  = "logits"   // [1,1,V]: the next token's logits
	statePosition = "position" // i32 []: the token's position, counted by the program
)

// layerMixer is a student mixer replacing one block's attention in the
// step program, with the prefix of its params (and states) in the model's
// names. A block without one keeps the teacher's attention.
type layerMixer struct {
	mixer  mixer.Mixer
	config cty.Value
	prefix string
}

// stepBuilder assembles a step program.
type stepBuilder struct {
	ctx    context.Context
	b      *graph.Builder
	cfg    models.HFConfig
	maxLen int
	pos    graph.Value
}

// param declares a model parameter by its folder name.
func (s *stepBuilder) param(name string, shape ...int) graph.Value {
	return s.b.Param(name, graph.F32, shape...)
}

// mix inlines layer l's Step fragment on u [1,1,C]: its state inputs
// become resident states of the program, updated with the fragment's
// state outputs after each run.
func (s *stepBuilder) mix(l int, lm layerMixer, u graph.Value) (graph.Value, error) {
	layer := mixer.Layer{Config: lm.config, Dims: s.cfg.LayerDims(1, s.maxLen, l, graph.F32)}
	if _, err := lm.mixer.Params(s.ctx, layer); err != nil {
		return graph.NoValue, fmt.Errorf("layer %d mixer: %w", l, err)
	}
	frag, err := lm.mixer.Step(s.ctx, layer)
	if err != nil {
		return graph.NoValue, fmt.Errorf("layer %d mixer step: %w", l, err)
	}
	inputs := map[string]graph.Value{mixer.InputU: u}
	states := map[string]graph.Value{}
	for _, v := range frag.Leaves(graph.OpInput) {
		n := frag.Nodes[v]
		switch {
		case n.Name == mixer.InputPosition:
			inputs[n.Name] = s.pos
		case strings.HasPrefix(n.Name, mixer.StatePrefix):
			st := s.b.State(lm.prefix+n.Name, n.Type.DType, n.Type.Shape...)
			inputs[n.Name], states[n.Name] = st, st
		}
	}
	out, err := s.b.Inline(frag, lm.prefix, inputs)
	if err != nil {
		return graph.NoValue, fmt.Errorf("layer %d mixer step: %w", l, err)
	}
	for name, st := range states {
		next, ok := out[name]
		if !ok {
			return graph.NoValue, fmt.Errorf("layer %d mixer step: state %q has no output of its next value", l, name)
		}
		s.b.Update(st, next)
	}
	y, ok := out[mixer.OutputY]
	if !ok {
		return graph.NoValue, fmt.Errorf("layer %d mixer step: no output %q", l, mixer.OutputY)
	}
	return y, nil
}

// buildStep builds the step program of cfg's model whose replaced layers
// mix with mixers (the others keep the teacher's attention), with attention
// caches of maxLen positions.
func buildStep(ctx context.Context, cfg models.HFConfig, mixers map[int]layerMixer, maxLen int) (*graph.Graph, error) {
	b := graph.NewBuilder()
	s := &stepBuilder{ctx: ctx, b: b, cfg: cfg, maxLen: maxLen}
	tok := b.Input(inputToken, graph.I32, 1, 1)
	s.pos = b.State(statePosition, graph.I32)
	var logits graph.Value
	var err error
	switch cfg.Family {
	case models.FamilyPhi:
		logits, err = s.phi(*cfg.Phi, mixers, tok)
	case models.FamilyLlama:
		logits, err = s.llama(*cfg.Llama, mixers, tok)
	case models.FamilyGPT2:
		logits, err = s.gpt2(*cfg.GPT2, mixers, tok)
	default:
		err = fmt.Errorf("model family %q: generation supports phi, llama and gpt2", cfg.Family)
	}
	if err != nil {
		return nil, err
	}
	b.Output(outputLogits, logits)
	b.Update(s.pos, b.AddScalar(s.pos, 1))
	return b.Build()
}

// phi is Phi's parallel block: h + mixer(LN h) + MLP(LN h).
func (s *stepBuilder) phi(c models.PhiConfig, mixers map[int]layerMixer, tok graph.Value) (graph.Value, error) {
	b, c := s.b, c.Defaults()
	d := c.DModel
	h := b.Gather(s.param("model.embed_tokens.weight", c.Vocab, d), tok)
	for l := range c.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		u := b.LayerNorm(h, s.param(p+"input_layernorm.weight", d), s.param(p+"input_layernorm.bias", d), c.LayerNormEps)
		mix, err := s.mixOr(l, mixers, u, func() graph.Value {
			a := p + "self_attn."
			proj := func(name string) graph.Value {
				return nn.Linear(b, u, s.param(a+name+".weight", d, d), s.param(a+name+".bias", d))
			}
			y := s.attention(l, proj("q_proj"), proj("k_proj"), proj("v_proj"), c.Heads, c.Heads,
				models.RopeScaling{}.InvFreqs(c.RotaryDim, c.RopeTheta))
			return nn.Linear(b, y, s.param(a+"dense.weight", d, d), s.param(a+"dense.bias", d))
		})
		if err != nil {
			return graph.NoValue, err
		}
		f := nn.Linear(b, u, s.param(p+"mlp.fc1.weight", c.MLPHidden, d), s.param(p+"mlp.fc1.bias", c.MLPHidden))
		f = nn.Linear(b, nn.GeluTanh(b, f), s.param(p+"mlp.fc2.weight", d, c.MLPHidden), s.param(p+"mlp.fc2.bias", d))
		h = b.Add(h, b.Add(mix, f))
	}
	h = b.LayerNorm(h, s.param("model.final_layernorm.weight", d), s.param("model.final_layernorm.bias", d), c.LayerNormEps)
	return nn.Linear(b, h, s.param("lm_head.weight", c.Vocab, d), s.param("lm_head.bias", c.Vocab)), b.Err()
}

// llama is Llama's sequential block: h₁ = h + mixer(RMS h), h₁ + MLP(RMS h₁).
func (s *stepBuilder) llama(c models.LlamaConfig, mixers map[int]layerMixer, tok graph.Value) (graph.Value, error) {
	b, c := s.b, c.Defaults()
	d, f := c.DModel, c.MLPHidden
	embed := s.param("model.embed_tokens.weight", c.Vocab, d)
	h := b.Gather(embed, tok)
	for l := range c.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		u := b.RMSNorm(h, s.param(p+"input_layernorm.weight", d), c.RMSNormEps)
		mix, err := s.mixOr(l, mixers, u, func() graph.Value {
			a, hd := p+"self_attn.", d/c.Heads
			proj := func(name string, heads int) graph.Value {
				return nn.Linear(b, u, s.param(a+name+".weight", heads*hd, d), graph.NoValue)
			}
			y := s.attention(l, proj("q_proj", c.Heads), proj("k_proj", c.KVHeads), proj("v_proj", c.KVHeads), c.Heads, c.KVHeads,
				c.RopeScaling.InvFreqs(hd, c.RopeTheta))
			return nn.Linear(b, y, s.param(a+"o_proj.weight", d, d), graph.NoValue)
		})
		if err != nil {
			return graph.NoValue, err
		}
		h = b.Add(h, mix)
		u2 := b.RMSNorm(h, s.param(p+"post_attention_layernorm.weight", d), c.RMSNormEps)
		gate := nn.Linear(b, u2, s.param(p+"mlp.gate_proj.weight", f, d), graph.NoValue)
		up := nn.Linear(b, u2, s.param(p+"mlp.up_proj.weight", f, d), graph.NoValue)
		h = b.Add(h, nn.Linear(b, b.Mul(nn.Silu(b, gate), up), s.param(p+"mlp.down_proj.weight", d, f), graph.NoValue))
	}
	h = b.RMSNorm(h, s.param("model.norm.weight", d), c.RMSNormEps)
	head := embed
	if !c.TieEmbeddings {
		head = s.param("lm_head.weight", c.Vocab, d)
	}
	return nn.Linear(b, h, head, graph.NoValue), b.Err()
}

// gpt2 is GPT-2's sequential block with learned positions; its Conv1D
// weights are [in, out].
func (s *stepBuilder) gpt2(c models.GPT2Config, mixers map[int]layerMixer, tok graph.Value) (graph.Value, error) {
	b, c := s.b, c.Defaults()
	d, f := c.DModel, c.MLPHidden
	conv1d := func(x, w, bias graph.Value) graph.Value {
		return b.Add(b.Reshape(b.MatMul(b.Reshape(x, 1, b.Dim(w, 0)), w), 1, 1, b.Dim(w, 1)), bias)
	}
	ln := func(name string, x graph.Value) graph.Value {
		return b.LayerNorm(x, s.param(name+".weight", d), s.param(name+".bias", d), c.LayerNormEps)
	}
	wte := s.param("transformer.wte.weight", c.Vocab, d)
	// The position counter indexes wpe; past its rows the model has no
	// embedding, which Generate refuses before it gets here.
	pos := b.Gather(s.param("transformer.wpe.weight", c.Positions, d), b.Reshape(s.pos, 1, 1))
	h := b.Add(b.Gather(wte, tok), pos)
	for l := range c.Layers {
		p := fmt.Sprintf("transformer.h.%d.", l)
		u := ln(p+"ln_1", h)
		mix, err := s.mixOr(l, mixers, u, func() graph.Value {
			qkv := conv1d(u, s.param(p+"attn.c_attn.weight", d, 3*d), s.param(p+"attn.c_attn.bias", 3*d))
			part := func(i int) graph.Value { return b.SliceAxis(qkv, 2, i*d, (i+1)*d) }
			y := s.attention(l, part(0), part(1), part(2), c.Heads, c.Heads, nil)
			return conv1d(y, s.param(p+"attn.c_proj.weight", d, d), s.param(p+"attn.c_proj.bias", d))
		})
		if err != nil {
			return graph.NoValue, err
		}
		h = b.Add(h, mix)
		x := conv1d(ln(p+"ln_2", h), s.param(p+"mlp.c_fc.weight", d, f), s.param(p+"mlp.c_fc.bias", f))
		h = b.Add(h, conv1d(nn.GeluTanh(b, x), s.param(p+"mlp.c_proj.weight", f, d), s.param(p+"mlp.c_proj.bias", d)))
	}
	return nn.Linear(b, ln("transformer.ln_f", h), wte, graph.NoValue), b.Err()
}

// mixOr is layer l's mixer output on u: the student mixer's Step when the
// layer is replaced, else the teacher's attention that attend builds.
func (s *stepBuilder) mixOr(l int, mixers map[int]layerMixer, u graph.Value, attend func() graph.Value) (graph.Value, error) {
	if lm, ok := mixers[l]; ok {
		return s.mix(l, lm, u)
	}
	return attend(), s.b.Err()
}

// attention is one token of layer l's causal self-attention: q [1,1,H·D],
// k and v [1,1,KV·D] (after their projections) attend over a key/value cache
// of maxLen positions held in the states "cache/l/k" and "cache/l/v"
// [1,KV,maxLen,D], which the program updates with this token's k and
// v at its position. The first 2·len(invFreq) channels of each head of q
// and k are rotated (rotate-half layout, as nn.RoPE) by position·invFreq,
// from cos and sin tables computed in float64 for every position of the
// cache. It returns the heads' outputs [1,1,H·D], before the output
// projection.
func (s *stepBuilder) attention(l int, q, k, v graph.Value, heads, kvHeads int, invFreq []float64) graph.Value {
	b, n := s.b, s.maxLen
	hd := b.Dim(q, 2) / heads
	split := func(x graph.Value, h int) graph.Value {
		return b.Transpose(b.Reshape(x, 1, 1, h, hd), 0, 2, 1, 3) // [1,h,1,D]
	}
	q, k, v = split(q, heads), split(k, kvHeads), split(v, kvHeads)
	if rd := 2 * len(invFreq); rd > 0 {
		cosT, sinT := make([]float64, n*rd), make([]float64, n*rd)
		for p := range n {
			for i, f := range invFreq {
				c, sn := math.Cos(float64(p)*f), math.Sin(float64(p)*f)
				cosT[p*rd+i], cosT[p*rd+i+rd/2] = c, c
				sinT[p*rd+i], sinT[p*rd+i+rd/2] = sn, sn
			}
		}
		at := b.Reshape(s.pos, 1)
		cos := b.Gather(b.Const(graph.F32, []int{n, rd}, cosT), at) // [1, rd]
		sin := b.Gather(b.Const(graph.F32, []int{n, rd}, sinT), at)
		rotate := func(x graph.Value) graph.Value {
			r := b.SliceAxis(x, 3, 0, rd)
			half := b.Concat(3, b.Neg(b.SliceAxis(r, 3, rd/2, rd)), b.SliceAxis(r, 3, 0, rd/2))
			r = b.Add(b.Mul(r, cos), b.Mul(half, sin))
			if rd == hd {
				return r
			}
			return b.Concat(3, r, b.SliceAxis(x, 3, rd, hd))
		}
		q, k = rotate(q), rotate(k)
	}
	prefix := fmt.Sprintf("cache/%d/", l)
	cacheK := b.State(prefix+"k", graph.F32, 1, kvHeads, n, hd)
	cacheV := b.State(prefix+"v", graph.F32, 1, kvHeads, n, hd)
	rows := b.Iota(graph.I32, 0, n)
	here := b.Reshape(b.Equal(rows, s.pos), 1, 1, n, 1)
	k2, v2 := b.Where(here, k, cacheK), b.Where(here, v, cacheV)
	b.Update(cacheK, k2)
	b.Update(cacheV, v2)
	r := heads / kvHeads
	scores := b.MulScalar(b.MatMulT(q, nn.RepeatHeads(b, k2, r), false, true), 1/math.Sqrt(float64(hd))) // [1,H,1,n]
	future := b.Reshape(b.Less(s.pos, rows), 1, 1, 1, n)
	scores = b.Where(future, b.Scalar(graph.F32, math.Inf(-1)), scores)
	y := b.MatMul(b.Softmax(scores), nn.RepeatHeads(b, v2, r)) // [1,H,1,D]
	return b.Reshape(b.Transpose(y, 0, 2, 1, 3), 1, 1, heads*hd)
}
