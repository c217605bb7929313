package mamba2_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
	"github.com/zclconf/go-cty/cty"
)

// The discrete variant computes what framework/models' in-model Phi-Mamba
// mixer computes: a one-layer Phi with that mixer (BuildPhi) and the same
// Phi block written here around this mixer's Forward fragment, inlined under
// the same parameter prefix, give the same logits on the same (random)
// weights.
func TestDiscreteMatchesFrameworkPhiMamba(t *testing.T) {
	const batch = 2
	pc := models.PhiConfig{Vocab: 13, DModel: 8, Layers: 1, Heads: 2, SeqLen: 10, Mixer: models.MixerDiscreteMamba2, Chunk: 4}
	fb := graph.NewBuilder()
	lm, err := models.BuildPhi(fb, pc, graph.F64, batch, 1)
	if err != nil {
		t.Fatal(err)
	}
	fb.Output("logits", lm.Logits)
	want, err := fb.Build()
	if err != nil {
		t.Fatal(err)
	}

	// This mixer with the framework's sizes: defaults give H = 2, P = N = 4,
	// G = H, expand 1, conv 4.
	var attrs = map[string]cty.Value{}
	for _, a := range mamba2.Schema.Attributes {
		attrs[a.Name] = a.Default
	}
	attrs["chunk"] = cty.NumberIntVal(3) // a different chunk changes nothing
	l := mixer.Layer{Config: cty.ObjectVal(attrs), Dims: mixer.Dims{Batch: batch, SeqLen: pc.SeqLen, DModel: pc.DModel, Heads: pc.Heads, DType: graph.F64}}
	frag, err := mamba2.Mixer{}.Forward(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int{}
	for _, p := range lm.Params {
		shapes[p.Name] = p.Init.Shape
	}
	b := graph.NewBuilder()
	param := func(name string) graph.Value { return b.Param(name, graph.F64, shapes[name]...) }
	const p = "model.layers.0."
	tokens := b.Input("tokens", graph.I32, batch, pc.SeqLen)
	h := b.Gather(param("model.embed_tokens.weight"), tokens)
	u := b.LayerNorm(h, param(p+"input_layernorm.weight"), param(p+"input_layernorm.bias"), 1e-5)
	out, err := b.Inline(frag, p+"mixer.", map[string]graph.Value{mixer.InputU: u})
	if err != nil {
		t.Fatal(err)
	}
	f := nn.Linear(b, u, param(p+"mlp.fc1.weight"), param(p+"mlp.fc1.bias"))
	f = nn.Linear(b, nn.GeluTanh(b, f), param(p+"mlp.fc2.weight"), param(p+"mlp.fc2.bias"))
	h = b.Add(h, b.Add(out[mixer.OutputY], f))
	h = b.LayerNorm(h, param("model.final_layernorm.weight"), param("model.final_layernorm.bias"), 1e-5)
	b.Output("logits", nn.Linear(b, h, param("lm_head.weight"), param("lm_head.bias")))
	got, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}

	// Every framework param, perturbed (so D, z_bias and the conv are not
	// at their initial constants), bound by the same name in both graphs.
	r := rand.New(rand.NewPCG(3, 4))
	bind := map[string]*graph.Tensor{}
	for _, p := range lm.Params {
		v := p.Init.Clone()
		for i := range v.F64 {
			v.F64[i] += 0.3 * r.NormFloat64()
		}
		bind[p.Name] = v
	}
	ids := make([]int32, batch*pc.SeqLen)
	for i := range ids {
		ids[i] = int32(r.IntN(pc.Vocab))
	}
	bind["tokens"] = graph.FromI32(ids, batch, pc.SeqLen)
	for _, n := range got.Nodes {
		if n.Op == graph.OpParam && bind[n.Name] == nil {
			t.Fatalf("the mixer reads param %q, which the framework's model does not have", n.Name)
		}
	}
	wo, _, err := graph.Evaluate(want, bind)
	if err != nil {
		t.Fatal(err)
	}
	gb := map[string]*graph.Tensor{}
	for _, n := range got.Nodes {
		if n.Op == graph.OpParam || n.Op == graph.OpInput {
			gb[n.Name] = bind[n.Name]
		}
	}
	go2, _, err := graph.Evaluate(got, gb)
	if err != nil {
		t.Fatal(err)
	}
	a, w := go2["logits"].F64, wo["logits"].F64
	scale, worst := 0.0, 0.0
	for i := range w {
		scale = math.Max(scale, math.Abs(w[i]))
		worst = math.Max(worst, math.Abs(a[i]-w[i]))
	}
	if worst/scale > 1e-12 {
		t.Errorf("logits differ from the framework's Phi-Mamba by %.3g (relative)", worst/scale)
	}
}
