package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// The whole Phi model, with either mixer, differentiates correctly: for
// every parameter, a few elements' gradients match central finite
// differences of the float64 reference (step 1e-5, tolerance 1e-6·(1+|g|)).
func TestPhiGradients(t *testing.T) {
	for _, mixer := range []string{MixerAttention, MixerDiscreteMamba2} {
		t.Run(mixer, func(t *testing.T) {
			cfg := PhiConfig{Vocab: 7, DModel: 8, Layers: 2, Heads: 2, SeqLen: 5, Mixer: mixer, SSMState: 3, Chunk: 2}
			b := graph.NewBuilder()
			lm, err := BuildPhi(b, cfg, graph.F64, 2, 3)
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
				b.Output(lm.Params[i].Name, g)
			}
			g, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 1))
			bind := map[string]*graph.Tensor{"tokens": graph.NewTensor(graph.I32, 2, 5), "targets": graph.NewTensor(graph.I32, 2, 5)}
			for i := range bind["tokens"].I32 {
				bind["tokens"].I32[i], bind["targets"].I32[i] = int32(r.IntN(7)), int32(r.IntN(7))
			}
			for _, p := range lm.Params {
				v := p.Init.Clone()
				for i := range v.F64 { // larger than the init so every path matters
					v.F64[i] += 0.3 * r.NormFloat64()
				}
				bind[p.Name] = v
			}
			out, _, err := graph.Evaluate(g, bind)
			if err != nil {
				t.Fatal(err)
			}
			lossAt := func() float64 {
				o, _, err := graph.Evaluate(g, bind)
				if err != nil {
					t.Fatal(err)
				}
				return o["loss"].F64[0]
			}
			for _, p := range lm.Params {
				x := bind[p.Name].F64
				for k := 0; k < 2; k++ {
					j := r.IntN(len(x))
					orig := x[j]
					x[j] = orig + 1e-5
					up := lossAt()
					x[j] = orig - 1e-5
					down := lossAt()
					x[j] = orig
					num, ana := (up-down)/2e-5, out[p.Name].F64[j]
					if math.Abs(num-ana) > 1e-6*(1+math.Abs(num)) {
						t.Errorf("%s[%d]: analytic %.9g, numeric %.9g", p.Name, j, ana, num)
					}
				}
			}
		})
	}
}
