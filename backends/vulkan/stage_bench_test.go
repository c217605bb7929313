//go:build cgo

package vulkan_test

import (
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/framework/bench"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/stages"
)

// TestStageStepMatchesCPU runs MOHAWK's stage-2 and stage-3 training steps
// of a small Phi student (d 64, 2 layers, 4 heads, T 64, discrete Mamba-2
// with chunk 16) on Vulkan and on the CPU backend from the same weights and
// batch: the losses of four steps agree to 1e-5 relative (float32 sums in
// another order, compounded by three updates).
func TestStageStepMatchesCPU(t *testing.T) {
	teacher := models.HFConfig{Family: models.FamilyPhi, Phi: &models.PhiConfig{Vocab: 257, DModel: 64, Layers: 2, Heads: 4, SeqLen: 64}}
	for _, kind := range []stages.Kind{stages.HiddenStateAlignment, stages.KnowledgeDistillation} {
		t.Run(string(kind), func(t *testing.T) {
			o := bench.StageStepOptions{Kind: kind, Teacher: teacher, Mixer: bench.PhiMamba(4, 16, 16), Batch: 2, SeqLen: 64, Steps: 4, LR: 1e-3}
			var losses [2][]float64
			o.Loss = func(step int, loss float64) { losses[0] = append(losses[0], loss) }
			if _, err := bench.StageStep(context.Background(), newBackend(t), o); err != nil {
				t.Fatal(err)
			}
			c := cpu.NewService(cpu.Options{Threads: 2})
			defer c.Close()
			o.Loss = func(step int, loss float64) { losses[1] = append(losses[1], loss) }
			if _, err := bench.StageStep(context.Background(), c, o); err != nil {
				t.Fatal(err)
			}
			for i, v := range losses[0] {
				if w := losses[1][i]; math.Abs(v-w) > 1e-5*math.Abs(w) {
					t.Errorf("step %d: loss %.8g on Vulkan, %.8g on the CPU", i+1, v, w)
				}
			}
			t.Logf("losses on Vulkan %v, on the CPU %v", losses[0], losses[1])
		})
	}
}

// BenchmarkStageStep times one MOHAWK stage-2 and one stage-3 training step
// (forward, backward, AdamW) on random weights, run with -benchtime 1x:
//
//	MOHAWK_VULKAN_STAGE_MODEL  small (default: d 256, 4 layers, T 256) or
//	                           phi-1.5 (d 2048, 24 layers, 32 heads, T 2048)
//	MOHAWK_VULKAN_STAGE_STEPS  timed steps after one warm-up (default 3)
//	MOHAWK_VULKAN_STAGE_KINDS  2,3 (default both)
//
// and reports tokens/s (the median step) beside the build and upload times.
func BenchmarkStageStep(b *testing.B) {
	model := os.Getenv("MOHAWK_VULKAN_STAGE_MODEL")
	if model == "" {
		model = "small"
	}
	teacher, mix, ok := bench.StageModel(model)
	if !ok {
		b.Fatalf("MOHAWK_VULKAN_STAGE_MODEL: %q is not small or phi-1.5", model)
	}
	steps := 3
	if s, err := strconv.Atoi(os.Getenv("MOHAWK_VULKAN_STAGE_STEPS")); err == nil {
		steps = s
	}
	kinds := map[string]stages.Kind{"2": stages.HiddenStateAlignment, "3": stages.KnowledgeDistillation}
	want := "2,3"
	if s := os.Getenv("MOHAWK_VULKAN_STAGE_KINDS"); s != "" {
		want = s
	}
	be := newBackend(b)
	for _, k := range strings.Split(want, ",") {
		kind, ok := kinds[k]
		if !ok {
			b.Fatalf("MOHAWK_VULKAN_STAGE_KINDS: %q is not 2 or 3", k)
		}
		b.Run(string(kind), func(b *testing.B) {
			r, err := bench.StageStep(context.Background(), be, bench.StageStepOptions{Kind: kind, Teacher: teacher, Mixer: mix,
				Batch: 1, SeqLen: teacher.Phi.SeqLen, Warmup: 1, Steps: steps})
			if err != nil {
				b.Fatal(err)
			}
			var sb strings.Builder
			bench.PrintStageSteps(&sb, []bench.StageStepResult{r})
			b.Logf("%s on %s:\n%s", kind, be.DeviceName(), sb.String())
			b.ReportMetric(r.TokensPerSec, "tokens/s")
			b.ReportMetric(r.StepSeconds, "s/step")
		})
	}
}
