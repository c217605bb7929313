// The configuration of a Mamba-2 layer: the schema the mixer declares, and
// its decoding and validation against a layer's dims. Every error names the
// attribute and the constraint it breaks.

package mamba2

import (
	"fmt"
	"math"
	"math/big"

	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// Variants and initialisations.
const (
	VariantDiscrete   = "discrete"   // Phi-Mamba / Llamba's "discrete Mamba-2"
	VariantContinuous = "continuous" // vanilla Mamba-2

	InitMohawk    = "mohawk"    // random projections, identity conv
	InitAttention = "attention" // x ← W_V, B ← W_K, C ← W_Q, out_proj ← W_O
)

// Schema is the configuration a pipeline's mixer block may hold. A zero
// for state_size, heads, n_qk_heads or expand takes the variant's default,
// which may depend on the teacher's dims.
var Schema = mixer.Schema{Attributes: []mixer.Attribute{
	{Name: "variant", Type: cty.String, Default: cty.StringVal(VariantDiscrete),
		Description: `"discrete" (Phi-Mamba: decay −softplus(a), no Δ, no norm) or "continuous" (vanilla Mamba-2)`},
	{Name: "state_size", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "state size N; 0 takes the teacher head dim (discrete) or 128 (continuous)"},
	{Name: "heads", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "SSD heads H; 0 takes the teacher's heads"},
	{Name: "n_qk_heads", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "groups G sharing B and C (Mamba-2's ngroups); 0 takes heads (discrete) or 1 (continuous)"},
	{Name: "expand", Type: cty.Number, Default: cty.NumberIntVal(0),
		Description: "inner width H·P = expand·d_model; 0 takes 1 (discrete) or 2 (continuous)"},
	{Name: "conv_kernel", Type: cty.Number, Default: cty.NumberIntVal(4),
		Description: "taps of the depthwise causal convolution over x, B, C"},
	{Name: "chunk", Type: cty.Number, Default: cty.NumberIntVal(64),
		Description: "chunk length of the chunked SSD in Forward"},
	{Name: "init", Type: cty.String, Default: cty.StringVal(InitMohawk),
		Description: `"mohawk" (random projections, identity conv) or "attention" (discrete only: InitFromTeacher copies W_V, W_K, W_Q, W_O)`},
	{Name: "dt_min", Type: cty.Number, Default: cty.NumberFloatVal(0.001),
		Description: "continuous: smallest initial Δ = softplus(dt_bias)"},
	{Name: "dt_max", Type: cty.Number, Default: cty.NumberFloatVal(0.1),
		Description: "continuous: largest initial Δ"},
	{Name: "a_init_min", Type: cty.Number, Default: cty.NumberIntVal(1),
		Description: "continuous: smallest initial A magnitude (exp(A_log))"},
	{Name: "a_init_max", Type: cty.Number, Default: cty.NumberIntVal(16),
		Description: "continuous: largest initial A magnitude"},
	{Name: "norm_eps", Type: cty.Number, Default: cty.NumberFloatVal(1e-5),
		Description: "continuous: epsilon of the gated RMSNorm"},
}}

// config is a layer's validated configuration with every size resolved.
type config struct {
	variant, init string
	d             int // d_model
	h, p, n, g    int // heads, head dim, state size, B/C groups
	expand        int
	inner         int // H·P = expand·d_model
	k, chunk      int // conv taps, SSD chunk
	dtMin, dtMax  float64
	aMin, aMax    float64
	normEps       float64
}

func (c config) discrete() bool { return c.variant == VariantDiscrete }

// convChannels is the width of x, B and C, the convolved part of in_proj.
func (c config) convChannels() int { return c.inner + 2*c.g*c.n }

// projRows is in_proj's output width: x, B, C, z and one decay input per
// head (a for discrete, dt for continuous).
func (c config) projRows() int { return 2*c.inner + 2*c.g*c.n + c.h }

// attrs reads a layer's configuration, tolerating a null config or a
// missing attribute (both take the schema's default).
type attrs struct {
	v    cty.Value
	errs []error
}

func (a *attrs) get(name string) (cty.Value, bool) {
	if a.v == cty.NilVal || a.v.IsNull() || !a.v.Type().IsObjectType() || !a.v.Type().HasAttribute(name) {
		return cty.NilVal, false
	}
	v := a.v.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return cty.NilVal, false
	}
	return v, true
}

func (a *attrs) str(name, def string) string {
	v, ok := a.get(name)
	if !ok {
		return def
	}
	if v.Type() != cty.String {
		a.errs = append(a.errs, fmt.Errorf("%s: must be a string, found %s", name, v.Type().FriendlyName()))
		return def
	}
	return v.AsString()
}

func (a *attrs) num(name string, def float64) float64 {
	v, ok := a.get(name)
	if !ok {
		return def
	}
	if v.Type() != cty.Number {
		a.errs = append(a.errs, fmt.Errorf("%s: must be a number, found %s", name, v.Type().FriendlyName()))
		return def
	}
	f, _ := v.AsBigFloat().Float64()
	return f
}

func (a *attrs) integer(name string, def int) int {
	v, ok := a.get(name)
	if !ok {
		return def
	}
	if v.Type() != cty.Number {
		a.errs = append(a.errs, fmt.Errorf("%s: must be a number, found %s", name, v.Type().FriendlyName()))
		return def
	}
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if acc != big.Exact || i < math.MinInt32 || i > math.MaxInt32 {
		a.errs = append(a.errs, fmt.Errorf("%s: must be a whole number, found %s", name, bf.Text('g', 10)))
		return def
	}
	return int(i)
}

// configure decodes and validates l's configuration. The error names the
// first attribute that cannot work and the constraint it breaks.
func configure(l mixer.Layer) (config, error) {
	d := l.Dims
	a := &attrs{v: l.Config}
	c := config{
		variant: a.str("variant", VariantDiscrete),
		init:    a.str("init", InitMohawk),
		d:       d.DModel,
		n:       a.integer("state_size", 0),
		h:       a.integer("heads", 0),
		g:       a.integer("n_qk_heads", 0),
		expand:  a.integer("expand", 0),
		k:       a.integer("conv_kernel", 4),
		chunk:   a.integer("chunk", 64),
		dtMin:   a.num("dt_min", 0.001),
		dtMax:   a.num("dt_max", 0.1),
		aMin:    a.num("a_init_min", 1),
		aMax:    a.num("a_init_max", 16),
		normEps: a.num("norm_eps", 1e-5),
	}
	if len(a.errs) > 0 {
		return c, a.errs[0]
	}
	switch c.variant {
	case VariantDiscrete, VariantContinuous:
	default:
		return c, fmt.Errorf("variant: must be %q or %q, found %q", VariantDiscrete, VariantContinuous, c.variant)
	}
	switch c.init {
	case InitMohawk, InitAttention:
	default:
		return c, fmt.Errorf("init: must be %q or %q, found %q", InitMohawk, InitAttention, c.init)
	}
	if d.DModel <= 0 {
		return c, fmt.Errorf("d_model: must be positive, found %d", d.DModel)
	}
	if d.Heads <= 0 || d.DModel%d.Heads != 0 {
		return c, fmt.Errorf("heads: the teacher's %d heads must divide d_model %d", d.Heads, d.DModel)
	}
	teacherHeadDim := d.DModel / d.Heads
	for _, f := range []struct {
		name string
		v    int
	}{{"state_size", c.n}, {"heads", c.h}, {"n_qk_heads", c.g}, {"expand", c.expand}} {
		if f.v < 0 {
			return c, fmt.Errorf("%s: must be positive (or 0 for the default), found %d", f.name, f.v)
		}
	}
	// Defaults: Phi-Mamba's for discrete, Mamba-2's for continuous.
	if c.h == 0 {
		c.h = d.Heads
	}
	defExpand, defGroups, defState := 1, c.h, teacherHeadDim
	if !c.discrete() {
		defExpand, defGroups, defState = 2, 1, 128
	}
	if c.expand == 0 {
		c.expand = defExpand
	}
	if c.g == 0 {
		c.g = defGroups
	}
	if c.n == 0 {
		c.n = defState
	}
	c.inner = c.expand * c.d
	if c.inner%c.h != 0 {
		return c, fmt.Errorf("heads: %d heads must divide d_model·expand = %d·%d = %d", c.h, c.d, c.expand, c.inner)
	}
	c.p = c.inner / c.h
	if c.h%c.g != 0 {
		return c, fmt.Errorf("n_qk_heads: %d groups must divide heads %d", c.g, c.h)
	}
	if c.k < 1 {
		return c, fmt.Errorf("conv_kernel: must be at least 1, found %d", c.k)
	}
	if c.chunk < 1 {
		return c, fmt.Errorf("chunk: must be at least 1, found %d", c.chunk)
	}
	if !c.discrete() {
		if !(c.dtMin > 0 && c.dtMin <= c.dtMax) {
			return c, fmt.Errorf("dt_min: must satisfy 0 < dt_min ≤ dt_max, found dt_min %v, dt_max %v", c.dtMin, c.dtMax)
		}
		if !(c.aMin > 0 && c.aMin <= c.aMax) {
			return c, fmt.Errorf("a_init_min: must satisfy 0 < a_init_min ≤ a_init_max, found a_init_min %v, a_init_max %v", c.aMin, c.aMax)
		}
		if !(c.normEps > 0) {
			return c, fmt.Errorf("norm_eps: must be positive, found %v", c.normEps)
		}
	}
	if c.init == InitAttention {
		kv := d.KVHeads
		if kv == 0 {
			kv = d.Heads
		}
		switch {
		case !c.discrete():
			return c, fmt.Errorf("init: %q needs variant %q (the continuous variant has no transfer from attention)", InitAttention, VariantDiscrete)
		case c.n != teacherHeadDim:
			return c, fmt.Errorf("init: %q needs state_size equal to the teacher head dim %d (B ← W_K, C ← W_Q), found %d", InitAttention, teacherHeadDim, c.n)
		case c.h != d.Heads:
			return c, fmt.Errorf("init: %q needs heads equal to the teacher's %d, found %d", InitAttention, d.Heads, c.h)
		case c.g != c.h:
			return c, fmt.Errorf("init: %q needs n_qk_heads equal to heads %d (C ← W_Q has one row block per head), found %d", InitAttention, c.h, c.g)
		case c.expand != 1:
			return c, fmt.Errorf("init: %q needs expand 1 (x ← W_V), found %d", InitAttention, c.expand)
		case kv <= 0 || d.Heads%kv != 0:
			return c, fmt.Errorf("init: %q needs the teacher's %d key/value heads to divide its %d heads", InitAttention, kv, d.Heads)
		}
	}
	return c, nil
}
