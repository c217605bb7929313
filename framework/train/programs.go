// StepGraphs: from a forward pass and its loss, the programs of one
// optimizer step (Step, or Accumulate and Apply) and their initial state.

package train

import (
	"fmt"
	"strings"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Output names of the programs.
const (
	OutputLoss     = "loss"
	OutputGradNorm = "grad_norm"
)

// Programs are the programs of one optimizer step.
//
// With MicroBatches == 1, Step runs forward, backward, clipping and AdamW
// and outputs "loss" and "grad_norm"; Accumulate and Apply are nil.
//
// With MicroBatches > 1, Step is nil; Accumulate runs forward and backward
// on one micro-batch, adds the gradients into "grad_acc/<param>" and outputs
// "loss"; Apply (run once after MicroBatches Accumulate runs) divides the
// accumulated gradients by MicroBatches, clips them, applies AdamW, zeroes
// the accumulators and outputs "grad_norm". Each micro-batch's loss is the
// mean over its own tokens, so the averaged gradient is the full batch's
// when the micro-batches hold equal token counts. Step and Apply take the
// scalar inputs "lr", "adam_c1" and "adam_c2" (see Feeds).
type Programs struct {
	Step, Accumulate, Apply *graph.Graph

	// StateInit holds a zero tensor for every optimizer state the programs
	// declare (moments and accumulators), by name. States of the forward
	// pass itself, if any, are the model's to initialise.
	StateInit map[string]*graph.Tensor

	MicroBatches int
	DType        graph.DType // of the params, hence of the scalar feeds
	Opt          AdamW
	Params       []string // names of the trained params, in order
}

// Feeds returns the scalar inputs of update t (1-based) at learning rate lr,
// in the params' dtype, with the β's the programs were built with.
func (p *Programs) Feeds(lr float64, t int) map[string]*graph.Tensor {
	return p.Opt.Feeds(p.DType, lr, t)
}

// StepGraphs builds the programs of one optimizer step from b, which holds
// a forward pass and the scalar loss loss, training params with opt.
// b itself is left unchanged; its outputs and updates are kept in Step and
// Accumulate (an output named "loss" must be loss itself). Params of b not
// listed in params are frozen: they get no gradient and no update.
//
// All params must share one floating-point dtype, which is also the dtype
// of the "lr", "adam_c1" and "adam_c2" inputs.
func StepGraphs(b *graph.Builder, loss graph.Value, params []Param, opt AdamW, microBatches int) (*Programs, error) {
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("train: the model graph has an error: %w", err)
	}
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if microBatches < 1 {
		return nil, fmt.Errorf("train: microBatches = %d, expected at least 1", microBatches)
	}
	if len(params) == 0 {
		return nil, fmt.Errorf("train: no params to train")
	}
	fwd, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("train: the model graph: %w", err)
	}
	if loss < 0 || int(loss) >= len(fwd.Nodes) {
		return nil, fmt.Errorf("train: the loss is not a value of the builder")
	}
	if lt := fwd.Type(loss); !lt.DType.IsFloat() || lt.Shape.Size() != 1 {
		return nil, fmt.Errorf("train: the loss must be a floating-point scalar, found %v", lt)
	}
	for _, o := range fwd.Outputs {
		if (o.Name == OutputLoss && o.Value != loss) || o.Name == OutputGradNorm {
			return nil, fmt.Errorf("train: the model graph already has an output named %q", o.Name)
		}
	}

	values := make([]graph.Value, len(params))
	names := make([]string, len(params))
	noDecay := make([]bool, len(params))
	seen := map[graph.Value]bool{}
	var dt graph.DType
	for i, p := range params {
		if p.Value < 0 || int(p.Value) >= len(fwd.Nodes) {
			return nil, fmt.Errorf("train: params[%d] is not a value of the builder", i)
		}
		n := &fwd.Nodes[p.Value]
		if n.Op != graph.OpParam {
			return nil, fmt.Errorf("train: params[%d] is a %s node, expected a param", i, n.Op)
		}
		if seen[p.Value] {
			return nil, fmt.Errorf("train: param %q is listed twice", n.Name)
		}
		seen[p.Value] = true
		if !n.Type.DType.IsFloat() {
			return nil, fmt.Errorf("train: param %q has dtype %v, expected a floating-point dtype", n.Name, n.Type.DType)
		}
		if i == 0 {
			dt = n.Type.DType
		} else if n.Type.DType != dt {
			return nil, fmt.Errorf("train: param %q has dtype %v but %q has %v; all trained params must share one dtype", n.Name, n.Type.DType, names[0], dt)
		}
		values[i], names[i], noDecay[i] = p.Value, n.Name, p.NoDecay
	}
	for i := range fwd.Nodes {
		n := &fwd.Nodes[i]
		if n.Op != graph.OpInput && n.Op != graph.OpParam && n.Op != graph.OpState {
			continue
		}
		if n.Name == InputLR || n.Name == InputC1 || n.Name == InputC2 ||
			strings.HasPrefix(n.Name, StateM) || strings.HasPrefix(n.Name, StateV) || strings.HasPrefix(n.Name, StateGradAc) {
			return nil, fmt.Errorf("train: the model graph declares %q, a name the optimizer reserves", n.Name)
		}
	}

	ps := &Programs{MicroBatches: microBatches, DType: dt, Opt: opt, Params: names, StateInit: map[string]*graph.Tensor{}}
	outputLoss := func(sb *graph.Builder) {
		for _, o := range fwd.Outputs {
			if o.Name == OutputLoss {
				return
			}
		}
		sb.Output(OutputLoss, loss)
	}

	// The forward and backward pass, shared by Step and Accumulate.
	backward := func() (*graph.Builder, []graph.Value, error) {
		sb := graph.Extend(fwd)
		grads, err := graph.Grad(sb, loss, values)
		if err != nil {
			return nil, nil, fmt.Errorf("train: gradient of the loss: %w", err)
		}
		outputLoss(sb)
		return sb, grads, nil
	}

	if microBatches == 1 {
		sb, grads, err := backward()
		if err != nil {
			return nil, err
		}
		norm, clipped := clipGrads(sb, grads, opt, dt)
		applyAdamW(sb, values, names, noDecay, clipped, declareFeeds(sb, dt), opt)
		sb.Output(OutputGradNorm, norm)
		if ps.Step, err = sb.Build(); err != nil {
			return nil, fmt.Errorf("train: step program: %w", err)
		}
	} else {
		ab, grads, err := backward()
		if err != nil {
			return nil, err
		}
		for i, v := range values {
			acc := ab.State(StateGradAc+names[i], dt, fwd.Type(v).Shape...)
			ab.Update(acc, ab.Add(acc, grads[i]))
		}
		if ps.Accumulate, err = ab.Build(); err != nil {
			return nil, fmt.Errorf("train: accumulate program: %w", err)
		}

		pb := graph.NewBuilder()
		pv := make([]graph.Value, len(values))
		accs := make([]graph.Value, len(values))
		avg := make([]graph.Value, len(values))
		for i, v := range values {
			shape := fwd.Type(v).Shape
			pv[i] = pb.Param(names[i], dt, shape...)
			accs[i] = pb.State(StateGradAc+names[i], dt, shape...)
			avg[i] = pb.Div(accs[i], pb.Scalar(dt, float64(microBatches)))
		}
		f := declareFeeds(pb, dt)
		norm, clipped := clipGrads(pb, avg, opt, dt)
		applyAdamW(pb, pv, names, noDecay, clipped, f, opt)
		for _, acc := range accs {
			pb.Update(acc, pb.Zeros(dt, pb.Shape(acc)...))
		}
		pb.Output(OutputGradNorm, norm)
		if ps.Apply, err = pb.Build(); err != nil {
			return nil, fmt.Errorf("train: apply program: %w", err)
		}
	}

	for _, g := range []*graph.Graph{ps.Step, ps.Accumulate, ps.Apply} {
		if g == nil {
			continue
		}
		for _, v := range g.Leaves(graph.OpState) {
			n := &g.Nodes[v]
			if _, ok := fwd.Lookup(n.Name); ok {
				continue
			}
			ps.StateInit[n.Name] = graph.NewTensor(n.Type.DType, n.Type.Shape...)
		}
	}
	return ps, nil
}
