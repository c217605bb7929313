package attention

import (
	"path/filepath"
	"testing"

	"github.com/mohawk-distill/mohawk/reference/fixture"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// parityTol bounds max|Go − PyTorch| / max|PyTorch| for y and for the
// probabilities.
const parityTol = 1e-4

// TestParityTransformers runs Forward and MixingMatrix in float32 on the CPU
// backend with the weights of a randomly initialised transformers attention
// module and compares y and the probabilities with what that module
// returned on the same input (testdata/*.safetensors, written by
// reference/make_fixtures.py from a one-layer PhiModel and LlamaModel with
// eager attention, hooked at the attention module).
func TestParityTransformers(t *testing.T) {
	cases := []struct {
		name string
		set  map[string]cty.Value
		dims mixer.Dims
	}{
		// PhiAttention: 4 heads of 8, partial_rotary_factor 0.5, θ 10000, biases, dense.
		{"phi", map[string]cty.Value{"heads": n(4), "rotary_dim": n(4), "rope_theta": n(10000),
			"qkv_bias": cty.True, "out_bias": cty.True, "out_name": cty.StringVal("dense")},
			mixer.Dims{Batch: 2, SeqLen: 7, DModel: 32, Heads: 4, KVHeads: 4, DType: graph.F32}},
		// LlamaAttention: 4 query heads, 2 key/value heads of 8, full rotary, θ 500000.
		{"llama", map[string]cty.Value{"heads": n(4), "kv_heads": n(2), "rotary_dim": n(8), "rope_theta": n(500000)},
			mixer.Dims{Batch: 2, SeqLen: 7, DModel: 32, Heads: 4, KVHeads: 2, DType: graph.F32}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := fixture.Load(filepath.Join("testdata", tc.name+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			l := mkLayer(tc.set, tc.dims)
			fwd, err := Mixer{}.Forward(t.Context(), l)
			if err != nil {
				t.Fatal(err)
			}
			mm, err := Mixer{}.MixingMatrix(t.Context(), l)
			if err != nil {
				t.Fatal(err)
			}
			u, err := f.Tensor("u")
			if err != nil {
				t.Fatal(err)
			}
			out, err := f.Run(u, fwd, mm)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{mixer.OutputY, mixer.OutputMatrix} {
				want, err := f.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				got := out[name]
				if got == nil || !got.Type.Equal(want.Type) {
					t.Fatalf("%s: got %v, fixture %v", name, got, want.Type)
				}
				e := fixture.MaxRelErr(got.F32, want.F32)
				t.Logf("%s: max relative error %.3g", name, e)
				if e > parityTol {
					t.Errorf("%s: max relative error %.3g > %g", name, e, parityTol)
				}
			}
		})
	}
}
