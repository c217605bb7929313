package attention

import (
	"context"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/mixertest"
	"github.com/zclconf/go-cty/cty"
)

// cfg is a full configuration object: Schema's defaults with the given
// attributes replaced.
func cfg(set map[string]cty.Value) cty.Value {
	attrs := map[string]cty.Value{}
	for _, a := range Schema.Attributes {
		attrs[a.Name] = a.Default
	}
	for k, v := range set {
		attrs[k] = v
	}
	return cty.ObjectVal(attrs)
}

func n(v int) cty.Value { return cty.NumberIntVal(int64(v)) }

func mkLayer(set map[string]cty.Value, d mixer.Dims) mixer.Layer {
	return mixer.Layer{Config: cfg(set), Dims: d}
}

var conformanceCases = []mixertest.Case{
	{Name: "mha", Layer: mkLayer(nil, mixer.Dims{Batch: 2, SeqLen: 7, DModel: 8, Heads: 2, KVHeads: 2})},
	{Name: "gqa_full_rope", Layer: mkLayer(map[string]cty.Value{"rotary_dim": n(4), "rope_theta": n(500000)},
		mixer.Dims{Batch: 2, SeqLen: 6, DModel: 16, Heads: 4, KVHeads: 2})},
	{Name: "phi_partial_rope_biases", Layer: mkLayer(map[string]cty.Value{
		"rotary_dim": n(2), "qkv_bias": cty.True, "out_bias": cty.True, "out_name": cty.StringVal("dense")},
		mixer.Dims{Batch: 1, SeqLen: 9, DModel: 12, Heads: 3, KVHeads: 3})},
	{Name: "sliding_window_rope_gqa", Layer: mkLayer(map[string]cty.Value{
		"sliding_window": n(3), "rotary_dim": n(2)},
		mixer.Dims{Batch: 2, SeqLen: 10, DModel: 8, Heads: 2, KVHeads: 1})},
	{Name: "gpt2_biases_window", Layer: mkLayer(map[string]cty.Value{
		"qkv_bias": cty.True, "out_bias": cty.True, "sliding_window": n(4), "scale": cty.NumberFloatVal(0.3)},
		mixer.Dims{Batch: 1, SeqLen: 8, DModel: 6, Heads: 3, KVHeads: 3})},
	{Name: "gqa_rope_llama3", Layer: mkLayer(llama3Scaling(map[string]cty.Value{"rotary_dim": n(8)}, 64),
		mixer.Dims{Batch: 2, SeqLen: 9, DModel: 16, Heads: 2, KVHeads: 1})},
	{Name: "partial_rope_llama3_window", Layer: mkLayer(llama3Scaling(map[string]cty.Value{"rotary_dim": n(4), "sliding_window": n(4), "qkv_bias": cty.True}, 16),
		mixer.Dims{Batch: 1, SeqLen: 8, DModel: 12, Heads: 2, KVHeads: 2})},
	{Name: "rope_linear", Layer: mkLayer(map[string]cty.Value{"rotary_dim": n(4), "rope_type": cty.StringVal(RopeLinear), "rope_factor": cty.NumberFloatVal(2.5)},
		mixer.Dims{Batch: 2, SeqLen: 7, DModel: 8, Heads: 2, KVHeads: 2})},
	{Name: "explicit_heads", Layer: mkLayer(map[string]cty.Value{"heads": n(3), "kv_heads": n(3), "head_dim": n(4), "rotary_dim": n(4)},
		mixer.Dims{Batch: 1, SeqLen: 5, DModel: 12, Heads: 3, KVHeads: 3})},
}

// llama3Scaling is set with Llama 3.1's rope scaling (factor 8, low and
// high frequency factors 1 and 4) for an original context of ctx positions,
// where set does not already give those attributes.
func llama3Scaling(set map[string]cty.Value, ctx int) map[string]cty.Value {
	for k, v := range map[string]cty.Value{"rope_type": cty.StringVal(RopeLlama3), "rope_factor": n(8),
		"rope_low_freq_factor": n(1), "rope_high_freq_factor": n(4), "rope_original_max_positions": n(ctx)} {
		if _, ok := set[k]; !ok {
			set[k] = v
		}
	}
	return set
}

func TestConformance(t *testing.T) {
	mixertest.Run(t, Mixer{}, conformanceCases)
}

func TestSchemaValid(t *testing.T) {
	if err := Schema.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBadConfig(t *testing.T) {
	d := mixer.Dims{Batch: 1, SeqLen: 4, DModel: 8, Heads: 2, KVHeads: 2}
	for _, tc := range []struct {
		name string
		set  map[string]cty.Value
		dims mixer.Dims
		want string
	}{
		{"heads_not_dividing", map[string]cty.Value{"heads": n(3)}, d, "heads: 3 heads must divide d_model 8"},
		{"heads_negative", map[string]cty.Value{"heads": n(-1)}, d, "heads: must be positive"},
		{"heads_fraction", map[string]cty.Value{"heads": cty.NumberFloatVal(1.5)}, d, "heads: must be a whole number"},
		{"no_teacher_heads", nil, mixer.Dims{Batch: 1, SeqLen: 4, DModel: 8}, "heads: must be positive"},
		{"kv_heads_not_dividing", map[string]cty.Value{"heads": n(4), "kv_heads": n(3)}, d, "kv_heads: 3 key/value heads must be positive and divide heads 4"},
		{"kv_heads_negative", map[string]cty.Value{"kv_heads": n(-2)}, d, "kv_heads:"},
		{"head_dim_negative", map[string]cty.Value{"head_dim": n(-4)}, d, "head_dim: must be positive"},
		{"rotary_odd", map[string]cty.Value{"rotary_dim": n(3)}, d, "rotary_dim: must be even, ≥ 0 and at most head_dim 4, found 3"},
		{"rotary_too_big", map[string]cty.Value{"rotary_dim": n(6)}, d, "rotary_dim: must be even, ≥ 0 and at most head_dim 4, found 6"},
		{"rotary_negative", map[string]cty.Value{"rotary_dim": n(-2)}, d, "rotary_dim:"},
		{"rope_theta", map[string]cty.Value{"rotary_dim": n(2), "rope_theta": n(0)}, d, "rope_theta: must be positive"},
		{"rope_type_unknown", map[string]cty.Value{"rotary_dim": n(2), "rope_type": cty.StringVal("yarn")}, d, `rope_type: must be "default", "linear" or "llama3", found "yarn"`},
		{"rope_type_without_rope", llama3Scaling(map[string]cty.Value{}, 64), d, `rope_type: "llama3" scales the rotary embedding, which rotary_dim 0 turns off`},
		{"rope_factor_unused", map[string]cty.Value{"rotary_dim": n(2), "rope_factor": n(8)}, d, `rope_factor: used only by rope_type linear and llama3, found 8 with rope_type "default"`},
		{"rope_low_unused", map[string]cty.Value{"rotary_dim": n(2), "rope_type": cty.StringVal(RopeLinear), "rope_factor": n(2), "rope_low_freq_factor": n(1)}, d, `rope_low_freq_factor: used only by rope_type llama3, found 1 with rope_type "linear"`},
		{"rope_original_unused", map[string]cty.Value{"rotary_dim": n(2), "rope_original_max_positions": n(64)}, d, `rope_original_max_positions: used only by rope_type llama3`},
		{"rope_factor_missing", map[string]cty.Value{"rotary_dim": n(2), "rope_type": cty.StringVal(RopeLinear)}, d, "rope_factor: rope_type linear needs a positive, finite factor, found 0"},
		{"rope_factor_negative", llama3Scaling(map[string]cty.Value{"rotary_dim": n(2), "rope_factor": n(-8)}, 64), d, "rope_factor: rope_type llama3 needs a positive, finite factor, found -8"},
		{"rope_low_missing", llama3Scaling(map[string]cty.Value{"rotary_dim": n(2), "rope_low_freq_factor": n(0)}, 64), d, "rope_low_freq_factor: rope_type llama3 needs a positive, finite value, found 0"},
		{"rope_bands", llama3Scaling(map[string]cty.Value{"rotary_dim": n(2), "rope_high_freq_factor": n(1)}, 64), d, "rope_high_freq_factor: must be finite and exceed rope_low_freq_factor 1, found 1"},
		{"rope_original_missing", llama3Scaling(map[string]cty.Value{"rotary_dim": n(2)}, 0), d, "rope_original_max_positions: rope_type llama3 needs a positive context length, found 0"},
		{"rope_original_fraction", llama3Scaling(map[string]cty.Value{"rotary_dim": n(2), "rope_original_max_positions": cty.NumberFloatVal(64.5)}, 64), d, "rope_original_max_positions: must be a whole number, found 64.5"},
		{"window_negative", map[string]cty.Value{"sliding_window": n(-1)}, d, "sliding_window: must be ≥ 0"},
		{"scale_negative", map[string]cty.Value{"scale": cty.NumberFloatVal(-0.5)}, d, "scale: must be finite and ≥ 0"},
		{"out_name_invalid", map[string]cty.Value{"out_name": cty.StringVal("o.proj")}, d, "out_name: must be an identifier"},
		{"out_name_taken", map[string]cty.Value{"out_name": cty.StringVal("q_proj")}, d, "out_name: \"q_proj\" is the name of another projection"},
		{"dims", nil, mixer.Dims{Batch: 0, SeqLen: 4, DModel: 8, Heads: 2}, "dims: batch, seq_len and d_model must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Mixer{}.Params(t.Context(), mkLayer(tc.set, tc.dims))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, expected an error starting %q", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := configure(mkLayer(nil, mixer.Dims{Batch: 1, SeqLen: 4, DModel: 16, Heads: 4, KVHeads: 2}))
	if err != nil {
		t.Fatal(err)
	}
	if c.heads != 4 || c.kvHeads != 2 || c.headDim != 4 || c.scale != 0.5 || c.outName != "o_proj" || c.rotaryDim != 0 || c.rope != (ropeScaling{typ: RopeDefault}) {
		t.Fatalf("defaults: %+v", c)
	}
	// A null configuration takes every default too.
	c2, err := configure(mixer.Layer{Config: cty.NullVal(Schema.ObjectType()), Dims: mixer.Dims{Batch: 1, SeqLen: 4, DModel: 16, Heads: 4, KVHeads: 2}})
	if err != nil || c2 != c {
		t.Fatalf("null config: %+v, %v", c2, err)
	}
}

func TestInitFromTeacherMismatch(t *testing.T) {
	d := mixer.Dims{Batch: 1, SeqLen: 4, DModel: 8, Heads: 2, KVHeads: 2}
	for set, want := range map[string]string{"heads": "heads: copying the teacher needs its 2 heads, found 4", "kv_heads": "kv_heads: copying the teacher needs its 2 key/value heads, found 1"} {
		val := map[string]cty.Value{"heads": n(4)}
		if set == "kv_heads" {
			val = map[string]cty.Value{"kv_heads": n(1)}
		}
		_, err := Mixer{}.InitFromTeacher(t.Context(), mkLayer(val, d))
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, expected %q", set, err, want)
		}
	}
}

// kv_heads 0 takes the teacher's; with heads changed from the teacher's it
// keeps the teacher's grouping where it divides, else one per head.
func TestKVHeadsDefault(t *testing.T) {
	for _, tc := range []struct{ heads, teacherHeads, teacherKV, want int }{
		{0, 8, 2, 2}, {0, 4, 0, 4}, {4, 8, 2, 1}, {3, 8, 2, 3}, {8, 8, 8, 8},
	} {
		c, err := configure(mkLayer(map[string]cty.Value{"heads": n(tc.heads), "head_dim": n(2)},
			mixer.Dims{Batch: 1, SeqLen: 2, DModel: 24, Heads: tc.teacherHeads, KVHeads: tc.teacherKV}))
		if err != nil || c.kvHeads != tc.want {
			t.Errorf("heads %d, teacher %d/%d: kv_heads %d (%v), expected %d", tc.heads, tc.teacherHeads, tc.teacherKV, c.kvHeads, err, tc.want)
		}
	}
}

// Every fragment of every case is well formed in float32 too.
func TestFragmentsFloat32(t *testing.T) {
	m := Mixer{}
	for _, tc := range conformanceCases {
		l := tc.Layer
		l.Dims.DType = graph.F32
		specs, err := m.Params(t.Context(), l)
		if err != nil {
			t.Fatal(err)
		}
		for kind, build := range map[mixer.FragmentKind]func(context.Context, mixer.Layer) (*graph.Graph, error){
			mixer.FragmentForward: m.Forward, mixer.FragmentMixingMatrix: m.MixingMatrix,
			mixer.FragmentStep: m.Step, mixer.FragmentInitFromTeacher: m.InitFromTeacher,
		} {
			g, err := build(t.Context(), l)
			if err == nil {
				err = mixer.CheckFragment(kind, l, specs, g)
			}
			if err != nil {
				t.Errorf("%s: %v", tc.Name, err)
			}
		}
	}
}
