package attention_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/mixers/attention"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
	"github.com/zclconf/go-cty/cty"
)

// phiPreset is Phi-1.5's attention as configuration: biases everywhere,
// partial rotary (half the head dim), θ 10000, the output projection dense.
func phiPreset(rotaryDim int) cty.Value {
	attrs := map[string]cty.Value{}
	for _, a := range attention.Schema.Attributes {
		attrs[a.Name] = a.Default
	}
	attrs["rotary_dim"] = cty.NumberIntVal(int64(rotaryDim))
	attrs["qkv_bias"] = cty.True
	attrs["out_bias"] = cty.True
	attrs["out_name"] = cty.StringVal("dense")
	return cty.ObjectVal(attrs)
}

// A one-layer Phi model built by framework/models and the same model with
// this mixer inlined as its attention give the same logits on the same
// (random, biases included) weights.
func TestMatchesPhiAttention(t *testing.T) {
	pc := models.PhiConfig{Vocab: 11, DModel: 16, Layers: 1, Heads: 4, SeqLen: 9}
	const batch = 2
	ref := graph.NewBuilder()
	lm, err := models.BuildPhi(ref, pc, graph.F64, batch, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref.Output("logits", lm.Logits)
	refG, err := ref.Build()
	if err != nil {
		t.Fatal(err)
	}

	// The same model around the mixer's Forward fragment.
	pc = pc.Defaults()
	l := mixer.Layer{Config: phiPreset(pc.RotaryDim), Dims: mixer.Dims{Batch: batch, SeqLen: pc.SeqLen, DModel: pc.DModel, Heads: pc.Heads, KVHeads: pc.Heads, DType: graph.F64}}
	frag, err := attention.Mixer{}.Forward(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder()
	d, p := pc.DModel, "model.layers.0."
	param := func(name string, shape ...int) graph.Value { return b.Param(name, graph.F64, shape...) }
	tokens := b.Input("tokens", graph.I32, batch, pc.SeqLen)
	h := b.Gather(param("model.embed_tokens.weight", pc.Vocab, d), tokens)
	u := b.LayerNorm(h, param(p+"input_layernorm.weight", d), param(p+"input_layernorm.bias", d), pc.LayerNormEps)
	out, err := b.Inline(frag, p+"self_attn.", map[string]graph.Value{mixer.InputU: u})
	if err != nil {
		t.Fatal(err)
	}
	f := nn.Linear(b, u, param(p+"mlp.fc1.weight", pc.MLPHidden, d), param(p+"mlp.fc1.bias", pc.MLPHidden))
	f = nn.Linear(b, nn.GeluTanh(b, f), param(p+"mlp.fc2.weight", d, pc.MLPHidden), param(p+"mlp.fc2.bias", d))
	h = b.Add(h, b.Add(out[mixer.OutputY], f))
	h = b.LayerNorm(h, param("model.final_layernorm.weight", d), param("model.final_layernorm.bias", d), pc.LayerNormEps)
	b.Output("logits", nn.Linear(b, h, param("lm_head.weight", pc.Vocab, d), param("lm_head.bias", pc.Vocab)))
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}

	// Random values for every parameter, biases and norms included, so the
	// biases and the rotary half are exercised.
	r := rand.New(rand.NewPCG(5, 6))
	bind := map[string]*graph.Tensor{}
	for _, prm := range lm.Params {
		v := prm.Init.Clone()
		for i := range v.F64 {
			v.F64[i] = 0.3 * r.NormFloat64()
		}
		bind[prm.Name] = v
	}
	ids := make([]int32, batch*pc.SeqLen)
	for i := range ids {
		ids[i] = int32(r.IntN(pc.Vocab))
	}
	bind["tokens"] = graph.FromI32(ids, batch, pc.SeqLen)
	for _, n := range g.Nodes {
		if n.Op == graph.OpParam {
			if _, ok := bind[n.Name]; !ok {
				t.Fatalf("the mixer reads %q, which Phi does not have", n.Name)
			}
		}
	}
	want, _, err := graph.Evaluate(refG, bind)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	w, o := want["logits"].F64, got["logits"].F64
	worst := 0.0
	for i := range w {
		worst = math.Max(worst, math.Abs(w[i]-o[i]))
	}
	if worst > 1e-12 {
		t.Fatalf("logits differ from Phi's by %g", worst)
	}
}
