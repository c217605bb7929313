package models

// rope.go reads the rotary-embedding scaling of a Hugging Face config
// (rope_scaling, or rope_parameters in newer transformers) and computes the
// rescaled inverse frequencies it defines: "linear" (every frequency
// divided by factor: positions divided by it) and "llama3" (Llama 3.1's
// three wavelength bands). The cos/sin tables built from them are one pair
// of constants per model (ropeTables), computed as nn.RoPEInvFreq does.

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// Rope scaling types that RopeScaling supports.
const (
	RopeLinear = nn.RoPELinear
	RopeLlama3 = nn.RoPELlama3
)

// RopeScaling rescales the rotary embedding's inverse frequencies as
// transformers' rope_type of the same name does. The zero value (Type "")
// is the plain rotary embedding.
type RopeScaling struct {
	Type string // "", RopeLinear or RopeLlama3
	// Factor divides the frequencies (linear: all of them; llama3: those
	// whose wavelength exceeds OriginalMaxPositions/LowFreqFactor).
	Factor float64
	// LowFreqFactor and HighFreqFactor bound llama3's band of smoothed
	// frequencies: wavelengths from OriginalMaxPositions/HighFreqFactor to
	// OriginalMaxPositions/LowFreqFactor.
	LowFreqFactor, HighFreqFactor float64
	// OriginalMaxPositions is llama3's original_max_position_embeddings,
	// the context length the model was first trained at.
	OriginalMaxPositions int
}

// Validate names the first field that cannot work.
func (r RopeScaling) Validate() error {
	switch r.Type {
	case "":
		return nil
	case RopeLinear, RopeLlama3:
	default:
		return fmt.Errorf("rope scaling type %q is not supported (default, linear, llama3)", r.Type)
	}
	if !(r.Factor > 0) || math.IsInf(r.Factor, 0) {
		return fmt.Errorf("rope scaling %s: factor must be a positive number, found %g", r.Type, r.Factor)
	}
	if r.Type == RopeLinear {
		return nil
	}
	if !(r.LowFreqFactor > 0) || math.IsInf(r.LowFreqFactor, 0) {
		return fmt.Errorf("rope scaling llama3: low_freq_factor must be a positive number, found %g", r.LowFreqFactor)
	}
	if !(r.HighFreqFactor > r.LowFreqFactor) || math.IsInf(r.HighFreqFactor, 0) {
		return fmt.Errorf("rope scaling llama3: high_freq_factor must exceed low_freq_factor %g, found %g", r.LowFreqFactor, r.HighFreqFactor)
	}
	if r.OriginalMaxPositions <= 0 {
		return fmt.Errorf("rope scaling llama3: original_max_position_embeddings must be positive, found %d", r.OriginalMaxPositions)
	}
	return nil
}

// InvFreqs are the inverse frequencies of a rotary embedding over
// rotaryDim channels with base theta, rescaled by r: rotaryDim/2 values,
// channel pair i turning by position·InvFreqs[i] (see
// nn.RoPEScaling).
func (r RopeScaling) InvFreqs(rotaryDim int, theta float64) []float64 {
	return nn.RoPEScaling(r).InvFreqs(rotaryDim, theta)
}

// hfObject is r as a config.json rope_scaling object (nil for none).
func (r RopeScaling) hfObject() map[string]any {
	switch r.Type {
	case RopeLinear:
		return map[string]any{"rope_type": RopeLinear, "factor": r.Factor}
	case RopeLlama3:
		return map[string]any{"rope_type": RopeLlama3, "factor": r.Factor, "low_freq_factor": r.LowFreqFactor,
			"high_freq_factor": r.HighFreqFactor, "original_max_position_embeddings": r.OriginalMaxPositions}
	}
	return nil
}

// ropeScalingKeys are the keys of a rope_scaling or rope_parameters object
// that state the scaling (not rope_theta or partial_rotary_factor).
var ropeScalingKeys = []string{"rope_type", "type", "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}

// ropeObject is the object that states the rotary embedding, and its key:
// rope_scaling when it is a non-empty object (transformers then takes it
// over rope_parameters), else rope_parameters.
func (h *hfConfig) ropeObject() (string, map[string]any) {
	if len(h.RopeScaling) > 0 {
		return "rope_scaling", h.RopeScaling
	}
	return "rope_parameters", h.RopeParameters
}

// ropeTheta is the rotary base: the rope object's rope_theta, else
// rope_parameters', else the top-level rope_theta.
func (h *hfConfig) ropeTheta() float64 {
	_, m := h.ropeObject()
	if v, ok := m["rope_theta"].(float64); ok {
		return v
	}
	return h.ropeParam("rope_theta", h.RopeTheta)
}

// ropeScaling reads the rope scaling of the config: rope_type (or the
// older type) of the rope object and the fields that type needs. Errors
// name the key.
func (h *hfConfig) ropeScaling() (RopeScaling, error) {
	key, m := h.ropeObject()
	typ := "default"
	for _, k := range []string{"rope_type", "type"} {
		if v, ok := m[k]; ok && v != nil {
			s, ok := v.(string)
			if !ok {
				return RopeScaling{}, fmt.Errorf("%s.%s: expected a string, found %s", key, k, jsonText(v))
			}
			typ = s
			break
		}
	}
	number := func(k string) (float64, error) {
		v, ok := m[k]
		if !ok || v == nil {
			return 0, fmt.Errorf("%s.%s is missing (rope_type %s needs %s)", key, k, typ, strings.Join(ropeNeeds[typ], ", "))
		}
		f, ok := v.(float64)
		if !ok {
			return 0, fmt.Errorf("%s.%s: expected a number, found %s", key, k, jsonText(v))
		}
		return f, nil
	}
	var r RopeScaling
	var err error
	switch typ {
	case "default":
		return RopeScaling{}, nil
	case RopeLinear, RopeLlama3:
		r.Type = typ
		if r.Factor, err = number("factor"); err != nil {
			return RopeScaling{}, err
		}
		if !(r.Factor > 0) {
			return RopeScaling{}, fmt.Errorf("%s.factor must be positive, found %g", key, r.Factor)
		}
	default:
		known := make([]string, 0, len(ropeNeeds))
		for k := range ropeNeeds {
			known = append(known, k)
		}
		sort.Strings(known)
		return RopeScaling{}, fmt.Errorf("%s: rope_type %q is not supported (%s)", key, typ, strings.Join(known, ", "))
	}
	if typ == RopeLlama3 {
		if r.LowFreqFactor, err = number("low_freq_factor"); err != nil {
			return RopeScaling{}, err
		}
		if r.HighFreqFactor, err = number("high_freq_factor"); err != nil {
			return RopeScaling{}, err
		}
		orig, err := number("original_max_position_embeddings")
		if err != nil {
			return RopeScaling{}, err
		}
		if orig != math.Trunc(orig) || orig <= 0 || orig > math.MaxInt32 {
			return RopeScaling{}, fmt.Errorf("%s.original_max_position_embeddings must be a positive integer, found %g", key, orig)
		}
		r.OriginalMaxPositions = int(orig)
		switch {
		case !(r.LowFreqFactor > 0):
			return RopeScaling{}, fmt.Errorf("%s.low_freq_factor must be positive, found %g", key, r.LowFreqFactor)
		case !(r.HighFreqFactor > r.LowFreqFactor):
			return RopeScaling{}, fmt.Errorf("%s.high_freq_factor %g must exceed low_freq_factor %g", key, r.HighFreqFactor, r.LowFreqFactor)
		}
	}
	return r, nil
}

// ropeNeeds are the rope types read, with the keys each needs.
var ropeNeeds = map[string][]string{
	"default":  nil,
	RopeLinear: {"factor"},
	RopeLlama3: {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"},
}

// jsonText is v as JSON, for error messages.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// ropeTables holds one model's rotary cos/sin constants [T, rotaryDim], made
// on first use and shared by q and k of every layer: one pair of constant
// nodes per model instead of two per attention layer (at T = 2048 a pair is
// a megabyte or more, in the graph and in every program sent to a backend).
type ropeTables struct {
	invFreq  []float64
	cos, sin graph.Value
}

// apply is nn.RoPEInvFreq(b, x, invFreq, 0) over the shared tables: the
// same ops in the same order, so the same values to the bit. x is
// [B,H,T,D]; the first 2·len(invFreq) channels of each head turn.
func (r *ropeTables) apply(b *graph.Builder, x graph.Value) graph.Value {
	s := b.Shape(x)
	half := len(r.invFreq)
	rotaryDim := 2 * half
	if len(s) != 4 || half == 0 || rotaryDim > s[3] {
		return nn.RoPEInvFreq(b, x, r.invFreq, 0) // reports the error
	}
	if r.cos == graph.NoValue || b.Shape(r.cos)[0] != s[2] || b.DType(r.cos) != b.DType(x) {
		t := s[2]
		cos, sin := make([]float64, t*rotaryDim), make([]float64, t*rotaryDim)
		for p := 0; p < t; p++ {
			for i, f := range r.invFreq {
				ang := float64(p) * f
				for _, j := range []int{i, i + half} {
					cos[p*rotaryDim+j], sin[p*rotaryDim+j] = math.Cos(ang), math.Sin(ang)
				}
			}
		}
		r.cos, r.sin = b.Const(b.DType(x), []int{t, rotaryDim}, cos), b.Const(b.DType(x), []int{t, rotaryDim}, sin)
	}
	rot := b.SliceAxis(x, 3, 0, rotaryDim)
	x1, x2 := b.SliceAxis(rot, 3, 0, half), b.SliceAxis(rot, 3, half, rotaryDim)
	rotated := b.Concat(3, b.Neg(x2), x1)
	out := b.Add(b.Mul(rot, r.cos), b.Mul(rotated, r.sin))
	if rotaryDim == s[3] {
		return out
	}
	return b.Concat(3, out, b.SliceAxis(x, 3, rotaryDim, s[3]))
}

// newRopeTables starts the tables of a model whose channel pair i turns by
// position·invFreq[i].
func newRopeTables(invFreq []float64) *ropeTables {
	return &ropeTables{invFreq: invFreq, cos: graph.NoValue, sin: graph.NoValue}
}
