package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Families that ConfigFromHF reads, by config.json's model_type.
const (
	FamilyPhi   = "phi"
	FamilyLlama = "llama"
	FamilyGPT2  = "gpt2"
)

// HFConfig is a model family's config read from a Hugging Face folder:
// Family names which of Phi, Llama and GPT2 is set.
type HFConfig struct {
	Family string
	Phi    *PhiConfig
	Llama  *LlamaConfig
	GPT2   *GPT2Config
	// Raw is the config.json object the config was read from, every field
	// as found (nil for a config built in Go). SaveStudent writes it back
	// with only what differs from the family config changed.
	Raw map[string]json.RawMessage
}

// Build builds the model over tokens [batch, seqLen] (seqLen 0 keeps the
// config's, its max_position_embeddings).
func (c HFConfig) Build(b *graph.Builder, dt graph.DType, batch, seqLen int, seed uint64) (*LM, error) {
	switch c.Family {
	case FamilyPhi:
		cfg := *c.Phi
		if seqLen > 0 {
			cfg.SeqLen = seqLen
		}
		return BuildPhi(b, cfg, dt, batch, seed)
	case FamilyLlama:
		cfg := *c.Llama
		if seqLen > 0 {
			cfg.SeqLen = seqLen
		}
		return BuildLlama(b, cfg, dt, batch, seed)
	case FamilyGPT2:
		cfg := *c.GPT2
		if seqLen > 0 {
			cfg.SeqLen = seqLen
		}
		return BuildGPT2(b, cfg, dt, batch, seed)
	}
	return nil, fmt.Errorf("model family %q is not supported (phi, llama, gpt2)", c.Family)
}

// hfConfig holds the config.json fields the three families use.
type hfConfig struct {
	ModelType         string         `json:"model_type"`
	Vocab             int            `json:"vocab_size"`
	Hidden            int            `json:"hidden_size"`
	Layers            int            `json:"num_hidden_layers"`
	Heads             int            `json:"num_attention_heads"`
	KVHeads           int            `json:"num_key_value_heads"`
	Intermediate      int            `json:"intermediate_size"`
	MaxPositions      int            `json:"max_position_embeddings"`
	HeadDim           int            `json:"head_dim"`
	RopeTheta         float64        `json:"rope_theta"`
	PartialRotary     *float64       `json:"partial_rotary_factor"`
	RopeParameters    map[string]any `json:"rope_parameters"`
	RopeScaling       map[string]any `json:"rope_scaling"`
	LayerNormEps      float64        `json:"layer_norm_eps"`
	RMSNormEps        float64        `json:"rms_norm_eps"`
	HiddenAct         string         `json:"hidden_act"`
	Tie               *bool          `json:"tie_word_embeddings"`
	AttentionBias     bool           `json:"attention_bias"`
	MLPBias           bool           `json:"mlp_bias"`
	QKLayerNorm       bool           `json:"qk_layernorm"`
	NEmbd             int            `json:"n_embd"`
	NLayer            int            `json:"n_layer"`
	NHead             int            `json:"n_head"`
	NInner            *int           `json:"n_inner"`
	NPositions        int            `json:"n_positions"`
	LayerNormEpsilon  float64        `json:"layer_norm_epsilon"`
	Activation        string         `json:"activation_function"`
	ScaleByLayer      bool           `json:"scale_attn_by_inverse_layer_idx"`
	ScaleAttnWeights  *bool          `json:"scale_attn_weights"`
	ReorderUpcastAttn bool           `json:"reorder_and_upcast_attn"`
	AddCrossAttention bool           `json:"add_cross_attention"`
	SlidingWindow     *int           `json:"sliding_window"`
	PretrainingTP     int            `json:"pretraining_tp"`
}

// ropeParam is rope_parameters[key] when it is a number, else fallback.
func (h *hfConfig) ropeParam(key string, fallback float64) float64 {
	if v, ok := h.RopeParameters[key].(float64); ok {
		return v
	}
	return fallback
}

// ropeDefault reports an error unless the rotary embedding is the plain one.
func (h *hfConfig) ropeDefault(family string) error {
	r, err := h.ropeScaling()
	if err != nil {
		return err
	}
	if r.Type != "" {
		key, _ := h.ropeObject()
		return fmt.Errorf("%s: rope_type %q is not supported for %s (default)", key, r.Type, family)
	}
	return nil
}

// ConfigFromHF reads the family and its config from a folder's config.json
// (model_type phi, llama or gpt2). SeqLen is max_position_embeddings.
func ConfigFromHF(folder *checkpoint.Folder) (HFConfig, error) {
	return ConfigFromJSON(folder.Config, filepath.Join(folder.Dir, checkpoint.ConfigName))
}

// requiredKeys are the config.json keys each family needs (transformers
// has defaults for them, but a teacher's config always states them, and a
// silent default would build another model).
var requiredKeys = map[string][]string{
	FamilyPhi:   {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads"},
	FamilyLlama: {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"},
	FamilyGPT2:  {"vocab_size", "n_embd", "n_layer", "n_head", "n_positions"},
}

// ConfigFromJSON reads a config from the bytes of a Hugging Face
// config.json object (model_type phi, llama or gpt2), as ConfigFromHF
// does; where names the source in errors (a file, or a block of a
// pipeline). The result keeps the object in Raw. Errors name the key.
func ConfigFromJSON(data []byte, where string) (HFConfig, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		if err == nil {
			err = fmt.Errorf("found null")
		}
		return HFConfig{}, fmt.Errorf("%s: expected a JSON object: %v", where, err)
	}
	var h hfConfig
	if err := json.Unmarshal(data, &h); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return HFConfig{}, fmt.Errorf("%s: %s: expected %s, found %s %s", where, te.Field, jsonKind(te.Type), te.Value, raw[te.Field])
		}
		return HFConfig{}, fmt.Errorf("%s: %w", where, err)
	}
	if _, ok := raw["model_type"]; !ok {
		return HFConfig{}, fmt.Errorf("%s: no model_type (expected phi, llama or gpt2)", where)
	}
	for _, k := range requiredKeys[h.ModelType] {
		v, ok := raw[k]
		if !ok || string(v) == "null" {
			return HFConfig{}, fmt.Errorf("%s: %s is missing (a %s config needs %v)", where, k, h.ModelType, requiredKeys[h.ModelType])
		}
		var n float64
		if json.Unmarshal(v, &n) == nil && n <= 0 {
			return HFConfig{}, fmt.Errorf("%s: %s must be positive, found %s", where, k, v)
		}
	}
	cfg, err := h.family(where)
	if err != nil {
		return HFConfig{}, err
	}
	cfg.Raw = raw
	return cfg, nil
}

// jsonKind names the JSON kind of a Go type for an error message.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}

// family checks h and builds its family's config.
func (h *hfConfig) family(path string) (HFConfig, error) {
	fail := func(err error) (HFConfig, error) { return HFConfig{}, fmt.Errorf("%s: %w", path, err) }
	if h.Heads > 0 && h.Hidden%h.Heads != 0 && h.ModelType != FamilyGPT2 {
		return fail(fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d", h.Hidden, h.Heads))
	}
	if h.NHead > 0 && h.NEmbd%h.NHead != 0 && h.ModelType == FamilyGPT2 {
		return fail(fmt.Errorf("n_embd %d is not a multiple of n_head %d", h.NEmbd, h.NHead))
	}
	if h.KVHeads > 0 && h.Heads%h.KVHeads != 0 {
		return fail(fmt.Errorf("num_key_value_heads %d does not divide num_attention_heads %d", h.KVHeads, h.Heads))
	}
	switch h.ModelType {
	case FamilyPhi:
		if h.HiddenAct != "" && h.HiddenAct != "gelu_new" {
			return fail(fmt.Errorf("hidden_act %q is not supported (gelu_new)", h.HiddenAct))
		}
		if h.KVHeads != 0 && h.KVHeads != h.Heads {
			return fail(fmt.Errorf("num_key_value_heads %d differs from num_attention_heads %d, which phi does not support", h.KVHeads, h.Heads))
		}
		if h.QKLayerNorm {
			return fail(fmt.Errorf("qk_layernorm is not supported"))
		}
		if h.Tie != nil && *h.Tie {
			return fail(fmt.Errorf("tie_word_embeddings is not supported for phi"))
		}
		if err := h.ropeDefault(FamilyPhi); err != nil {
			return fail(err)
		}
		frac := 0.5
		if h.PartialRotary != nil {
			frac = *h.PartialRotary
		}
		frac = h.ropeParam("partial_rotary_factor", frac)
		hd := 0
		if h.Heads > 0 {
			hd = h.Hidden / h.Heads
		}
		cfg := PhiConfig{Vocab: h.Vocab, DModel: h.Hidden, Layers: h.Layers, Heads: h.Heads, SeqLen: h.MaxPositions,
			MLPHidden: h.Intermediate, RotaryDim: int(frac * float64(hd)), RopeTheta: h.ropeTheta(),
			LayerNormEps: h.LayerNormEps}
		if cfg.RotaryDim == 0 {
			return fail(fmt.Errorf("partial_rotary_factor %g gives no rotary channels, which is not supported", frac))
		}
		if err := cfg.Defaults().Validate(); err != nil {
			return fail(err)
		}
		return HFConfig{Family: FamilyPhi, Phi: &cfg}, nil
	case FamilyLlama:
		if h.HiddenAct != "" && h.HiddenAct != "silu" {
			return fail(fmt.Errorf("hidden_act %q is not supported (silu)", h.HiddenAct))
		}
		if h.AttentionBias || h.MLPBias {
			return fail(fmt.Errorf("attention_bias and mlp_bias are not supported"))
		}
		if h.PretrainingTP > 1 {
			return fail(fmt.Errorf("pretraining_tp %d is not supported", h.PretrainingTP))
		}
		if h.Heads > 0 && h.HeadDim != 0 && h.HeadDim != h.Hidden/h.Heads {
			return fail(fmt.Errorf("head_dim %d differs from hidden_size/num_attention_heads, which is not supported", h.HeadDim))
		}
		scaling, err := h.ropeScaling()
		if err != nil {
			return fail(err)
		}
		cfg := LlamaConfig{Vocab: h.Vocab, DModel: h.Hidden, Layers: h.Layers, Heads: h.Heads, SeqLen: h.MaxPositions,
			KVHeads: h.KVHeads, MLPHidden: h.Intermediate, RopeTheta: h.ropeTheta(), RopeScaling: scaling,
			RMSNormEps: h.RMSNormEps, TieEmbeddings: h.Tie != nil && *h.Tie}
		if err := cfg.Defaults().Validate(); err != nil {
			return fail(err)
		}
		return HFConfig{Family: FamilyLlama, Llama: &cfg}, nil
	case FamilyGPT2:
		if h.Activation != "" && h.Activation != "gelu_new" {
			return fail(fmt.Errorf("activation_function %q is not supported (gelu_new)", h.Activation))
		}
		if h.ScaleByLayer || h.AddCrossAttention || (h.ScaleAttnWeights != nil && !*h.ScaleAttnWeights) {
			return fail(fmt.Errorf("scale_attn_by_inverse_layer_idx, add_cross_attention and scale_attn_weights false are not supported"))
		}
		if h.Tie != nil && !*h.Tie {
			return fail(fmt.Errorf("an untied gpt2 head is not supported"))
		}
		cfg := GPT2Config{Vocab: h.Vocab, DModel: h.NEmbd, Layers: h.NLayer, Heads: h.NHead, SeqLen: h.NPositions,
			Positions: h.NPositions, LayerNormEps: h.LayerNormEpsilon}
		if h.NInner != nil {
			cfg.MLPHidden = *h.NInner
		}
		if err := cfg.Defaults().Validate(); err != nil {
			return fail(err)
		}
		return HFConfig{Family: FamilyGPT2, GPT2: &cfg}, nil
	}
	return HFConfig{}, fmt.Errorf("model_type %s in %s is not supported (phi, llama, gpt2)", h.ModelType, path)
}

// LoadWeights reads every parameter of lm from folder, converted to the
// parameter's dtype, keyed by parameter name (the tensors to give a
// backend's SetTensor). A missing tensor or one of another shape is an
// error naming the tensor, the shape expected and the one found. Tied heads
// are one parameter and so read once.
func LoadWeights(lm *LM, folder *checkpoint.Folder) (map[string]*graph.Tensor, error) {
	out := make(map[string]*graph.Tensor, len(lm.Params))
	for _, p := range lm.Params {
		want := p.Shape
		info, err := folder.Info(p.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: expected %v, missing from %s (%w)", p.Name, shapeString(want), folder.Dir, err)
		}
		if !sameShape(info.Shape, want) {
			return nil, fmt.Errorf("%s: expected %s, found %s in %s", p.Name, shapeString(want), shapeString(info.Shape), whereIs(folder, p.Name))
		}
		t, err := folder.Tensor(p.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		if t.DType != p.DType {
			c := graph.NewTensor(p.DType, want...)
			for i := 0; i < c.Len(); i++ {
				c.Set(i, t.At(i))
			}
			t = c
		}
		out[p.Name] = t
	}
	return out, nil
}

func sameShape(a []int, b graph.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func shapeString[S ~[]int](s S) string {
	out := "["
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprint(v)
	}
	return out + "]"
}

// whereIs names the file of the folder that holds name: model.safetensors
// when it exists (it wins, as in transformers), else the shard that
// model.safetensors.index.json lists.
func whereIs(folder *checkpoint.Folder, name string) string {
	single := filepath.Join(folder.Dir, "model.safetensors")
	if _, err := os.Stat(single); err == nil {
		return single
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if raw, err := os.ReadFile(filepath.Join(folder.Dir, "model.safetensors.index.json")); err == nil && json.Unmarshal(raw, &idx) == nil && idx.WeightMap[name] != "" {
		return filepath.Join(folder.Dir, idx.WeightMap[name])
	}
	return folder.Dir
}
