package main

import (
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/mixertest"
	"github.com/zclconf/go-cty/cty"
)

func TestConformance(t *testing.T) {
	cfg := func(heads int) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{"heads": cty.NumberIntVal(int64(heads)), "eps": cty.NumberFloatVal(1e-6)})
	}
	mixertest.Run(t, linearAttention{}, []mixertest.Case{
		{Name: "teacher_heads", Layer: mixer.Layer{Config: cfg(0), Dims: mixer.Dims{Batch: 2, SeqLen: 7, DModel: 8, Heads: 2, KVHeads: 2}}},
		{Name: "one_head", Layer: mixer.Layer{Config: cfg(1), Dims: mixer.Dims{Batch: 1, SeqLen: 5, DModel: 6, Heads: 3, KVHeads: 3}}},
	})
}

func TestBadConfig(t *testing.T) {
	_, err := linearAttention{}.Params(t.Context(), mixer.Layer{
		Config: cty.ObjectVal(map[string]cty.Value{"heads": cty.NumberIntVal(3), "eps": cty.NumberFloatVal(1e-6)}),
		Dims:   mixer.Dims{Batch: 1, SeqLen: 4, DModel: 8, Heads: 2},
	})
	if err == nil || err.Error() != "heads: 3 heads must divide d_model 8" {
		t.Fatalf("got %v", err)
	}
}
