// Configuration of the hybrid mixer: its schema, the decoding of a layer's
// configuration, and the nested configurations handed to the attention and
// Mamba-2 mixers it reuses.

package hybrid

import (
	"fmt"
	"math"
	"math/big"

	"github.com/mohawk-distill/mohawk/mixers/attention"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// Modes and ways of combining the two paths of a within-layer hybrid.
const (
	ModeLayer  = "layer"  // per layer: attention at some layers, SSD elsewhere
	ModeWithin = "within" // in every layer: SSD heads plus sliding-window softmax

	CombineSum              = "sum"               // learned per-head mix of the two outputs
	CombineSharedNormalizer = "shared_normalizer" // LoLCATs' one normaliser over window and decayed linear term
)

// Attributes passed through to the nested mixers, by the name they have
// there (the same as here).
var (
	ssdAttrs       = []string{"state_size", "n_qk_heads", "chunk", "conv_kernel", "init"}
	attentionAttrs = []string{"rotary_dim", "rope_theta", "rope_type", "rope_factor", "rope_low_freq_factor",
		"rope_high_freq_factor", "rope_original_max_positions", "qkv_bias", "out_bias", "out_name"}
)

// Schema is the configuration a pipeline's mixer block may hold.
var Schema = mixer.Schema{Attributes: []mixer.Attribute{
	{Name: "mode", Type: cty.String, Default: cty.StringVal(ModeLayer),
		Description: `"layer" (attention at attention_layers, discrete Mamba-2 elsewhere) or "within" (SSD plus sliding-window softmax in every layer)`},
	{Name: "attention_layers", Type: cty.List(cty.Number),
		Description: "mode layer: indices of the layers kept as attention; unset: every attention_every-th layer"},
	{Name: "attention_every", Type: cty.Number, Default: cty.NumberIntVal(6),
		Description: "mode layer without attention_layers: layers with index % attention_every == attention_every − 1 are attention; 0: none"},
	{Name: "state_size", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "SSD state size N; 0 takes the teacher head dim"},
	{Name: "n_qk_heads", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "SSD groups sharing B and C; 0 takes the heads"},
	{Name: "chunk", Type: cty.Number, Default: cty.NumberIntVal(64),
		Description: "chunk length of the chunked SSD"},
	{Name: "conv_kernel", Type: cty.Number, Default: cty.NumberIntVal(4),
		Description: "taps of the SSD's causal convolution"},
	{Name: "init", Type: cty.String, Default: cty.StringVal("mohawk"),
		Description: `SSD initialisation: "mohawk" or "attention" (copy W_V, W_K, W_Q, W_O)`},
	{Name: "rotary_dim", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "attention layers: channels of each head rotated by RoPE; 0 is no RoPE"},
	{Name: "rope_theta", Type: cty.Number, Default: cty.NumberIntVal(10000),
		Description: "attention layers: RoPE base"},
	{Name: "rope_type", Type: cty.String, Default: cty.StringVal(attention.RopeDefault),
		Description: `attention layers: RoPE frequency scaling, "default" (none), "linear" or "llama3"`},
	{Name: "rope_factor", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "attention layers, rope_type linear and llama3: the factor dividing the (long-wavelength) frequencies"},
	{Name: "rope_low_freq_factor", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "attention layers, rope_type llama3: wavelengths above rope_original_max_positions / rope_low_freq_factor are divided by rope_factor"},
	{Name: "rope_high_freq_factor", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "attention layers, rope_type llama3: wavelengths below rope_original_max_positions / rope_high_freq_factor are kept"},
	{Name: "rope_original_max_positions", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "attention layers, rope_type llama3: the context length the teacher was first trained at"},
	{Name: "qkv_bias", Type: cty.Bool, Default: cty.False,
		Description: "attention layers: q_proj, k_proj and v_proj have biases"},
	{Name: "out_bias", Type: cty.Bool, Default: cty.False,
		Description: "attention layers: the output projection has a bias"},
	{Name: "out_name", Type: cty.String, Default: cty.StringVal("o_proj"),
		Description: `attention layers: name of the output projection ("dense" for Phi)`},
	{Name: "window", Type: cty.Number, Default: cty.NumberIntVal(64),
		Description: "mode within: each query's softmax sees its last window tokens, itself included"},
	{Name: "combine", Type: cty.String, Default: cty.StringVal(CombineSum),
		Description: `mode within: "sum" (learned per-head mix) or "shared_normalizer" (one normaliser over the window's exp-scores and the decayed linear attention before it)`},
}}

// get is the attribute name of cfg, or false when cfg has none or it is
// null.
func get(cfg cty.Value, name string) (cty.Value, bool) {
	if cfg == cty.NilVal || cfg.IsNull() || !cfg.IsKnown() || !cfg.Type().IsObjectType() || !cfg.Type().HasAttribute(name) {
		return cty.NilVal, false
	}
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

func str(cfg cty.Value, name, def string) (string, error) {
	v, ok := get(cfg, name)
	if !ok {
		return def, nil
	}
	if v.Type() != cty.String {
		return def, fmt.Errorf("%s: must be a string, found %s", name, v.Type().FriendlyName())
	}
	return v.AsString(), nil
}

func whole(name string, v cty.Value) (int, error) {
	if v.Type() != cty.Number {
		return 0, fmt.Errorf("%s: must be a number, found %s", name, v.Type().FriendlyName())
	}
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if acc != big.Exact || i < math.MinInt32 || i > math.MaxInt32 {
		return 0, fmt.Errorf("%s: must be a whole number, found %s", name, bf.Text('g', 10))
	}
	return int(i), nil
}

func integer(cfg cty.Value, name string, def int) (int, error) {
	v, ok := get(cfg, name)
	if !ok {
		return def, nil
	}
	return whole(name, v)
}

// config is a layer's decoded configuration.
type config struct {
	mode, combine string
	window, chunk int
}

func configure(cfg cty.Value) (config, error) {
	c := config{}
	var err error
	if c.mode, err = str(cfg, "mode", ModeLayer); err != nil {
		return c, err
	}
	if c.mode != ModeLayer && c.mode != ModeWithin {
		return c, fmt.Errorf("mode: must be %q or %q, found %q", ModeLayer, ModeWithin, c.mode)
	}
	if c.combine, err = str(cfg, "combine", CombineSum); err != nil {
		return c, err
	}
	if c.window, err = integer(cfg, "window", 64); err != nil {
		return c, err
	}
	if c.chunk, err = integer(cfg, "chunk", 64); err != nil {
		return c, err
	}
	if c.mode == ModeWithin {
		switch c.combine {
		case CombineSum, CombineSharedNormalizer:
		default:
			return c, fmt.Errorf("combine: must be %q or %q, found %q", CombineSum, CombineSharedNormalizer, c.combine)
		}
		if c.window < 1 {
			return c, fmt.Errorf("window: must be at least 1, found %d", c.window)
		}
	}
	return c, nil
}

// IsAttentionLayer reports whether layer is kept as softmax attention
// under cfg (a configuration of Schema): in mode "layer", a layer listed
// in attention_layers or, without that list, one whose index is
// attention_every − 1 modulo attention_every (layers 5, 11, 17, … by
// default). In mode "within" no layer is. Kept attention layers are copied
// from the teacher and skip MOHAWK's stages 1 and 2; the engine asks this
// to know which.
func IsAttentionLayer(cfg cty.Value, layer int) (bool, error) {
	c, err := configure(cfg)
	if err != nil {
		return false, err
	}
	if c.mode != ModeLayer {
		return false, nil
	}
	if list, ok := get(cfg, "attention_layers"); ok {
		if !list.CanIterateElements() {
			return false, fmt.Errorf("attention_layers: must be a list of layer indices, found %s", list.Type().FriendlyName())
		}
		found := false
		for it := list.ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsNull() {
				return false, fmt.Errorf("attention_layers: an index is null")
			}
			i, err := whole("attention_layers", v)
			if err != nil {
				return false, err
			}
			if i < 0 {
				return false, fmt.Errorf("attention_layers: indices must be ≥ 0, found %d", i)
			}
			found = found || i == layer
		}
		return found, nil
	}
	every, err := integer(cfg, "attention_every", 6)
	if err != nil {
		return false, err
	}
	if every < 0 {
		return false, fmt.Errorf("attention_every: must be ≥ 0 (0 for no attention layers), found %d", every)
	}
	return every > 0 && layer%every == every-1, nil
}

// nested is the configuration handed to a nested mixer: cfg's attributes
// of names that are present and not null, plus extra.
func nested(cfg cty.Value, names []string, extra map[string]cty.Value) cty.Value {
	m := map[string]cty.Value{}
	for _, n := range names {
		if v, ok := get(cfg, n); ok {
			m[n] = v
		}
	}
	for k, v := range extra {
		m[k] = v
	}
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}

// ssdLayer is l with the configuration of the discrete Mamba-2 mixer.
func ssdLayer(l mixer.Layer) mixer.Layer {
	return mixer.Layer{Config: nested(l.Config, ssdAttrs, map[string]cty.Value{"variant": cty.StringVal("discrete")}), Dims: l.Dims}
}

// attentionLayer is l with the configuration of the attention mixer.
func attentionLayer(l mixer.Layer) mixer.Layer {
	return mixer.Layer{Config: nested(l.Config, attentionAttrs, nil), Dims: l.Dims}
}
