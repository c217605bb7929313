package hybrid

import (
	"math"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/mixers/attention"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/mixertest"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

func obj(kv ...any) cty.Value {
	m := map[string]cty.Value{}
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case int:
			m[kv[i].(string)] = cty.NumberIntVal(int64(v))
		case float64:
			m[kv[i].(string)] = cty.NumberFloatVal(v)
		case string:
			m[kv[i].(string)] = cty.StringVal(v)
		case bool:
			m[kv[i].(string)] = cty.BoolVal(v)
		case cty.Value:
			m[kv[i].(string)] = v
		}
	}
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}

func dims(layer int) mixer.Dims {
	return mixer.Dims{Batch: 2, SeqLen: 9, DModel: 8, Heads: 2, KVHeads: 2, Layer: layer}
}

// cases are the conformance cases with configurations cfg(attributes).
func cases(cfg func(cty.Value) cty.Value) []mixertest.Case {
	list := cty.ListVal([]cty.Value{cty.NumberIntVal(1), cty.NumberIntVal(3)})
	return []mixertest.Case{
		{Name: "layer_mamba_default", Layer: mixer.Layer{Config: cfg(obj()), Dims: dims(0)}},
		{Name: "layer_attention_default", Layer: mixer.Layer{Config: cfg(obj("rotary_dim", 2, "qkv_bias", true, "out_name", "dense")), Dims: dims(5)}},
		{Name: "layer_attention_listed", Layer: mixer.Layer{Config: cfg(obj("attention_layers", list)), Dims: dims(3)}},
		{Name: "layer_mamba_listed", Layer: mixer.Layer{Config: cfg(obj("attention_layers", list, "state_size", 3, "chunk", 4)), Dims: dims(5)}},
		{Name: "layer_mamba_init_attention", Layer: mixer.Layer{Config: cfg(obj("init", "attention", "n_qk_heads", 0)), Dims: dims(4)}},
		{Name: "within", Layer: mixer.Layer{Config: cfg(obj("mode", "within", "window", 3, "chunk", 4)), Dims: dims(0)}},
		{Name: "within_default_window", Layer: mixer.Layer{Config: cfg(obj("mode", "within", "n_qk_heads", 1, "state_size", 5)), Dims: dims(2)}},
		{Name: "within_conv1_window1", Layer: mixer.Layer{Config: cfg(obj("mode", "within", "window", 1, "conv_kernel", 1, "init", "attention")), Dims: dims(0)}},
		{Name: "layer_mamba_4", Layer: mixer.Layer{Config: cfg(obj()), Dims: dims(4)}},
		{Name: "layer_attention_11", Layer: mixer.Layer{Config: cfg(obj("rotary_dim", 4, "out_bias", true)), Dims: dims(11)}},
		{Name: "layer_attention_llama3", Layer: mixer.Layer{Config: cfg(obj("rotary_dim", 4, "rope_theta", 500000, "rope_type", "llama3", "rope_factor", 8,
			"rope_low_freq_factor", 1, "rope_high_freq_factor", 4, "rope_original_max_positions", 16)), Dims: dims(5)}},
		{Name: "layer_attention_linear", Layer: mixer.Layer{Config: cfg(obj("attention_layers", list, "rotary_dim", 2, "rope_type", "linear", "rope_factor", 2.5)), Dims: dims(1)}},
		{Name: "layer_mamba_llama3", Layer: mixer.Layer{Config: cfg(obj("rotary_dim", 4, "rope_type", "llama3", "rope_factor", 8,
			"rope_low_freq_factor", 1, "rope_high_freq_factor", 4, "rope_original_max_positions", 16)), Dims: dims(4)}},
		{Name: "within_layer5", Layer: mixer.Layer{Config: cfg(obj("mode", "within", "window", 4, "chunk", 4)), Dims: dims(5)}},
		{Name: "shared_window1", Layer: mixer.Layer{Config: cfg(obj("mode", "within", "combine", "shared_normalizer", "window", 1)), Dims: dims(0)}},
		{Name: "shared_window3_grouped", Layer: mixer.Layer{Config: cfg(obj("mode", "within", "combine", "shared_normalizer", "window", 3, "n_qk_heads", 1, "state_size", 5)), Dims: dims(1)}},
		{Name: "shared_default_window", Layer: mixer.Layer{Config: cfg(obj("mode", "within", "combine", "shared_normalizer")), Dims: dims(2)}},
		{Name: "shared_window4_conv1", Layer: mixer.Layer{Config: cfg(obj("mode", "within", "combine", "shared_normalizer", "window", 4, "conv_kernel", 1, "init", "attention")), Dims: dims(3)}},
	}
}

// full is a configuration as the host sends it: every attribute of the
// schema, defaults filled in (attention_layers null), then overrides.
func full(overrides cty.Value) cty.Value {
	m := map[string]cty.Value{}
	for _, a := range Schema.Attributes {
		if a.HasDefault() {
			m[a.Name] = a.Default
		} else {
			m[a.Name] = cty.NullVal(a.Type)
		}
	}
	for k, v := range overrides.AsValueMap() {
		m[k] = v
	}
	v, err := convert.Convert(cty.ObjectVal(m), Schema.ObjectType())
	if err != nil {
		panic(err)
	}
	return v
}

func TestConformance(t *testing.T) {
	// As the host sends configurations (every attribute), and with only the
	// attributes set (what a direct caller may pass).
	t.Run("full", func(t *testing.T) { mixertest.Run(t, Mixer{}, cases(full)) })
	t.Run("partial", func(t *testing.T) {
		mixertest.Run(t, Mixer{}, cases(func(v cty.Value) cty.Value { return v }))
	})
}

// Which mixer a layer gets shows in its parameters.
func TestLayerParams(t *testing.T) {
	names := func(cfg cty.Value, layer int) map[string]bool {
		t.Helper()
		specs, err := Mixer{}.Params(t.Context(), mixer.Layer{Config: cfg, Dims: dims(layer)})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, s := range specs {
			m[s.Name] = true
		}
		return m
	}
	if p := names(full(obj("out_name", "dense")), 5); !p["q_proj.weight"] || !p["dense.weight"] || p["in_proj.weight"] {
		t.Errorf("layer 5 by default: expected attention params, found %v", p)
	}
	if p := names(full(obj()), 4); !p["in_proj.weight"] || !p["z_bias"] || p["mix"] || p["q_proj.weight"] {
		t.Errorf("layer 4 by default: expected discrete Mamba-2 params, found %v", p)
	}
	if p := names(full(obj("mode", "within")), 5); !p["in_proj.weight"] || !p["mix"] || p["q_proj.weight"] {
		t.Errorf("mode within: expected Mamba-2 params and mix, found %v", p)
	}
	if p := names(full(obj("mode", "within", "combine", "shared_normalizer")), 5); !p["in_proj.weight"] || p["mix"] || p["q_proj.weight"] {
		t.Errorf("mode within, shared_normalizer: expected Mamba-2 params without mix, found %v", p)
	}
}

func TestIsAttentionLayer(t *testing.T) {
	check := func(cfg cty.Value, want ...int) {
		t.Helper()
		for layer := range 24 {
			got, err := IsAttentionLayer(cfg, layer)
			if err != nil {
				t.Fatal(err)
			}
			exp := false
			for _, w := range want {
				exp = exp || w == layer
			}
			if got != exp {
				t.Errorf("%#v layer %d: got %v", cfg, layer, got)
			}
		}
	}
	check(obj(), 5, 11, 17, 23)
	check(cty.NullVal(Schema.ObjectType()), 5, 11, 17, 23)
	check(obj("attention_every", 4), 3, 7, 11, 15, 19, 23)
	check(obj("attention_every", 0))
	check(obj("attention_layers", cty.ListVal([]cty.Value{cty.NumberIntVal(0), cty.NumberIntVal(12)})), 0, 12)
	check(obj("attention_layers", cty.ListValEmpty(cty.Number)))
	check(obj("mode", "within"))
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg   cty.Value
		layer int
		want  string
	}{
		{obj("mode", "both"), 0, "mode: "},
		{obj("mode", "within", "combine", "max"), 0, "combine: "},
		{obj("mode", "within", "window", 0), 0, "window: "},
		{obj("attention_every", -1), 0, "attention_every: "},
		{obj("attention_layers", cty.ListVal([]cty.Value{cty.NumberFloatVal(1.5)})), 0, "attention_layers: "},
		{obj("attention_layers", cty.ListVal([]cty.Value{cty.NumberIntVal(-1)})), 0, "attention_layers: "},
		{obj("rotary_dim", 3), 5, "rotary_dim: "},
		{obj("out_name", "q_proj"), 5, "out_name: "},
		{obj("rotary_dim", 2, "rope_type", "yarn"), 5, "rope_type: "},
		{obj("rotary_dim", 2, "rope_type", "llama3", "rope_factor", 8), 5, "rope_low_freq_factor: "},
		{obj("n_qk_heads", 3), 0, "n_qk_heads: "},
		{obj("mode", "within", "chunk", 0), 0, "chunk: "},
		{obj("mode", "within", "init", "teacher"), 0, "init: "},
	} {
		_, err := Mixer{}.Params(t.Context(), mixer.Layer{Config: tc.cfg, Dims: dims(tc.layer)})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%#v: got %v, expected an error starting %q", tc.cfg, err, tc.want)
		}
	}
}

func TestSchema(t *testing.T) {
	if err := Schema.Validate(); err != nil {
		t.Fatal(err)
	}
}

// The attention attributes a hybrid passes through have the attention
// mixer's types and defaults, and the rope scaling reaches the attention
// layers: their rotary frequencies are the scaled ones.
func TestAttentionPassThrough(t *testing.T) {
	own := map[string]mixer.Attribute{}
	for _, a := range attention.Schema.Attributes {
		own[a.Name] = a
	}
	mine := map[string]mixer.Attribute{}
	for _, a := range Schema.Attributes {
		mine[a.Name] = a
	}
	for _, n := range attentionAttrs {
		a, b := own[n], mine[n]
		if a.Name == "" || b.Name == "" || !a.Type.Equals(b.Type) || !a.Default.RawEquals(b.Default) {
			t.Errorf("%s: attention has %#v, hybrid %#v", n, a, b)
		}
	}

	scaled := full(obj("rotary_dim", 4, "rope_theta", 10000, "rope_type", "llama3", "rope_factor", 8,
		"rope_low_freq_factor", 1, "rope_high_freq_factor", 4, "rope_original_max_positions", 16))
	got, err := attention.InvFreqs(attentionLayer(mixer.Layer{Config: scaled, Dims: dims(5)}))
	if err != nil {
		t.Fatal(err)
	}
	// θ 10000 over 4 channels: wavelengths 2π (in the blended band between
	// 16/4 and 16) and 200π (beyond 16: divided by 8).
	w0 := 2 * math.Pi
	s := (16/w0 - 1) / (4 - 1)
	want := []float64{(1-s)/8 + s, 0.01 / 8}
	if len(got) != 2 || math.Abs(got[0]-want[0]) > 1e-15 || math.Abs(got[1]-want[1]) > 1e-15 {
		t.Fatalf("attention layer frequencies %v, expected %v", got, want)
	}
}
