package bench

import (
	"context"
	"math"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/stages"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// TestStageStep runs both MOHAWK steps of a small Phi student on the CPU
// backend and checks the first step's loss against the reference
// evaluator on the same weights and batch (relative 1e-4: float32 sums of
// a few thousand terms), and that the timed steps trained something.
func TestStageStep(t *testing.T) {
	teacher := models.HFConfig{Family: models.FamilyPhi, Phi: &models.PhiConfig{Vocab: 257, DModel: 32, Layers: 2, Heads: 4, SeqLen: 16}}
	mix := PhiMamba(4, 8, 8)
	for _, kind := range []stages.Kind{stages.HiddenStateAlignment, stages.KnowledgeDistillation} {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			be := cpu.NewService(cpu.Options{Threads: 1})
			defer be.Close()
			o := StageStepOptions{Kind: kind, Teacher: teacher, Mixer: mix, Batch: 2, SeqLen: 16, Steps: 4, LR: 1e-2}
			r, err := StageStep(ctx, be, o)
			if err != nil {
				t.Fatal(err)
			}
			if r.TokensPerStep != 32 || r.Steps != 4 || r.TokensPerSec <= 0 || r.Trainable == 0 || r.Resident <= r.Trainable {
				t.Fatalf("result %+v: wrong counts", r)
			}
			want := referenceLoss(t, o)
			if math.Abs(r.FirstLoss-want) > 1e-4*math.Abs(want) {
				t.Errorf("first loss %.7g, reference evaluator %.7g", r.FirstLoss, want)
			}
			if !(r.LastLoss < r.FirstLoss) {
				t.Errorf("loss went from %.6g to %.6g in 4 steps at lr 1e-2", r.FirstLoss, r.LastLoss)
			}
		})
	}
}

// referenceLoss evaluates the stage's forward pass with sdk/graph's
// reference evaluator on the weights and batch StageStep uses.
func referenceLoss(t *testing.T, o StageStepOptions) float64 {
	mixers := map[int]models.LayerMixer{}
	for l := range o.Teacher.Layers() {
		mixers[l] = o.Mixer
	}
	progs, err := stages.Build(context.Background(), stages.Options{Kind: o.Kind, Teacher: o.Teacher, Mixers: mixers, Batch: o.Batch, SeqLen: o.SeqLen, ShapesOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err := progs[0].Builder.Build()
	if err != nil {
		t.Fatal(err)
	}
	bind := map[string]*graph.Tensor{}
	pool := normalPool(1<<20, 0.02)
	for i, p := range progs[0].Params {
		bind[p.Name] = fillParam(p, pool, i)
	}
	bind["tokens"], bind["targets"] = randomBatch(o.Teacher.Vocab(), o.Batch, o.SeqLen)
	for _, n := range g.Nodes {
		if n.Op == graph.OpInput && bind[n.Name] == nil {
			t.Fatalf("the forward pass reads input %q the test does not bind", n.Name)
		}
	}
	out, _, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	return out["loss"].At(0)
}
