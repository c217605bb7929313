// The host side of a training loop: the Runner a compiled program is seen
// through, a reference runner on graph.Evaluate, the Trainer that runs one
// optimizer step, and the check that stops a run whose loss diverged.

package train

import (
	"fmt"
	"math"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Runner runs one compiled program: it binds the per-step inputs by name,
// reads the resident params and state, writes the program's updates back to
// them and returns the outputs by name.
type Runner interface {
	Run(inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error)
}

// Reference is a Runner on graph.Evaluate, the float64 reference
// interpreter: Resident holds the params and state by name, shared by every
// Reference that runs a program of the same model, and each run replaces
// the tensors of its updates there.
type Reference struct {
	Graph    *graph.Graph
	Resident map[string]*graph.Tensor
}

func (r *Reference) Run(inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	bind := make(map[string]*graph.Tensor, len(r.Resident)+len(inputs))
	for k, v := range r.Resident {
		bind[k] = v
	}
	for k, v := range inputs {
		if _, ok := r.Resident[k]; ok {
			return nil, fmt.Errorf("train: input %q has the name of a resident tensor", k)
		}
		bind[k] = v
	}
	out, upd, err := graph.Evaluate(r.Graph, bind)
	if err != nil {
		return nil, err
	}
	for k, v := range upd {
		r.Resident[k] = v
	}
	return out, nil
}

// LossGuard remembers the last finite loss of a run to report it when the
// loss stops being finite.
type LossGuard struct {
	lastStep int
	last     float64
	seen     bool
}

// CheckLoss returns an error when loss is NaN or infinite, naming the step
// and the last finite loss seen before it; otherwise it records the loss.
func (g *LossGuard) CheckLoss(step int, loss float64) error {
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		if !g.seen {
			return fmt.Errorf("step %d: loss is %v (no finite loss before it)", step, loss)
		}
		return fmt.Errorf("step %d: loss is %v (last finite loss %v at step %d)", step, loss, g.last, g.lastStep)
	}
	g.last, g.lastStep, g.seen = loss, step, true
	return nil
}

// StepResult is what one optimizer step reports.
type StepResult struct {
	Loss     float64 // mean of the micro-batch losses
	GradNorm float64 // global norm of the averaged gradient, before clipping
	LR       float64
}

// Trainer runs optimizer steps with the programs of Programs compiled into
// runners: Step when Programs.MicroBatches is 1, Accumulate and Apply
// otherwise.
type Trainer struct {
	Programs                *Programs
	Step, Accumulate, Apply Runner
	Schedule                Schedule
	Total                   int // steps of the run, for the schedule
	Guard                   LossGuard
}

// TrainStep runs optimizer step step (0-based; it makes update t = step+1,
// so a resumed run passes the step it resumes at) on one batch of inputs
// per micro-batch. A non-finite loss is an error (see LossGuard); with
// micro-batches it is caught before Apply, so the params are not updated
// (the accumulators are then left dirty), while a single Step program has
// already applied its update when the loss is read.
func (t *Trainer) TrainStep(step int, batches []map[string]*graph.Tensor) (StepResult, error) {
	p := t.Programs
	if p == nil || t.Schedule == nil {
		return StepResult{}, fmt.Errorf("train: the trainer needs Programs and a Schedule")
	}
	if len(batches) != p.MicroBatches {
		return StepResult{}, fmt.Errorf("train: step %d: %d batches given, expected %d micro-batches", step, len(batches), p.MicroBatches)
	}
	if step < 0 {
		return StepResult{}, fmt.Errorf("train: step %d is negative", step)
	}
	res := StepResult{LR: t.Schedule.LR(step, t.Total)}
	feeds := p.Feeds(res.LR, step+1)
	scalar := func(out map[string]*graph.Tensor, name string) (float64, error) {
		v, ok := out[name]
		if !ok || v.Len() != 1 {
			return 0, fmt.Errorf("train: step %d: the program returned no scalar %q", step, name)
		}
		return v.At(0), nil
	}

	if p.MicroBatches == 1 {
		if t.Step == nil {
			return res, fmt.Errorf("train: the trainer has no Step runner")
		}
		in := make(map[string]*graph.Tensor, len(batches[0])+len(feeds))
		for k, v := range batches[0] {
			if _, ok := feeds[k]; ok {
				return res, fmt.Errorf("train: step %d: batch input %q has the name of an optimizer feed", step, k)
			}
			in[k] = v
		}
		for k, v := range feeds {
			in[k] = v
		}
		out, err := t.Step.Run(in)
		if err != nil {
			return res, fmt.Errorf("train: step %d: %w", step, err)
		}
		if res.Loss, err = scalar(out, OutputLoss); err != nil {
			return res, err
		}
		if res.GradNorm, err = scalar(out, OutputGradNorm); err != nil {
			return res, err
		}
		return res, t.Guard.CheckLoss(step, res.Loss)
	}

	if t.Accumulate == nil || t.Apply == nil {
		return res, fmt.Errorf("train: the trainer needs Accumulate and Apply runners")
	}
	for i, batch := range batches {
		out, err := t.Accumulate.Run(batch)
		if err != nil {
			return res, fmt.Errorf("train: step %d, micro-batch %d: %w", step, i, err)
		}
		l, err := scalar(out, OutputLoss)
		if err != nil {
			return res, err
		}
		res.Loss += l
	}
	res.Loss /= float64(p.MicroBatches)
	if err := t.Guard.CheckLoss(step, res.Loss); err != nil {
		return res, err
	}
	out, err := t.Apply.Run(feeds)
	if err != nil {
		return res, fmt.Errorf("train: step %d, apply: %w", step, err)
	}
	res.GradNorm, err = scalar(out, OutputGradNorm)
	return res, err
}
