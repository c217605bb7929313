package stages

import (
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/framework/train"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// trainStage runs steps AdamW updates of a stage's (first) program on the
// CPU backend in float32, on one fixed batch, and returns the losses; it
// checks that the teacher's params are left as they were and every
// trainable param moved.
func trainStage(t *testing.T, opt Options, steps int, lr float64) []float64 {
	t.Helper()
	opt.DType = graph.F32
	p := build(t, opt)[0]
	be := cpu.New(cpu.Options{})
	defer be.Close()
	start := spreadParams(p.Params, 61)
	for name, v := range start {
		if err := be.SetTensor(name, v); err != nil {
			t.Fatal(err)
		}
	}
	adam := train.DefaultAdamW()
	progs, err := train.StepGraphs(p.Builder, p.Loss, p.Trainable, adam, 1)
	if err != nil {
		t.Fatal(err)
	}
	for n, v := range progs.StateInit {
		if err := be.SetTensor(n, v); err != nil {
			t.Fatal(err)
		}
	}
	step, err := be.Compile(progs.Step)
	if err != nil {
		t.Fatal(err)
	}
	tr := &train.Trainer{Programs: progs, Step: step, Schedule: train.Constant{LR0: lr}, Total: steps}
	batch := batchInputs(62)
	var losses []float64
	for s := 0; s < steps; s++ {
		res, err := tr.TrainStep(s, []map[string]*graph.Tensor{batch})
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, res.Loss)
	}
	trained := map[string]bool{}
	for _, n := range p.TrainableNames {
		trained[n] = true
	}
	for name, before := range start {
		after, err := be.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		moved := false
		for i := 0; i < after.Len(); i++ {
			moved = moved || after.At(i) != before.At(i)
		}
		switch {
		case strings.HasPrefix(name, TeacherPrefix) && moved:
			t.Errorf("teacher param %s changed", name)
		case trained[name] && !moved:
			t.Errorf("trainable param %s did not change", name)
		case !trained[name] && moved:
			t.Errorf("frozen param %s changed", name)
		}
	}
	return losses
}

// A few AdamW steps of each distillation stage on the CPU backend lower its
// loss on a fixed batch, train only the stage's params and leave the
// teacher alone.
func TestStagesTrainOnCPU(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		lr   float64
	}{{MatrixOrientation, 1e-2}, {HiddenStateAlignment, 1e-2}, {KnowledgeDistillation, 3e-3}} {
		t.Run(string(tc.kind), func(t *testing.T) {
			opt := Options{Kind: tc.kind, Teacher: phiTeacher(), Mixers: allMamba(), Batch: testBatch, SeqLen: testSeqLen, Seed: testSeed}
			losses := trainStage(t, opt, 10, tc.lr)
			t.Logf("losses %.4g", losses)
			first, last := losses[0], losses[len(losses)-1]
			if !(last < 0.9*first) {
				t.Fatalf("loss went from %.5g to %.5g in %d steps, expected a drop of 10%% at least", first, last, len(losses))
			}
		})
	}
}
