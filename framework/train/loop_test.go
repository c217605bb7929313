// Tests of the host loop: a small classifier trained through Trainer and
// Reference runners until its loss is low, and the loss guard's message.

package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// xorData is points of [-1, 1]² labelled by the sign of x0·x1: not linearly
// separable, so the hidden layer has to learn.
func xorData(r *rand.Rand, n int) ([]float32, []int32) {
	x, y := make([]float32, 2*n), make([]int32, n)
	for i := 0; i < n; i++ {
		a, b := 2*r.Float64()-1, 2*r.Float64()-1
		// Keep points off the axes so the classes have a margin.
		a += 0.1 * math.Copysign(1, a)
		b += 0.1 * math.Copysign(1, b)
		x[2*i], x[2*i+1] = float32(a), float32(b)
		if a*b > 0 {
			y[i] = 1
		}
	}
	return x, y
}

// mlpClassifier is logits = tanh(x·W1 + b1)·W2 + b2 with mean cross-entropy,
// in f32.
func mlpClassifier(rows, hidden int) (*graph.Builder, graph.Value, []Param) {
	b := graph.NewBuilder()
	x := b.Input("x", graph.F32, rows, 2)
	labels := b.Input("labels", graph.I32, rows)
	w1 := b.Param("w1", graph.F32, 2, hidden)
	b1 := b.Param("b1", graph.F32, hidden)
	w2 := b.Param("w2", graph.F32, hidden, 2)
	b2 := b.Param("b2", graph.F32, 2)
	h := b.Tanh(b.Add(b.MatMul(x, w1), b1))
	logits := b.Add(b.MatMul(h, w2), b2)
	loss := b.Sum(b.Mean(b.CrossEntropy(logits, labels)))
	return b, loss, []Param{{Value: w1}, {Value: b1, NoDecay: true}, {Value: w2}, {Value: b2, NoDecay: true}}
}

func TestTrainingReducesLoss(t *testing.T) {
	const n, hidden, steps = 64, 16, 100
	const threshold = 0.05
	for _, mb := range []int{1, 2} {
		r := rand.New(rand.NewPCG(11, 13))
		x, y := xorData(r, n)
		b, loss, params := mlpClassifier(n/mb, hidden)
		opt := DefaultAdamW()
		p, err := StepGraphs(b, loss, params, opt, mb)
		if err != nil {
			t.Fatal(err)
		}
		resident := map[string]*graph.Tensor{}
		for k, v := range p.StateInit {
			resident[k] = v
		}
		init := func(name string, scale float64, shape ...int) {
			w := graph.NewTensor(graph.F32, shape...)
			for i := range w.F32 {
				w.F32[i] = float32(scale * r.NormFloat64())
			}
			resident[name] = w
		}
		init("w1", 1, 2, hidden)
		init("b1", 0, hidden)
		init("w2", 1/math.Sqrt(hidden), hidden, 2)
		init("b2", 0, 2)

		tr := &Trainer{Programs: p, Schedule: WSD{LR0: 0.05, MinLR: 0.005, Warmup: 0.1, Decay: 0.1}, Total: steps}
		if mb == 1 {
			tr.Step = &Reference{Graph: p.Step, Resident: resident}
		} else {
			tr.Accumulate = &Reference{Graph: p.Accumulate, Resident: resident}
			tr.Apply = &Reference{Graph: p.Apply, Resident: resident}
		}
		per := n / mb
		batches := make([]map[string]*graph.Tensor, mb)
		for i := range batches {
			batches[i] = map[string]*graph.Tensor{
				"x":      graph.FromF32(x[i*per*2:(i+1)*per*2], per, 2),
				"labels": graph.FromI32(y[i*per:(i+1)*per], per),
			}
		}
		var first, last StepResult
		for step := 0; step < steps; step++ {
			res, err := tr.TrainStep(step, batches)
			if err != nil {
				t.Fatal(err)
			}
			if step == 0 {
				first = res
			}
			last = res
		}
		// The loss reported at a step is the one before its update.
		t.Logf("micro-batches %d: loss %.4f → %.4f, grad norm %.3g → %.3g, final lr %.3g", mb, first.Loss, last.Loss, first.GradNorm, last.GradNorm, last.LR)
		if !(last.Loss < threshold) || !(first.Loss > 0.5) {
			t.Errorf("micro-batches %d: loss went from %v to %v, want from above 0.5 to below %v", mb, first.Loss, last.Loss, threshold)
		}
		if last.LR != 0.005 {
			t.Errorf("last step's learning rate %v, want MinLR 0.005", last.LR)
		}
	}
}

func TestTrainerErrors(t *testing.T) {
	b, loss, params := mlpClassifier(4, 3)
	p, err := StepGraphs(b, loss, params, DefaultAdamW(), 2)
	if err != nil {
		t.Fatal(err)
	}
	tr := &Trainer{Programs: p, Schedule: Constant{LR0: 1e-3}, Total: 10}
	if _, err := tr.TrainStep(0, make([]map[string]*graph.Tensor, 1)); err == nil || !strings.Contains(err.Error(), "micro-batches") {
		t.Errorf("wrong number of micro-batches: error %v", err)
	}
	if _, err := tr.TrainStep(0, make([]map[string]*graph.Tensor, 2)); err == nil || !strings.Contains(err.Error(), "Accumulate and Apply") {
		t.Errorf("missing runners: error %v", err)
	}
}

func TestLossGuard(t *testing.T) {
	var g LossGuard
	if err := g.CheckLoss(0, math.Inf(1)); err == nil || err.Error() != "step 0: loss is +Inf (no finite loss before it)" {
		t.Errorf("first loss infinite: %v", err)
	}
	for step, l := range []float64{2.5, 1.25} {
		if err := g.CheckLoss(step, l); err != nil {
			t.Fatal(err)
		}
	}
	err := g.CheckLoss(7, math.NaN())
	if err == nil || err.Error() != "step 7: loss is NaN (last finite loss 1.25 at step 1)" {
		t.Errorf("NaN loss: error %v", err)
	}
	err = g.CheckLoss(8, math.Inf(-1))
	if err == nil || err.Error() != "step 8: loss is -Inf (last finite loss 1.25 at step 1)" {
		t.Errorf("-Inf loss: error %v", err)
	}
}

// A diverged run is stopped before Apply, so the params keep their values.
func TestTrainerStopsBeforeApplyOnNaN(t *testing.T) {
	b, loss, params := mlpClassifier(2, 3)
	p, err := StepGraphs(b, loss, params, DefaultAdamW(), 2)
	if err != nil {
		t.Fatal(err)
	}
	resident := map[string]*graph.Tensor{}
	for k, v := range p.StateInit {
		resident[k] = v
	}
	resident["w1"] = graph.NewTensor(graph.F32, 2, 3)
	resident["b1"] = graph.NewTensor(graph.F32, 3)
	resident["w2"] = graph.NewTensor(graph.F32, 3, 2)
	resident["b2"] = graph.NewTensor(graph.F32, 2)
	resident["w1"].F32[0] = float32(math.NaN())
	tr := &Trainer{Programs: p, Schedule: Constant{LR0: 1e-3}, Total: 10,
		Accumulate: &Reference{Graph: p.Accumulate, Resident: resident},
		Apply:      &Reference{Graph: p.Apply, Resident: resident}}
	batch := map[string]*graph.Tensor{"x": graph.FromF32([]float32{1, 1, 1, 1}, 2, 2), "labels": graph.FromI32([]int32{0, 1}, 2)}
	_, err = tr.TrainStep(3, []map[string]*graph.Tensor{batch, batch})
	if err == nil || !strings.Contains(err.Error(), "step 3: loss is NaN") {
		t.Fatalf("error %v, want a NaN loss at step 3", err)
	}
	if resident["b2"].F32[0] != 0 || resident["adam_m/b2"].F32[0] != 0 {
		t.Error("the update was applied after a NaN loss")
	}
}
