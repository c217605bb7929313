package stages

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/mixers/attention"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// Sizes of the test models: d 32, 2 layers, 4 heads (head dim 8), T 16,
// vocabulary 257 (bytes and one more).
const (
	testBatch  = 2
	testSeqLen = 16
	testVocab  = 257
	testSeed   = 5
)

func phiTeacher() models.HFConfig {
	return models.HFConfig{Family: models.FamilyPhi, Phi: &models.PhiConfig{Vocab: testVocab, DModel: 32, Layers: 2, Heads: 4, SeqLen: testSeqLen}}
}

func llamaTeacher() models.HFConfig {
	return models.HFConfig{Family: models.FamilyLlama, Llama: &models.LlamaConfig{Vocab: testVocab, DModel: 32, Layers: 2, Heads: 4, KVHeads: 2, MLPHidden: 48, SeqLen: testSeqLen}}
}

func gpt2Teacher() models.HFConfig {
	return models.HFConfig{Family: models.FamilyGPT2, GPT2: &models.GPT2Config{Vocab: testVocab, DModel: 32, Layers: 2, Heads: 4, SeqLen: testSeqLen}}
}

// schemaDefaults is an object of a mixer schema's defaults with some
// attributes set.
func schemaDefaults(s mixer.Schema, set map[string]cty.Value) cty.Value {
	attrs := map[string]cty.Value{}
	for _, a := range s.Attributes {
		attrs[a.Name] = a.Default
	}
	for k, v := range set {
		attrs[k] = v
	}
	return cty.ObjectVal(attrs)
}

// discreteMamba is the discrete Mamba-2 of MOHAWK with state size 8 and
// chunk 8 (so the chunked form really chunks T 16).
func discreteMamba() models.LayerMixer {
	return models.LayerMixer{Mixer: mamba2.Mixer{}, Layer: mixer.Layer{Config: schemaDefaults(mamba2.Schema, map[string]cty.Value{
		"variant": cty.StringVal(mamba2.VariantDiscrete), "state_size": cty.NumberIntVal(8), "chunk": cty.NumberIntVal(8),
	})}}
}

func attentionMixer() models.LayerMixer {
	return models.LayerMixer{Mixer: attention.Mixer{}, Layer: mixer.Layer{Config: schemaDefaults(attention.Schema, nil)}}
}

// allMamba replaces every layer of a 2-layer model.
func allMamba() map[int]models.LayerMixer {
	return map[int]models.LayerMixer{0: discreteMamba(), 1: discreteMamba()}
}

// spreadParams gives the params values far enough from their tiny initial
// scale that attention is not uniform and logits are not flat: every
// matrix's entries times 10 (norm scales and biases stay), with a seeded
// jitter on the rest.
func spreadParams(ps []models.Param, seed uint64) map[string]*graph.Tensor {
	r := rand.New(rand.NewPCG(seed, 99))
	out := map[string]*graph.Tensor{}
	for _, p := range ps {
		t := graph.NewTensor(p.Init.DType, p.Init.Shape...)
		for i := 0; i < t.Len(); i++ {
			v := p.Init.At(i)
			if len(p.Init.Shape) >= 2 && !strings.Contains(p.Name, "conv1d") {
				v = 10*v + 0.05*r.NormFloat64()
			} else {
				v += 0.05 * r.NormFloat64()
			}
			t.Set(i, v)
		}
		out[p.Name] = t
	}
	return out
}

// batchInputs are random tokens and their next tokens.
func batchInputs(seed uint64) map[string]*graph.Tensor {
	r := rand.New(rand.NewPCG(seed, 7))
	tokens := graph.NewTensor(graph.I32, testBatch, testSeqLen)
	targets := graph.NewTensor(graph.I32, testBatch, testSeqLen)
	for b := 0; b < testBatch; b++ {
		seq := make([]int32, testSeqLen+1)
		for i := range seq {
			seq[i] = int32(r.IntN(testVocab))
		}
		copy(tokens.I32[b*testSeqLen:], seq[:testSeqLen])
		copy(targets.I32[b*testSeqLen:], seq[1:])
	}
	return map[string]*graph.Tensor{"tokens": tokens, "targets": targets}
}

// evaluate runs g on the float64 reference interpreter with the params and
// the inputs (those g does not read are left out).
func evaluate(t *testing.T, g *graph.Graph, params, inputs map[string]*graph.Tensor) map[string]*graph.Tensor {
	t.Helper()
	bind := map[string]*graph.Tensor{}
	for _, n := range g.Nodes {
		switch n.Op {
		case graph.OpInput:
			bind[n.Name] = inputs[n.Name]
		case graph.OpParam:
			v, ok := params[n.Name]
			if !ok {
				t.Fatalf("no value for param %q", n.Name)
			}
			bind[n.Name] = v
		}
	}
	out, _, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// build builds the stage's programs or fails the test.
func build(t *testing.T, opt Options) []*Program {
	t.Helper()
	progs, err := Build(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	return progs
}

// graphOf finishes a program's builder into a graph (on a copy, so the
// builder stays usable).
func graphOf(t *testing.T, p *Program) *graph.Graph {
	t.Helper()
	g, err := p.Builder.Build()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func scalar(t *testing.T, out map[string]*graph.Tensor, name string) float64 {
	t.Helper()
	v, ok := out[name]
	if !ok {
		t.Fatalf("no output %q", name)
	}
	if v.Len() != 1 {
		t.Fatalf("output %q has shape %v, expected a scalar", name, v.Shape)
	}
	return v.At(0)
}

func relErr(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(math.Abs(want), 1e-300)
}
