package models

// student.go builds students: a teacher's family with the sequence mixer of
// chosen layers replaced by a mixer's Forward fragment (from sdk/mixer, so
// from a plugin or an in-process implementation), and saves and loads them
// as Hugging Face style folders whose config.json carries a "mohawk" object
// naming each replaced layer's mixer.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// LayerMixer replaces one layer's attention: Mixer builds the fragments and
// Layer.Config is its configuration (an object of the mixer's schema,
// defaults filled in). The builder fills Layer.Dims.
type LayerMixer struct {
	Mixer mixer.Mixer
	Layer mixer.Layer
}

// checkMixerLayers reports a replaced layer outside [0, layers).
func checkMixerLayers(mixers map[int]LayerMixer, layers int) error {
	for l, m := range mixers {
		if l < 0 || l >= layers {
			return fmt.Errorf("mixer for layer %d: the model has layers 0 to %d", l, layers-1)
		}
		if m.Mixer == nil {
			return fmt.Errorf("mixer for layer %d is nil", l)
		}
	}
	return nil
}

// mixerLayer creates the layer's params from the mixer's specs (named
// prefix+spec name, realised from seed) and inlines its Forward fragment on
// u [B,T,C], returning y [B,T,C].
func (in *initializer) mixerLayer(ctx context.Context, lm LayerMixer, prefix string, u graph.Value, dims mixer.Dims, seed uint64) (graph.Value, error) {
	b := in.b
	l := lm.Layer
	l.Dims = dims
	specs, err := lm.Mixer.Params(ctx, l)
	if err != nil {
		return graph.NoValue, fmt.Errorf("params: %w", err)
	}
	declared := make(map[string]bool, len(specs))
	for _, s := range specs {
		if declared[s.Name] {
			return graph.NoValue, fmt.Errorf("parameter %q is declared twice", s.Name)
		}
		declared[s.Name] = true
		name := prefix + s.Name
		if _, ok := b.Lookup(name); ok {
			return graph.NoValue, fmt.Errorf("parameter %q already exists in the model", name)
		}
		// A mixer's params draw from streams of their own (ParamSpec.Realize),
		// not from the model's.
		var t *graph.Tensor
		if in.wants(name) {
			t, err = s.Realize(name, in.dt, seed)
		} else {
			err = s.Check()
		}
		if err != nil {
			return graph.NoValue, err
		}
		v := b.Param(name, in.dt, s.Shape...)
		in.params = append(in.params, Param{Name: name, Value: v, Shape: graph.Shape(s.Shape).Clone(), DType: in.dt, Init: t, NoDecay: s.NoDecay})
	}
	frag, err := lm.Mixer.Forward(ctx, l)
	if err != nil {
		return graph.NoValue, fmt.Errorf("forward: %w", err)
	}
	for i := range frag.Nodes {
		if n := &frag.Nodes[i]; n.Op == graph.OpParam && !declared[n.Name] {
			return graph.NoValue, fmt.Errorf("forward fragment reads parameter %q, which Params does not declare", n.Name)
		}
	}
	out, err := b.Inline(frag, prefix, map[string]graph.Value{mixer.InputU: u})
	if err != nil {
		return graph.NoValue, err
	}
	y, ok := out[mixer.OutputY]
	if !ok {
		return graph.NoValue, fmt.Errorf("forward fragment has no output %q", mixer.OutputY)
	}
	if got, want := b.Shape(y), b.Shape(u); !reflect.DeepEqual(got, want) || b.DType(y) != b.DType(u) {
		return graph.NoValue, fmt.Errorf("forward output y is %v %v, expected %v %v", b.DType(y), got, b.DType(u), want)
	}
	return y, nil
}

// BuildStudent builds teacherCfg's family over tokens [batch, seqLen]
// (seqLen 0 keeps the config's) with the attention of each layer in mixers
// replaced by that mixer (params "model.layers.N.mixer.*", for GPT-2
// "transformer.h.N.mixer.*"). The teacher's attention params of a replaced
// layer are not created.
func BuildStudent(ctx context.Context, b *graph.Builder, teacherCfg HFConfig, mixers map[int]LayerMixer, dt graph.DType, batch, seqLen int, seed uint64) (*LM, error) {
	switch teacherCfg.Family {
	case FamilyPhi:
		if teacherCfg.Phi == nil {
			return nil, fmt.Errorf("phi family without a phi config")
		}
		cfg := *teacherCfg.Phi
		if seqLen > 0 {
			cfg.SeqLen = seqLen
		}
		cfg.Mixers = mixers
		return buildPhiOpts(ctx, b, cfg, dt, batch, seed, buildOpts{})
	case FamilyLlama:
		if teacherCfg.Llama == nil {
			return nil, fmt.Errorf("llama family without a llama config")
		}
		cfg := *teacherCfg.Llama
		if seqLen > 0 {
			cfg.SeqLen = seqLen
		}
		cfg.Mixers = mixers
		return buildLlamaOpts(ctx, b, cfg, dt, batch, seed, buildOpts{})
	case FamilyGPT2:
		if teacherCfg.GPT2 == nil {
			return nil, fmt.Errorf("gpt2 family without a gpt2 config")
		}
		cfg := *teacherCfg.GPT2
		if seqLen > 0 {
			cfg.SeqLen = seqLen
		}
		cfg.Mixers = mixers
		return buildGPT2Opts(ctx, b, cfg, dt, batch, seed, buildOpts{})
	}
	return nil, fmt.Errorf("model family %q is not supported (phi, llama, gpt2)", teacherCfg.Family)
}

// StudentLayerInfo names a replaced layer's mixer in a saved student:
// the mixer's name and version and its configuration as JSON.
type StudentLayerInfo struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	Config  json.RawMessage `json:"config"`
}

// MarshalMixerConfig encodes a layer's configuration for StudentLayerInfo.
func MarshalMixerConfig(v cty.Value) (json.RawMessage, error) {
	return ctyjson.Marshal(v, v.Type())
}

// UnmarshalMixerConfig decodes a StudentLayerInfo's configuration against
// the mixer's schema.
func UnmarshalMixerConfig(raw json.RawMessage, s mixer.Schema) (cty.Value, error) {
	return ctyjson.Unmarshal(raw, s.ObjectType())
}

// studentKey is the object config.json's "mohawk" holds.
const studentKey = "mohawk"

type studentMeta struct {
	Mixers map[string]StudentLayerInfo `json:"mixers"`
}

// teacherConfigJSON writes cfg as a Hugging Face config.json object that
// ConfigFromHF reads back as the same config.
func teacherConfigJSON(cfg HFConfig) (map[string]any, error) {
	switch cfg.Family {
	case FamilyPhi:
		if cfg.Phi == nil {
			return nil, fmt.Errorf("phi family without a phi config")
		}
		c := cfg.Phi.Defaults()
		if c.Mixer != MixerAttention {
			return nil, fmt.Errorf("phi config with the built-in mixer %q cannot be saved as a teacher config", c.Mixer)
		}
		return map[string]any{
			"architectures": []string{"PhiForCausalLM"}, "model_type": FamilyPhi,
			"vocab_size": c.Vocab, "hidden_size": c.DModel, "num_hidden_layers": c.Layers,
			"num_attention_heads": c.Heads, "num_key_value_heads": c.Heads, "intermediate_size": c.MLPHidden,
			"max_position_embeddings": c.SeqLen, "partial_rotary_factor": float64(c.RotaryDim) / float64(c.DModel/c.Heads),
			"rope_theta": c.RopeTheta, "layer_norm_eps": c.LayerNormEps, "hidden_act": "gelu_new",
			"tie_word_embeddings": false,
		}, nil
	case FamilyLlama:
		if cfg.Llama == nil {
			return nil, fmt.Errorf("llama family without a llama config")
		}
		c := cfg.Llama.Defaults()
		obj := map[string]any{
			"architectures": []string{"LlamaForCausalLM"}, "model_type": FamilyLlama,
			"vocab_size": c.Vocab, "hidden_size": c.DModel, "num_hidden_layers": c.Layers,
			"num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads, "head_dim": c.DModel / c.Heads,
			"intermediate_size": c.MLPHidden, "max_position_embeddings": c.SeqLen,
			"rope_theta": c.RopeTheta, "rms_norm_eps": c.RMSNormEps, "hidden_act": "silu",
			"tie_word_embeddings": c.TieEmbeddings, "attention_bias": false, "mlp_bias": false,
		}
		if rs := c.RopeScaling.hfObject(); rs != nil {
			obj["rope_scaling"] = rs
		}
		return obj, nil
	case FamilyGPT2:
		if cfg.GPT2 == nil {
			return nil, fmt.Errorf("gpt2 family without a gpt2 config")
		}
		c := cfg.GPT2.Defaults()
		return map[string]any{
			"architectures": []string{"GPT2LMHeadModel"}, "model_type": FamilyGPT2,
			"vocab_size": c.Vocab, "n_embd": c.DModel, "n_layer": c.Layers, "n_head": c.Heads,
			"n_inner": c.MLPHidden, "n_positions": c.Positions, "n_ctx": c.Positions,
			"layer_norm_epsilon": c.LayerNormEps, "activation_function": "gelu_new",
			"tie_word_embeddings": true,
		}, nil
	}
	return nil, fmt.Errorf("model family %q is not supported (phi, llama, gpt2)", cfg.Family)
}

// FamilyConfig is cfg's family config with defaults filled and without
// the mixers a student adds: two configs describe the same architecture
// when their FamilyConfigs are equal (reflect.DeepEqual).
func (cfg HFConfig) FamilyConfig() any {
	switch {
	case cfg.Phi != nil:
		c := cfg.Phi.Defaults()
		c.Mixers = nil
		return c
	case cfg.Llama != nil:
		c := cfg.Llama.Defaults()
		c.Mixers = nil
		return c
	case cfg.GPT2 != nil:
		c := cfg.GPT2.Defaults()
		c.Mixers = nil
		if c.SeqLen < c.Positions {
			c.SeqLen = c.Positions // config.json keeps only the positions
		}
		return c
	}
	return nil
}

// configObject is the config.json object written for cfg. A config read
// from JSON (cfg.Raw set) keeps every field of the teacher's object
// (architectures, token ids, rope_scaling, keys of its own) as found; only
// the keys whose values would not read back as cfg's family config are
// replaced, and torch_dtype or dtype, where present, names the dtype the
// weights are saved in. A config built in Go is written from its fields.
func configObject(cfg HFConfig, params map[string]*graph.Tensor) (map[string]any, error) {
	fresh, err := teacherConfigJSON(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Raw == nil {
		return fresh, nil
	}
	out := make(map[string]any, len(cfg.Raw)+1)
	for k, v := range cfg.Raw {
		out[k] = v
	}
	delete(out, studentKey)
	asRaw := func() map[string]json.RawMessage {
		m := make(map[string]json.RawMessage, len(out))
		for k, v := range out {
			if r, ok := v.(json.RawMessage); ok {
				m[k] = r
			} else {
				m[k], _ = json.Marshal(v)
			}
		}
		return m
	}
	if back, err := configFromRaw(asRaw()); err != nil || !reflect.DeepEqual(back.FamilyConfig(), cfg.FamilyConfig()) {
		// cfg differs from the object it was read from: write its values
		// over the keys that state them.
		for k, v := range fresh {
			if k == "architectures" {
				continue
			}
			if old, ok := cfg.Raw[k]; ok && jsonEqual(old, v) {
				continue
			}
			out[k] = v
		}
		if rp, ok := cfg.Raw["rope_parameters"]; ok {
			var m map[string]any
			if json.Unmarshal(rp, &m) == nil && m != nil {
				for _, k := range []string{"rope_theta", "partial_rotary_factor"} {
					if _, has := m[k]; has && fresh[k] != nil {
						m[k] = fresh[k]
					}
				}
				if cfg.Llama != nil {
					// The scaling keys state the config's rope scaling.
					for _, k := range ropeScalingKeys {
						delete(m, k)
					}
					m["rope_type"] = "default"
					for k, v := range cfg.Llama.RopeScaling.hfObject() {
						m[k] = v
					}
				}
				out["rope_parameters"] = m
			}
		}
		if cfg.Llama != nil && fresh["rope_scaling"] == nil {
			if _, ok := out["rope_scaling"]; ok {
				out["rope_scaling"] = nil // none: rope_scaling would win over rope_parameters
			}
		}
	}
	if dt := weightsDType(params); dt != "" {
		for _, k := range []string{"torch_dtype", "dtype"} {
			if _, ok := out[k]; ok {
				out[k] = dt
			}
		}
	}
	return out, nil
}

// configFromRaw reads a config from a config.json object.
func configFromRaw(raw map[string]json.RawMessage) (HFConfig, error) {
	data, err := json.Marshal(raw)
	if err != nil {
		return HFConfig{}, err
	}
	return ConfigFromJSON(data, "config.json")
}

// jsonEqual reports whether a JSON value and a Go value encode the same.
func jsonEqual(a json.RawMessage, b any) bool {
	bb, err := json.Marshal(b)
	if err != nil {
		return false
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(bb, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// weightsDType is the torch dtype name of params' float tensors ("" if
// they have none or several).
func weightsDType(params map[string]*graph.Tensor) string {
	name := ""
	for _, t := range params {
		var n string
		switch t.DType {
		case graph.F32:
			n = "float32"
		case graph.F64:
			n = "float64"
		default:
			continue
		}
		if name != "" && name != n {
			return ""
		}
		name = n
	}
	return name
}

// SaveStudent writes a student folder to dir: config.json is the teacher's
// config (see configObject: a config read from a config.json keeps all its
// fields) plus a "mohawk" object {"mixers": {"<layer>": {"name",
// "version", "config"}}}; model.safetensors holds every tensor of params;
// the tokenizer files of tokenizerFrom are copied when it is not "". Each
// file is written atomically.
func SaveStudent(dir string, cfg HFConfig, mixers map[int]StudentLayerInfo, params map[string]*graph.Tensor, tokenizerFrom string) error {
	obj, err := configObject(cfg, params)
	if err != nil {
		return fmt.Errorf("student %s: %w", dir, err)
	}
	meta := studentMeta{Mixers: make(map[string]StudentLayerInfo, len(mixers))}
	for l, info := range mixers {
		if l < 0 {
			return fmt.Errorf("student %s: mixer for layer %d", dir, l)
		}
		if info.Name == "" {
			return fmt.Errorf("student %s: mixer for layer %d has no name", dir, l)
		}
		if len(info.Config) == 0 {
			info.Config = json.RawMessage("null")
		}
		if !json.Valid(info.Config) {
			return fmt.Errorf("student %s: mixer config of layer %d is not valid JSON", dir, l)
		}
		meta.Mixers[strconv.Itoa(l)] = info
	}
	obj[studentKey] = meta
	raw, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		return fmt.Errorf("student %s: %w", dir, err)
	}
	back, err := ConfigFromHF(&checkpoint.Folder{Dir: dir, Config: raw})
	if err != nil {
		return fmt.Errorf("student %s: the config written does not read back: %w", dir, err)
	}
	if !reflect.DeepEqual(back.FamilyConfig(), cfg.FamilyConfig()) {
		return fmt.Errorf("student %s: the config written reads back as %+v, not %+v", dir, back.FamilyConfig(), cfg.FamilyConfig())
	}
	return checkpoint.SaveFolder(dir, append(raw, '\n'), params, tokenizerFrom)
}

// LoadStudent opens a student folder written by SaveStudent: the teacher's
// config, the replaced layers' mixer infos (by layer) and the open folder,
// for LoadWeights once the caller has built the student with the mixers it
// supplies by name. The caller closes the folder.
func LoadStudent(dir string) (HFConfig, map[int]StudentLayerInfo, *checkpoint.Folder, error) {
	folder, err := checkpoint.LoadFolder(dir)
	if err != nil {
		return HFConfig{}, nil, nil, err
	}
	fail := func(err error) (HFConfig, map[int]StudentLayerInfo, *checkpoint.Folder, error) {
		folder.Close()
		return HFConfig{}, nil, nil, err
	}
	cfg, err := ConfigFromHF(folder)
	if err != nil {
		return fail(err)
	}
	path := filepath.Join(dir, checkpoint.ConfigName)
	var top struct {
		Mohawk *studentMeta `json:"mohawk"`
	}
	if err := json.Unmarshal(folder.Config, &top); err != nil {
		return fail(fmt.Errorf("%s: %s: %w", path, studentKey, err))
	}
	if top.Mohawk == nil {
		return fail(fmt.Errorf("%s: no %q object: not a student folder", path, studentKey))
	}
	layers := cfgLayers(cfg)
	out := make(map[int]StudentLayerInfo, len(top.Mohawk.Mixers))
	keys := make([]string, 0, len(top.Mohawk.Mixers))
	for k := range top.Mohawk.Mixers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		info := top.Mohawk.Mixers[k]
		l, err := strconv.Atoi(k)
		if err != nil || l < 0 || l >= layers || strconv.Itoa(l) != k {
			return fail(fmt.Errorf("%s: %s.mixers: layer %q is not a layer of the model (0 to %d)", path, studentKey, k, layers-1))
		}
		if info.Name == "" {
			return fail(fmt.Errorf("%s: %s.mixers.%s: no mixer name", path, studentKey, k))
		}
		out[l] = info
	}
	return cfg, out, folder, nil
}

func cfgLayers(cfg HFConfig) int {
	switch {
	case cfg.Phi != nil:
		return cfg.Phi.Layers
	case cfg.Llama != nil:
		return cfg.Llama.Layers
	case cfg.GPT2 != nil:
		return cfg.GPT2.Layers
	}
	return 0
}
