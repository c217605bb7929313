package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// The CPU backend runs a whole model's loss and gradients exactly as the
// float64 reference evaluator does (both in float64: 1e-10 relative to each
// tensor's largest magnitude), for both mixers.
func TestCPUBackendMatchesReferenceOnModels(t *testing.T) {
	for _, mixer := range []string{MixerAttention, MixerDiscreteMamba2} {
		t.Run(mixer, func(t *testing.T) {
			cfg := PhiConfig{Vocab: 11, DModel: 16, Layers: 2, Heads: 4, SeqLen: 13, Mixer: mixer, SSMState: 5, Chunk: 4}
			b := graph.NewBuilder()
			lm, err := BuildPhi(b, cfg, graph.F64, 3, 5)
			if err != nil {
				t.Fatal(err)
			}
			loss := lm.NextTokenLoss(b)
			b.Output("loss", loss)
			wrt := make([]graph.Value, len(lm.Params))
			for i, p := range lm.Params {
				wrt[i] = p.Value
			}
			grads, err := graph.Grad(b, loss, wrt)
			if err != nil {
				t.Fatal(err)
			}
			for i, g := range grads {
				b.Output("grad/"+lm.Params[i].Name, g)
			}
			g, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(4, 4))
			inputs := map[string]*graph.Tensor{"tokens": graph.NewTensor(graph.I32, 3, 13), "targets": graph.NewTensor(graph.I32, 3, 13)}
			for i := range inputs["tokens"].I32 {
				inputs["tokens"].I32[i], inputs["targets"].I32[i] = int32(r.IntN(11)), int32(r.IntN(11))
			}
			be := cpu.New(cpu.Options{})
			defer be.Close()
			bind := map[string]*graph.Tensor{}
			for k, v := range inputs {
				bind[k] = v
			}
			for _, p := range lm.Params {
				v := p.Init.Clone()
				for i := range v.F64 {
					v.F64[i] += 0.3 * r.NormFloat64()
				}
				bind[p.Name] = v
				if err := be.SetTensor(p.Name, v); err != nil {
					t.Fatal(err)
				}
			}
			want, _, err := graph.Evaluate(g, bind)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := be.Compile(g)
			if err != nil {
				t.Fatal(err)
			}
			got, err := prog.Run(inputs)
			if err != nil {
				t.Fatal(err)
			}
			for name, w := range want {
				scale := 0.0
				for _, v := range w.F64 {
					scale = math.Max(scale, math.Abs(v))
				}
				for i, v := range w.F64 {
					if d := math.Abs(got[name].F64[i] - v); !(d <= 1e-10*math.Max(scale, 1e-30)) {
						t.Errorf("%s[%d]: cpu %v, reference %v", name, i, got[name].F64[i], v)
						break
					}
				}
			}
		})
	}
}
