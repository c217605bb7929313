package attention_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/mixers/attention"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// llama3Fixture is framework/models' tiny Llama with Llama 3.1 rope scaling
// (factor 8, frequency factors 1 and 4, original context 64, θ 10000, head
// dim 16), made by transformers.
var llama3Fixture = filepath.Join("..", "..", "framework", "models", "testdata", "llama3")

// scaledConfig is the mixer configuration of a Llama attention with
// rotary_dim over the whole head, theta and the scaling r.
func scaledConfig(rotaryDim int, theta float64, r models.RopeScaling) cty.Value {
	attrs := map[string]cty.Value{}
	for _, a := range attention.Schema.Attributes {
		attrs[a.Name] = a.Default
	}
	attrs["rotary_dim"] = cty.NumberIntVal(int64(rotaryDim))
	attrs["rope_theta"] = cty.NumberFloatVal(theta)
	if r.Type != "" {
		attrs["rope_type"] = cty.StringVal(r.Type)
		attrs["rope_factor"] = cty.NumberFloatVal(r.Factor)
	}
	if r.Type == models.RopeLlama3 {
		attrs["rope_low_freq_factor"] = cty.NumberFloatVal(r.LowFreqFactor)
		attrs["rope_high_freq_factor"] = cty.NumberFloatVal(r.HighFreqFactor)
		attrs["rope_original_max_positions"] = cty.NumberIntVal(int64(r.OriginalMaxPositions))
	}
	return cty.ObjectVal(attrs)
}

// The mixer's inverse frequencies are framework/models' for the same
// scaling: Llama-3.2-1B's, the fixture's, a linear one and none.
func TestInvFreqsMatchModels(t *testing.T) {
	for _, tc := range []struct {
		name      string
		r         models.RopeScaling
		rotaryDim int
		theta     float64
	}{
		{"llama-3.2-1b", models.RopeScaling{Type: models.RopeLlama3, Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}, 64, 500000},
		{"llama-3.1-8b", models.RopeScaling{Type: models.RopeLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}, 128, 500000},
		{"fixture", models.RopeScaling{Type: models.RopeLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 64}, 16, 10000},
		{"linear", models.RopeScaling{Type: models.RopeLinear, Factor: 4}, 32, 10000},
		{"default", models.RopeScaling{}, 32, 10000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := mixer.Layer{Config: scaledConfig(tc.rotaryDim, tc.theta, tc.r),
				Dims: mixer.Dims{Batch: 1, SeqLen: 4, DModel: 2 * tc.rotaryDim, Heads: 2, KVHeads: 1, DType: graph.F32}}
			got, err := attention.InvFreqs(l)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.r.InvFreqs(tc.rotaryDim, tc.theta)
			if len(got) != len(want) {
				t.Fatalf("%d frequencies, expected %d", len(got), len(want))
			}
			for i := range want {
				if d := math.Abs(got[i]-want[i]) / want[i]; !(d <= 1e-13) {
					t.Errorf("inv_freq[%d] = %.17g, framework/models %.17g", i, got[i], want[i])
				}
			}
		})
	}
}

// fixtureModel is the llama3 fixture's configuration, its layers' normed
// inputs u and attention outputs (the taps Input and Mixer, float64) over
// the fixture's input ids, and its weights.
func fixtureModel(t *testing.T) (models.LlamaConfig, []map[string]*graph.Tensor, map[string]*graph.Tensor, *graph.Tensor) {
	t.Helper()
	folder, err := checkpoint.LoadFolder(llama3Fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	cfg, err := models.ConfigFromHF(folder)
	if err != nil {
		t.Fatal(err)
	}
	io, err := checkpoint.Open(filepath.Join(llama3Fixture, "io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	ids, err := io.Tensor("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	invFreq, err := io.Tensor("inv_freq")
	if err != nil {
		t.Fatal(err)
	}
	batch, seq := ids.Shape[0], ids.Shape[1]
	b := graph.NewBuilder()
	lm, err := cfg.Build(b, graph.F64, batch, seq, 1)
	if err != nil {
		t.Fatal(err)
	}
	for l, tap := range lm.Layers {
		b.Output(fmt.Sprintf("u%d", l), tap.Input)
		b.Output(fmt.Sprintf("y%d", l), tap.Mixer)
	}
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	weights, err := models.LoadWeights(lm, folder)
	if err != nil {
		t.Fatal(err)
	}
	bind := map[string]*graph.Tensor{}
	for k, v := range weights {
		bind[k] = v
	}
	tokens := graph.NewTensor(graph.I32, batch, seq)
	for i := range tokens.I32 {
		tokens.I32[i] = int32(ids.At(i))
	}
	bind["tokens"] = tokens
	out, _, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	taps := make([]map[string]*graph.Tensor, len(lm.Layers))
	for l := range taps {
		taps[l] = map[string]*graph.Tensor{"u": out[fmt.Sprintf("u%d", l)], "y": out[fmt.Sprintf("y%d", l)]}
	}
	return *cfg.Llama, taps, weights, invFreq
}

// Configured as the llama3 fixture's attention, the mixer's Forward gives
// each layer's attention output of framework/models' Llama on the fixture's
// weights and inputs, and its frequencies are transformers'. Without the
// scaling it would not: the fixture's sequence reaches the scaled bands.
func TestMatchesLlama3Fixture(t *testing.T) {
	cfg, taps, weights, ref := fixtureModel(t)
	if cfg.RopeScaling.Type != models.RopeLlama3 {
		t.Fatalf("the fixture's rope scaling is %+v, expected llama3", cfg.RopeScaling)
	}
	hd := cfg.DModel / cfg.Heads
	forward := func(r models.RopeScaling, layer int) (got, want []float64) {
		u, y := taps[layer]["u"], taps[layer]["y"]
		l := mixer.Layer{Config: scaledConfig(hd, cfg.RopeTheta, r),
			Dims: mixer.Dims{Batch: u.Shape[0], SeqLen: u.Shape[1], DModel: cfg.DModel, Heads: cfg.Heads, KVHeads: cfg.KVHeads, Layer: layer, DType: graph.F64}}
		frag, err := attention.Mixer{}.Forward(t.Context(), l)
		if err != nil {
			t.Fatal(err)
		}
		bind := map[string]*graph.Tensor{mixer.InputU: u}
		for _, n := range frag.Nodes {
			if n.Op == graph.OpParam {
				w, ok := weights[fmt.Sprintf("model.layers.%d.self_attn.%s", layer, n.Name)]
				if !ok {
					t.Fatalf("the mixer reads %q, which the fixture does not have", n.Name)
				}
				bind[n.Name] = w
			}
		}
		out, _, err := graph.Evaluate(frag, bind)
		if err != nil {
			t.Fatal(err)
		}
		return out[mixer.OutputY].F64, y.F64
	}
	relErr := func(got, want []float64) float64 {
		scale, worst := 0.0, 0.0
		for i := range want {
			scale = math.Max(scale, math.Abs(want[i]))
			if d := math.Abs(got[i] - want[i]); !(d <= worst) {
				worst = d
			}
		}
		return worst / scale
	}
	for layer := range taps {
		got, want := forward(cfg.RopeScaling, layer)
		rel := relErr(got, want)
		plain := relErr(forward(models.RopeScaling{}, layer))
		t.Logf("layer %d: relative error %.3g scaled, %.3g unscaled", layer, rel, plain)
		if !(rel <= 1e-5) {
			t.Errorf("layer %d: the mixer's output differs from the model's attention by %.3g relative", layer, rel)
		}
		if !(plain > 1e-3) {
			t.Errorf("layer %d: without the scaling the mixer is within %.3g of the model: the fixture does not test the scaling", layer, plain)
		}
	}

	inv, err := attention.InvFreqs(mixer.Layer{Config: scaledConfig(hd, cfg.RopeTheta, cfg.RopeScaling),
		Dims: mixer.Dims{Batch: 1, SeqLen: 1, DModel: cfg.DModel, Heads: cfg.Heads, KVHeads: cfg.KVHeads, DType: graph.F32}})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != ref.Len() {
		t.Fatalf("%d frequencies, transformers has %d", len(inv), ref.Len())
	}
	for i, f := range inv {
		if d := math.Abs(f-ref.At(i)) / f; !(d <= 1e-6) {
			t.Errorf("inv_freq[%d] %.9g, transformers %.9g", i, f, ref.At(i))
		}
	}
}
