package models

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

func tapConfigs() map[string]HFConfig {
	return map[string]HFConfig{
		"phi":   {Family: FamilyPhi, Phi: &PhiConfig{Vocab: 11, DModel: 16, Layers: 2, Heads: 2, SeqLen: 6}},
		"llama": {Family: FamilyLlama, Llama: &LlamaConfig{Vocab: 11, DModel: 16, Layers: 2, Heads: 4, KVHeads: 2, MLPHidden: 24, SeqLen: 6}},
		"gpt2":  {Family: FamilyGPT2, GPT2: &GPT2Config{Vocab: 11, DModel: 16, Layers: 2, Heads: 2, SeqLen: 6}},
	}
}

// evalModel runs g with each param at its Init times 20 (so attention is
// far from uniform) and fixed tokens.
func evalModel(t *testing.T, g *graph.Graph, params []Param, batch, seqLen int) map[string]*graph.Tensor {
	t.Helper()
	bind := map[string]*graph.Tensor{}
	for _, p := range params {
		v := p.Init.Clone()
		if len(v.Shape) == 2 {
			for i := 0; i < v.Len(); i++ {
				v.Set(i, 20*v.At(i))
			}
		}
		bind[p.Name] = v
	}
	tokens := graph.NewTensor(graph.I32, batch, seqLen)
	for i := range tokens.I32 {
		tokens.I32[i] = int32((7*i + 3) % 11)
	}
	bind["tokens"] = tokens
	out, _, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The taps are consistent with the model: each block's residual is the
// previous block's output, rebuilding a block around its own mixer output
// gives its output, the attention probabilities are causal rows that sum to
// 1, and a model built only to its first block has the same first block.
func TestLayerTaps(t *testing.T) {
	const batch = 2
	for name, cfg := range tapConfigs() {
		t.Run(name, func(t *testing.T) {
			b := graph.NewBuilder()
			lm, err := BuildModel(context.Background(), b, cfg, graph.F64, batch, BuildOptions{Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(lm.Layers) != 2 {
				t.Fatalf("%d layer taps, expected 2", len(lm.Layers))
			}
			for l, tp := range lm.Layers {
				b.Output(fmt.Sprintf("block/%d", l), tp.Block)
				b.Output(fmt.Sprintf("rebuilt/%d", l), tp.WithMixer(tp.Mixer))
				b.Output(fmt.Sprintf("probs/%d", l), tp.Probs)
				b.Output(fmt.Sprintf("residual/%d", l), tp.Residual)
			}
			g, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			out := evalModel(t, g, lm.Params, batch, 6)
			same := func(what string, x, y *graph.Tensor) {
				for i := 0; i < x.Len(); i++ {
					if x.At(i) != y.At(i) {
						t.Fatalf("%s: element %d is %g and %g", what, i, x.At(i), y.At(i))
					}
				}
			}
			same("residual of block 1 vs output of block 0", out["residual/1"], out["block/0"])
			for l := 0; l < 2; l++ {
				same(fmt.Sprintf("block %d rebuilt around its mixer", l), out[fmt.Sprintf("rebuilt/%d", l)], out[fmt.Sprintf("block/%d", l)])
				p := out[fmt.Sprintf("probs/%d", l)]
				h, tt := p.Shape[1], p.Shape[2]
				if !p.Shape.Equal(graph.Shape{batch, cfg.Heads(), 6, 6}) {
					t.Fatalf("probs %v, expected [B,H,T,T] = [%d %d 6 6]", p.Shape, batch, cfg.Heads())
				}
				for r := 0; r < batch*h*tt; r++ {
					q, sum := r%tt, 0.0
					for k := 0; k < tt; k++ {
						v := p.At(r*tt + k)
						if k > q && v != 0 {
							t.Fatalf("layer %d: probability %g of future key %d for query %d", l, v, k, q)
						}
						sum += v
					}
					if math.Abs(sum-1) > 1e-12 {
						t.Fatalf("layer %d: a row of probabilities sums to %g", l, sum)
					}
				}
			}

			// The first block alone, no head.
			b1 := graph.NewBuilder()
			first, err := BuildModel(context.Background(), b1, cfg, graph.F64, batch, BuildOptions{Seed: 3, Layers: 1})
			if err != nil {
				t.Fatal(err)
			}
			if first.Logits != graph.NoValue || len(first.Layers) != 1 {
				t.Fatalf("first block only: logits %v and %d taps", first.Logits, len(first.Layers))
			}
			b1.Output("block/0", first.Layers[0].Block)
			g1, err := b1.Build()
			if err != nil {
				t.Fatal(err)
			}
			same("block 0 of the first-block model", evalModel(t, g1, first.Params, batch, 6)["block/0"], out["block/0"])
		})
	}
}

// A model built under a prefix has the same params (names prefixed, same
// initial values) and the same logits; two models in one graph share the
// input "tokens".
func TestPrefixedModelBesideItsCopy(t *testing.T) {
	const batch = 2
	for name, cfg := range tapConfigs() {
		t.Run(name, func(t *testing.T) {
			b := graph.NewBuilder()
			plain, err := BuildModel(context.Background(), b, cfg, graph.F64, batch, BuildOptions{Seed: 9})
			if err != nil {
				t.Fatal(err)
			}
			pre, err := BuildModel(context.Background(), b, cfg, graph.F64, batch, BuildOptions{Seed: 9, Prefix: "teacher/"})
			if err != nil {
				t.Fatal(err)
			}
			if pre.Tokens != plain.Tokens {
				t.Fatal("the two models read different token inputs")
			}
			if len(pre.Params) != len(plain.Params) {
				t.Fatalf("%d prefixed params, %d plain", len(pre.Params), len(plain.Params))
			}
			for i, p := range pre.Params {
				q := plain.Params[i]
				if p.Name != "teacher/"+q.Name || !strings.HasPrefix(p.Name, "teacher/") {
					t.Fatalf("param %d: %q beside %q", i, p.Name, q.Name)
				}
				for j := 0; j < p.Init.Len(); j++ {
					if p.Init.At(j) != q.Init.At(j) {
						t.Fatalf("%s: initial values differ from %s", p.Name, q.Name)
					}
				}
			}
			b.Output("plain", plain.Logits)
			b.Output("prefixed", pre.Logits)
			g, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			out := evalModel(t, g, append(plain.Params, pre.Params...), batch, 6)
			for i := 0; i < out["plain"].Len(); i++ {
				if out["plain"].At(i) != out["prefixed"].At(i) {
					t.Fatalf("logit %d: %g plain, %g prefixed", i, out["plain"].At(i), out["prefixed"].At(i))
				}
			}
		})
	}
}

// A "tokens" of another type already in the graph is an error that names
// both types.
func TestTokensInputOfAnotherType(t *testing.T) {
	b := graph.NewBuilder()
	b.Input("tokens", graph.I32, 3, 6)
	_, err := BuildModel(context.Background(), b, tapConfigs()["phi"], graph.F32, 2, BuildOptions{})
	if err == nil || !strings.Contains(err.Error(), "i32[3,6]") || !strings.Contains(err.Error(), "i32[2,6]") {
		t.Fatalf("error %v, expected one naming both token types", err)
	}
}
