package generate

// step.go builds the one-token step program of a model: the token's
// embedding, every block with its mixer's Step fragment (attention with a
// key/value cache, SSD with its recurrent state), the final norm and the
// head. Parameters keep their Hugging Face (or saved student) names, so
// they load straight from the model's folder; each mixer's recurrent state
// is a resident state tensor the program updates in place, as is the
// position counter.

import (
	"context"
	"fmt"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/mixers/attention"
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

// layerMixer is the sequence mixer of one block in the step program, with
// the prefix of its params (and states) in the model's names.
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

// buildStep builds the step program of cfg's model whose blocks mix with
// mixers (one per layer), with attention caches of maxLen positions.
func buildStep(ctx context.Context, cfg models.HFConfig, mixers []layerMixer, maxLen int) (*graph.Graph, error) {
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
func (s *stepBuilder) phi(c models.PhiConfig, mixers []layerMixer, tok graph.Value) (graph.Value, error) {
	b, c := s.b, c.Defaults()
	d := c.DModel
	h := b.Gather(s.param("model.embed_tokens.weight", c.Vocab, d), tok)
	for l := range c.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		u := b.LayerNorm(h, s.param(p+"input_layernorm.weight", d), s.param(p+"input_layernorm.bias", d), c.LayerNormEps)
		mix, err := s.mix(l, mixers[l], u)
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
func (s *stepBuilder) llama(c models.LlamaConfig, mixers []layerMixer, tok graph.Value) (graph.Value, error) {
	b, c := s.b, c.Defaults()
	d, f := c.DModel, c.MLPHidden
	embed := s.param("model.embed_tokens.weight", c.Vocab, d)
	h := b.Gather(embed, tok)
	for l := range c.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		u := b.RMSNorm(h, s.param(p+"input_layernorm.weight", d), c.RMSNormEps)
		mix, err := s.mix(l, mixers[l], u)
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
func (s *stepBuilder) gpt2(c models.GPT2Config, mixers []layerMixer, tok graph.Value) (graph.Value, error) {
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
		mix, err := s.mix(l, mixers[l], ln(p+"ln_1", h))
		if err != nil {
			return graph.NoValue, err
		}
		h = b.Add(h, mix)
		x := conv1d(ln(p+"ln_2", h), s.param(p+"mlp.c_fc.weight", d, f), s.param(p+"mlp.c_fc.bias", f))
		h = b.Add(h, conv1d(nn.GeluTanh(b, x), s.param(p+"mlp.c_proj.weight", f, d), s.param(p+"mlp.c_proj.bias", d)))
	}
	return nn.Linear(b, ln("transformer.ln_f", h), wte, graph.NoValue), b.Err()
}

// teacherAttention is the attention mixer configured as cfg's own
// attention, with the prefix of layer l's attention params in cfg's
// folders, so the teacher's weights load under their own names (GPT-2's
// fused c_attn is split at load time, see gpt2Weight).
func teacherAttention(cfg models.HFConfig, l int) (layerMixer, error) {
	set := map[string]cty.Value{}
	num := func(k string, v int) { set[k] = cty.NumberIntVal(int64(v)) }
	var prefix string
	switch cfg.Family {
	case models.FamilyPhi:
		c := cfg.Phi.Defaults()
		num("heads", c.Heads)
		num("kv_heads", c.Heads)
		num("rotary_dim", c.RotaryDim)
		set["rope_theta"] = cty.NumberFloatVal(c.RopeTheta)
		set["qkv_bias"], set["out_bias"], set["out_name"] = cty.True, cty.True, cty.StringVal("dense")
		prefix = fmt.Sprintf("model.layers.%d.self_attn.", l)
	case models.FamilyLlama:
		c := cfg.Llama.Defaults()
		num("heads", c.Heads)
		num("kv_heads", c.KVHeads)
		num("rotary_dim", c.DModel/c.Heads)
		set["rope_theta"] = cty.NumberFloatVal(c.RopeTheta)
		prefix = fmt.Sprintf("model.layers.%d.self_attn.", l)
	case models.FamilyGPT2:
		c := cfg.GPT2.Defaults()
		num("heads", c.Heads)
		num("kv_heads", c.Heads)
		set["qkv_bias"], set["out_bias"], set["out_name"] = cty.True, cty.True, cty.StringVal("c_proj")
		prefix = fmt.Sprintf("transformer.h.%d.attn.", l)
	default:
		return layerMixer{}, fmt.Errorf("model family %q: generation supports phi, llama and gpt2", cfg.Family)
	}
	v, err := configWith(attention.Schema, set)
	if err != nil {
		return layerMixer{}, err
	}
	return layerMixer{mixer: attention.Mixer{}, config: v, prefix: prefix}, nil
}

// configWith is a mixer configuration of schema s: its defaults, with the
// attributes of set.
func configWith(s mixer.Schema, set map[string]cty.Value) (cty.Value, error) {
	attrs := make(map[string]cty.Value, len(s.Attributes))
	for _, a := range s.Attributes {
		switch v, ok := set[a.Name]; {
		case ok:
			attrs[a.Name] = v
			delete(set, a.Name)
		case a.HasDefault():
			attrs[a.Name] = a.Default
		default:
			attrs[a.Name] = cty.NullVal(a.Type)
		}
	}
	for k := range set {
		return cty.NilVal, fmt.Errorf("mixer configuration: the schema has no attribute %q", k)
	}
	return cty.ObjectVal(attrs), nil
}
