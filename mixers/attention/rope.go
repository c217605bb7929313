// Rotary-embedding frequency scaling of the attention mixer: the rope_type
// attributes, their validation, and the inverse frequencies they define,
// which Forward, MixingMatrix and Step all rotate with.

package attention

import (
	"fmt"
	"math"

	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// Values of rope_type, named as Hugging Face's rope_type names them.
const (
	RopeDefault = "default"     // theta^(−2i/rotary_dim), unscaled
	RopeLinear  = nn.RoPELinear // every frequency divided by rope_factor
	RopeLlama3  = nn.RoPELlama3 // Llama 3.1's three wavelength bands
)

// ropeScaling is the decoded rope_type and its parameters; a parameter the
// type does not use is 0.
type ropeScaling struct {
	typ                           string
	factor                        float64
	lowFreqFactor, highFreqFactor float64
	originalMaxPositions          int
}

// validate names the first attribute that cannot work for the type, and
// one set for a type that does not use it (most likely a missing rope_type).
func (r ropeScaling) validate(rotaryDim int) error {
	positive := func(f float64) bool { return f > 0 && !math.IsInf(f, 0) }
	switch r.typ {
	case RopeDefault, RopeLinear, RopeLlama3:
	default:
		return fmt.Errorf("rope_type: must be %q, %q or %q, found %q", RopeDefault, RopeLinear, RopeLlama3, r.typ)
	}
	unused := func(name string, v float64, users string) error {
		if v != 0 {
			return fmt.Errorf("%s: used only by rope_type %s, found %v with rope_type %q (leave it 0 or unset)", name, users, v, r.typ)
		}
		return nil
	}
	if r.typ == RopeDefault {
		if err := unused("rope_factor", r.factor, "linear and llama3"); err != nil {
			return err
		}
	}
	if r.typ != RopeLlama3 {
		for _, a := range []struct {
			name string
			v    float64
		}{{"rope_low_freq_factor", r.lowFreqFactor}, {"rope_high_freq_factor", r.highFreqFactor}, {"rope_original_max_positions", float64(r.originalMaxPositions)}} {
			if err := unused(a.name, a.v, "llama3"); err != nil {
				return err
			}
		}
	}
	if r.typ == RopeDefault {
		return nil
	}
	if rotaryDim == 0 {
		return fmt.Errorf("rope_type: %q scales the rotary embedding, which rotary_dim 0 turns off", r.typ)
	}
	if !positive(r.factor) {
		return fmt.Errorf("rope_factor: rope_type %s needs a positive, finite factor, found %v", r.typ, r.factor)
	}
	if r.typ == RopeLinear {
		return nil
	}
	if !positive(r.lowFreqFactor) {
		return fmt.Errorf("rope_low_freq_factor: rope_type llama3 needs a positive, finite value, found %v", r.lowFreqFactor)
	}
	if !positive(r.highFreqFactor) || !(r.highFreqFactor > r.lowFreqFactor) {
		return fmt.Errorf("rope_high_freq_factor: must be finite and exceed rope_low_freq_factor %v, found %v", r.lowFreqFactor, r.highFreqFactor)
	}
	if r.originalMaxPositions <= 0 {
		return fmt.Errorf("rope_original_max_positions: rope_type llama3 needs a positive context length, found %d", r.originalMaxPositions)
	}
	return nil
}

// invFreqs are the rotary_dim/2 inverse frequencies of the rotary
// embedding with base theta, rescaled by r: channel pair i turns by
// position·invFreqs[i] (see nn.RoPEScaling).
func (r ropeScaling) invFreqs(rotaryDim int, theta float64) []float64 {
	return nn.RoPEScaling{Type: r.typ, Factor: r.factor, LowFreqFactor: r.lowFreqFactor,
		HighFreqFactor: r.highFreqFactor, OriginalMaxPositions: r.originalMaxPositions}.InvFreqs(rotaryDim, theta)
}

// InvFreqs are the inverse frequencies the layer's rotary embedding turns
// by (rotary_dim/2 values, rope_type's scaling applied), or nil when
// rotary_dim is 0. An invalid configuration is the error Params gives.
func InvFreqs(l mixer.Layer) ([]float64, error) {
	c, err := configure(l)
	if err != nil || c.rotaryDim == 0 {
		return nil, err
	}
	return c.invFreqs(), nil
}

// invFreqs are c's inverse frequencies (c.rotaryDim > 0).
func (c config) invFreqs() []float64 {
	return c.rope.invFreqs(c.rotaryDim, c.ropeTheta)
}
