package mamba2

import (
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/mixertest"
	"github.com/zclconf/go-cty/cty"
)

// cfg is a full configuration object: the schema's defaults with set
// overriding some of them.
func cfg(set map[string]cty.Value) cty.Value {
	m := map[string]cty.Value{}
	for _, a := range Schema.Attributes {
		m[a.Name] = a.Default
	}
	for k, v := range set {
		m[k] = v
	}
	return cty.ObjectVal(m)
}

func num(v int) cty.Value { return cty.NumberIntVal(int64(v)) }

var continuous = cty.StringVal(VariantContinuous)

func TestConformance(t *testing.T) {
	mixertest.Run(t, Mixer{}, []mixertest.Case{
		{Name: "discrete_defaults", Layer: mixer.Layer{Config: cfg(nil),
			Dims: mixer.Dims{Batch: 2, SeqLen: 11, DModel: 8, Heads: 2, KVHeads: 2}}},
		{Name: "discrete_chunk_not_dividing_T", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"chunk": num(4)}),
			Dims: mixer.Dims{Batch: 1, SeqLen: 10, DModel: 8, Heads: 2}}},
		{Name: "discrete_T_shorter_than_chunk", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"chunk": num(16)}),
			Dims: mixer.Dims{Batch: 2, SeqLen: 5, DModel: 6, Heads: 3}}},
		{Name: "discrete_grouped_expand2", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{
			"chunk": num(3), "n_qk_heads": num(2), "heads": num(4), "expand": num(2), "state_size": num(3), "conv_kernel": num(3)}),
			Dims: mixer.Dims{Batch: 2, SeqLen: 8, DModel: 6, Heads: 2}}},
		{Name: "discrete_attention_init_gqa", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"init": cty.StringVal(InitAttention), "chunk": num(4)}),
			Dims: mixer.Dims{Batch: 1, SeqLen: 9, DModel: 8, Heads: 4, KVHeads: 2}}},
		{Name: "discrete_kernel1", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"conv_kernel": num(1), "chunk": num(2)}),
			Dims: mixer.Dims{Batch: 1, SeqLen: 5, DModel: 4, Heads: 2}}},
		{Name: "continuous_defaults_small_state", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"variant": continuous, "state_size": num(8), "chunk": num(4)}),
			Dims: mixer.Dims{Batch: 2, SeqLen: 10, DModel: 8, Heads: 2}}},
		{Name: "continuous_T_shorter_than_chunk", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"variant": continuous, "state_size": num(4)}),
			Dims: mixer.Dims{Batch: 1, SeqLen: 6, DModel: 4, Heads: 2}}},
		{Name: "continuous_grouped", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{
			"variant": continuous, "state_size": num(4), "heads": num(4), "n_qk_heads": num(2), "expand": num(1), "chunk": num(3)}),
			Dims: mixer.Dims{Batch: 2, SeqLen: 7, DModel: 8, Heads: 2}}},
	})
}
