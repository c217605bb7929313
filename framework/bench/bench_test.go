package bench

import (
	"testing"

	"github.com/mohawk-distill/mohawk/framework/models"
)

// BenchmarkTrainStep times one AdamW training step of the small Phi-style LM
// (d_model 256, 4 layers, 4 heads, T 256, batch 16, byte vocabulary) with
// each mixer; tokens/s is reported beside ns/op.
func BenchmarkTrainStep(b *testing.B) {
	for _, m := range []struct{ name, mixer string }{{"attention", models.MixerAttention}, {"discrete_mamba2", models.MixerDiscreteMamba2}} {
		b.Run(m.name, func(b *testing.B) {
			r, err := TrainStep(m.name, SmallPhi(m.mixer), 16, b.N, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.TokensPerSec, "tokens/s")
		})
	}
}
