// Configuration of the attention mixer: the schema a pipeline's mixer block
// may hold, and its decoding and validation against a layer's dims.

package attention

import (
	"fmt"
	"math"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// Schema is the configuration of an attention layer. Integer attributes
// whose default is 0 take the teacher's value (heads, kv_heads) or a derived
// one (head_dim = d_model / heads).
var Schema = mixer.Schema{Attributes: []mixer.Attribute{
	{Name: "heads", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "query heads; 0 takes the teacher's"},
	{Name: "kv_heads", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "key/value heads (grouped-query attention when fewer than heads); 0 takes the teacher's"},
	{Name: "head_dim", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "channels per head; 0 is d_model / heads"},
	{Name: "rotary_dim", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "channels of each head rotated by RoPE (rotate-half layout); 0 is no RoPE"},
	{Name: "rope_theta", Type: cty.Number, Default: cty.NumberIntVal(10000),
		Description: "RoPE base"},
	{Name: "rope_type", Type: cty.String, Default: cty.StringVal(RopeDefault),
		Description: `RoPE frequency scaling: "default" (none), "linear" (every frequency divided by rope_factor) or "llama3" (Llama 3.1's three wavelength bands)`},
	{Name: "rope_factor", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "rope_type linear and llama3: the factor dividing the (long-wavelength) frequencies; 0 when unused"},
	{Name: "rope_low_freq_factor", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "rope_type llama3: wavelengths above rope_original_max_positions / rope_low_freq_factor are divided by rope_factor; 0 when unused"},
	{Name: "rope_high_freq_factor", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "rope_type llama3: wavelengths below rope_original_max_positions / rope_high_freq_factor are kept; 0 when unused"},
	{Name: "rope_original_max_positions", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "rope_type llama3: the context length the model was first trained at (original_max_position_embeddings); 0 when unused"},
	{Name: "qkv_bias", Type: cty.Bool, Default: cty.False,
		Description: "q_proj, k_proj and v_proj have biases"},
	{Name: "out_bias", Type: cty.Bool, Default: cty.False,
		Description: "the output projection has a bias"},
	{Name: "out_name", Type: cty.String, Default: cty.StringVal("o_proj"),
		Description: `name of the output projection ("dense" for Phi)`},
	{Name: "sliding_window", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "each query attends to its last sliding_window keys, itself included; 0 is no window"},
	{Name: "scale", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "score scale; 0 is 1/sqrt(head_dim)"},
}}

// config is a layer's decoded and validated configuration.
type config struct {
	heads, kvHeads, headDim int
	rotaryDim               int
	ropeTheta               float64
	rope                    ropeScaling
	qkvBias, outBias        bool
	outName                 string
	window                  int
	scale                   float64
}

// configure decodes l.Config (defaults filled in for absent or null
// attributes) and checks it against l.Dims. An error names the attribute
// and the constraint.
func configure(l mixer.Layer) (config, error) {
	d := l.Dims
	if d.Batch <= 0 || d.SeqLen <= 0 || d.DModel <= 0 {
		return config{}, fmt.Errorf("dims: batch, seq_len and d_model must be positive, found %d, %d, %d", d.Batch, d.SeqLen, d.DModel)
	}
	c := config{ropeTheta: 10000, outName: "o_proj", rope: ropeScaling{typ: RopeDefault}}
	var err error
	num := func(name string) (float64, bool) {
		v := attr(l.Config, name)
		if v.IsNull() || !v.Type().Equals(cty.Number) {
			return 0, false
		}
		f, _ := v.AsBigFloat().Float64()
		return f, true
	}
	integer := func(name string, dst *int) {
		f, ok := num(name)
		if !ok || err != nil {
			return
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<30 {
			err = fmt.Errorf("%s: must be a whole number, found %v", name, f)
			return
		}
		*dst = int(f)
	}
	boolean := func(name string, dst *bool) {
		if v := attr(l.Config, name); !v.IsNull() && v.Type().Equals(cty.Bool) {
			*dst = v.True()
		}
	}
	integer("heads", &c.heads)
	integer("kv_heads", &c.kvHeads)
	integer("head_dim", &c.headDim)
	integer("rotary_dim", &c.rotaryDim)
	integer("sliding_window", &c.window)
	integer("rope_original_max_positions", &c.rope.originalMaxPositions)
	if err != nil {
		return c, err
	}
	if f, ok := num("rope_theta"); ok {
		c.ropeTheta = f
	}
	if f, ok := num("scale"); ok {
		c.scale = f
	}
	if f, ok := num("rope_factor"); ok {
		c.rope.factor = f
	}
	if f, ok := num("rope_low_freq_factor"); ok {
		c.rope.lowFreqFactor = f
	}
	if f, ok := num("rope_high_freq_factor"); ok {
		c.rope.highFreqFactor = f
	}
	if v := attr(l.Config, "rope_type"); !v.IsNull() && v.Type().Equals(cty.String) {
		c.rope.typ = v.AsString()
	}
	boolean("qkv_bias", &c.qkvBias)
	boolean("out_bias", &c.outBias)
	if v := attr(l.Config, "out_name"); !v.IsNull() && v.Type().Equals(cty.String) {
		c.outName = v.AsString()
	}

	if c.heads == 0 {
		c.heads = d.Heads
	}
	if c.heads <= 0 {
		return c, fmt.Errorf("heads: must be positive (or 0 for the teacher's), found %d with %d teacher heads", c.heads, d.Heads)
	}
	if c.kvHeads == 0 {
		c.kvHeads = d.KVHeads
		if c.kvHeads == 0 || c.heads != d.Heads {
			// No teacher KV heads, or heads changed from the teacher's:
			// keep the teacher's grouping ratio where it still divides.
			c.kvHeads = c.heads
			if d.KVHeads > 0 && d.Heads > 0 && d.Heads%d.KVHeads == 0 && c.heads%(d.Heads/d.KVHeads) == 0 {
				c.kvHeads = c.heads / (d.Heads / d.KVHeads)
			}
		}
	}
	if c.kvHeads <= 0 || c.heads%c.kvHeads != 0 {
		return c, fmt.Errorf("kv_heads: %d key/value heads must be positive and divide heads %d", c.kvHeads, c.heads)
	}
	if c.headDim == 0 {
		if d.DModel%c.heads != 0 {
			return c, fmt.Errorf("heads: %d heads must divide d_model %d (or set head_dim)", c.heads, d.DModel)
		}
		c.headDim = d.DModel / c.heads
	}
	if c.headDim <= 0 {
		return c, fmt.Errorf("head_dim: must be positive (or 0 for d_model / heads), found %d", c.headDim)
	}
	if c.rotaryDim < 0 || c.rotaryDim%2 != 0 || c.rotaryDim > c.headDim {
		return c, fmt.Errorf("rotary_dim: must be even, ≥ 0 and at most head_dim %d, found %d", c.headDim, c.rotaryDim)
	}
	if c.rotaryDim > 0 && (!(c.ropeTheta > 0) || math.IsInf(c.ropeTheta, 0)) {
		return c, fmt.Errorf("rope_theta: must be positive and finite, found %v", c.ropeTheta)
	}
	if err := c.rope.validate(c.rotaryDim); err != nil {
		return c, err
	}
	if c.window < 0 {
		return c, fmt.Errorf("sliding_window: must be ≥ 0 (0 for none), found %d", c.window)
	}
	if c.scale < 0 || math.IsNaN(c.scale) || math.IsInf(c.scale, 0) {
		return c, fmt.Errorf("scale: must be finite and ≥ 0 (0 for 1/sqrt(head_dim)), found %v", c.scale)
	}
	if c.scale == 0 {
		c.scale = 1 / math.Sqrt(float64(c.headDim))
	}
	if !hclsyntax.ValidIdentifier(c.outName) {
		return c, fmt.Errorf("out_name: must be an identifier such as \"o_proj\" or \"dense\", found %q", c.outName)
	}
	for _, n := range []string{"q_proj", "k_proj", "v_proj"} {
		if c.outName == n {
			return c, fmt.Errorf("out_name: %q is the name of another projection", n)
		}
	}
	return c, nil
}

// attr is the attribute name of an object value, or null.
func attr(v cty.Value, name string) cty.Value {
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return v.GetAttr(name)
}
