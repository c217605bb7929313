// Tests that gradient accumulation over micro-batches (Accumulate × N, then
// Apply) makes the same update as one Step on the whole batch.

package train

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// mlpReg is a one-hidden-layer regression y ≈ tanh(x·W1)·W2 + b with loss
// mean((ŷ − y)²) over the rows of a (micro-)batch.
func mlpReg(rows, in, hidden, out int) (*graph.Builder, graph.Value, []Param) {
	b := graph.NewBuilder()
	x := b.Input("x", graph.F64, rows, in)
	y := b.Input("y", graph.F64, rows, out)
	w1 := b.Param("w1", graph.F64, in, hidden)
	w2 := b.Param("w2", graph.F64, hidden, out)
	bias := b.Param("bias", graph.F64, out)
	pred := b.Add(b.MatMul(b.Tanh(b.MatMul(x, w1)), w2), bias)
	loss := b.Sum(b.Mean(b.Square(b.Sub(pred, y))))
	return b, loss, []Param{{Value: w1}, {Value: w2}, {Value: bias, NoDecay: true}}
}

func randTensor(r *rand.Rand, scale float64, shape ...int) *graph.Tensor {
	t := graph.NewTensor(graph.F64, shape...)
	for i := range t.F64 {
		t.F64[i] = scale * (2*r.Float64() - 1)
	}
	return t
}

func TestAccumulationMatchesFullBatch(t *testing.T) {
	const rows, in, hidden, out, steps = 12, 3, 5, 2, 6
	for _, mb := range []int{2, 3, 4} {
		for _, clip := range []float64{0, 0.3} {
			t.Run(fmt.Sprintf("micro%d_clip%v", mb, clip), func(t *testing.T) {
				r := rand.New(rand.NewPCG(5, uint64(mb)))
				x, y := randTensor(r, 1, rows, in), randTensor(r, 2, rows, out)
				params := map[string]*graph.Tensor{
					"w1": randTensor(r, 0.5, in, hidden), "w2": randTensor(r, 0.5, hidden, out), "bias": randTensor(r, 0.1, out),
				}
				opt := AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, ClipNorm: clip}
				sched := WSD{LR0: 0.02, MinLR: 0.002, Warmup: 0.2, Decay: 0.3}

				fb, floss, fparams := mlpReg(rows, in, hidden, out)
				full, err := StepGraphs(fb, floss, fparams, opt, 1)
				if err != nil {
					t.Fatal(err)
				}
				per := rows / mb
				mbb, mloss, mparams := mlpReg(per, in, hidden, out)
				acc, err := StepGraphs(mbb, mloss, mparams, opt, mb)
				if err != nil {
					t.Fatal(err)
				}
				fbind := bindAll(full, params, map[string]*graph.Tensor{"x": x, "y": y})
				abind := bindAll(acc, params, nil)
				clipped := 0
				for step := 0; step < steps; step++ {
					lr := sched.LR(step, steps)
					for k, v := range full.Feeds(lr, step+1) {
						fbind[k] = v
					}
					fout := run(t, full.Step, fbind)

					var mloss float64
					for i := 0; i < mb; i++ {
						abind["x"] = graph.FromF64(x.F64[i*per*in:(i+1)*per*in], per, in)
						abind["y"] = graph.FromF64(y.F64[i*per*out:(i+1)*per*out], per, out)
						mloss += run(t, acc.Accumulate, abind)["loss"].F64[0]
					}
					mloss /= float64(mb)
					for k, v := range acc.Feeds(lr, step+1) {
						abind[k] = v
					}
					aout := run(t, acc.Apply, abind)

					fl, fn := fout["loss"].F64[0], fout["grad_norm"].F64[0]
					an := aout["grad_norm"].F64[0]
					if clip > 0 && fn > clip {
						clipped++
					}
					if e := maxRelErr([]float64{mloss, an}, []float64{fl, fn}); e > 1e-12 {
						t.Fatalf("step %d: accumulated loss %v grad_norm %v, full batch %v %v (rel err %.3g)", step, mloss, an, fl, fn, e)
					}
					for _, name := range []string{"w1", "w2", "bias", "adam_m/w1", "adam_v/w2", "adam_m/bias"} {
						if e := maxRelErr(abind[name].F64, fbind[name].F64); e > 1e-12 {
							t.Fatalf("step %d: %s differs: rel err %.3g", step, name, e)
						}
					}
					for _, name := range []string{"grad_acc/w1", "grad_acc/w2", "grad_acc/bias"} {
						for _, v := range abind[name].F64 {
							if v != 0 {
								t.Fatalf("step %d: %s is not zero after Apply", step, name)
							}
						}
					}
				}
				if clip > 0 && clipped == 0 {
					t.Errorf("the norm never exceeded the clip %v; the case does not test clipping", clip)
				}
				if e := maxRelErr(fbind["w1"].F64, params["w1"].F64); e < 1e-3 {
					t.Errorf("w1 barely moved (rel change %.3g)", e)
				}
			})
		}
	}
}
