// AdamW: the optimizer's hyperparameters, their validation, the per-step
// scalar feeds, and the graph code of gradient clipping and the update.

package train

import (
	"fmt"
	"math"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Names of the per-step scalar inputs of the programs.
const (
	InputLR = "lr"      // learning rate of the step
	InputC1 = "adam_c1" // 1 − β1^t
	InputC2 = "adam_c2" // 1 − β2^t
)

// Prefixes of the resident optimizer state, followed by the param's name.
const (
	StateM      = "adam_m/"   // first moment
	StateV      = "adam_v/"   // second moment
	StateGradAc = "grad_acc/" // sum of micro-batch gradients (MicroBatches > 1)
)

// AdamW holds the hyperparameters of torch.optim.AdamW (amsgrad off,
// maximize off) preceded by torch.nn.utils.clip_grad_norm_.
//
// For each param p with gradient g, at update t (1-based) with learning
// rate lr, in PyTorch's order:
//
//	p ← p·(1 − lr·WeightDecay)               (skipped for NoDecay params)
//	m ← β1·m + (1 − β1)·g
//	v ← β2·v + (1 − β2)·g²
//	p ← p − (lr/c1) · m / (√v/√c2 + Eps)      c1 = 1 − β1^t, c2 = 1 − β2^t
//
// which is p − lr·m̂/(√v̂ + ε) with m̂ = m/c1 and v̂ = v/c2.
type AdamW struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64 // decoupled weight decay; 0 turns it off
	// ClipNorm, when > 0, clips the global L2 norm of the (averaged)
	// gradient over all params: g ← g·min(1, ClipNorm/(‖g‖ + 1e-6)).
	ClipNorm float64
}

// DefaultAdamW returns the MOHAWK paper's settings: β = (0.9, 0.95),
// ε = 1e-8, weight decay 0.1, gradient clipping at norm 1.
func DefaultAdamW() AdamW {
	return AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, ClipNorm: 1}
}

// clipEps is the term torch.nn.utils.clip_grad_norm_ adds to the norm.
const clipEps = 1e-6

// Validate reports a hyperparameter out of its range, naming the field.
func (o AdamW) Validate() error {
	check := func(name string, v float64, ok bool, want string) error {
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("train: AdamW.%s = %v, expected %s", name, v, want)
		}
		return nil
	}
	for _, err := range []error{
		check("Beta1", o.Beta1, o.Beta1 >= 0 && o.Beta1 < 1, "a value in [0, 1)"),
		check("Beta2", o.Beta2, o.Beta2 >= 0 && o.Beta2 < 1, "a value in [0, 1)"),
		check("Eps", o.Eps, o.Eps >= 0, "a value ≥ 0"),
		check("WeightDecay", o.WeightDecay, o.WeightDecay >= 0, "a value ≥ 0"),
		check("ClipNorm", o.ClipNorm, o.ClipNorm >= 0, "a value ≥ 0 (0 turns clipping off)"),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// Feeds returns the per-step scalar inputs "lr", "adam_c1" and "adam_c2"
// for update number t (1-based: the first update is t = 1) as rank-0
// tensors of dtype dt. It panics when t < 1, where the bias corrections
// are zero. Host tensors hold data only for F32 and F64 (and I32).
func (o AdamW) Feeds(dt graph.DType, lr float64, t int) map[string]*graph.Tensor {
	if t < 1 {
		panic(fmt.Sprintf("train: AdamW.Feeds: update number t = %d, expected t ≥ 1", t))
	}
	c1, c2 := o.BiasCorrections(t)
	scalar := func(v float64) *graph.Tensor {
		s := graph.NewTensor(dt)
		s.Set(0, v)
		return s
	}
	return map[string]*graph.Tensor{InputLR: scalar(lr), InputC1: scalar(c1), InputC2: scalar(c2)}
}

// BiasCorrections returns c1 = 1 − β1^t and c2 = 1 − β2^t.
func (o AdamW) BiasCorrections(t int) (c1, c2 float64) {
	return 1 - math.Pow(o.Beta1, float64(t)), 1 - math.Pow(o.Beta2, float64(t))
}

// Param is a trainable value (an OpParam node of the builder) and whether
// weight decay skips it (norm scales, biases, SSM D and decay parameters).
type Param struct {
	Value   graph.Value
	NoDecay bool
}

// feeds are the scalar inputs of an update program.
type feeds struct{ lr, c1, c2 graph.Value }

func declareFeeds(b *graph.Builder, dt graph.DType) feeds {
	return feeds{b.Input(InputLR, dt), b.Input(InputC1, dt), b.Input(InputC2, dt)}
}

// clipGrads appends the global L2 norm of grads and, when clipping is on,
// the clipped gradients. The norm is the one before clipping, as
// clip_grad_norm_ returns it.
func clipGrads(b *graph.Builder, grads []graph.Value, o AdamW, dt graph.DType) (norm graph.Value, out []graph.Value) {
	sq := graph.NoValue
	for _, g := range grads {
		s := b.Sum(b.Square(g))
		if sq == graph.NoValue {
			sq = s
		} else {
			sq = b.Add(sq, s)
		}
	}
	norm = b.Sqrt(sq)
	if o.ClipNorm <= 0 {
		return norm, grads
	}
	coef := b.Min(b.Scalar(dt, 1), b.Div(b.Scalar(dt, o.ClipNorm), b.AddScalar(norm, clipEps)))
	out = make([]graph.Value, len(grads))
	for i, g := range grads {
		out[i] = b.Mul(g, coef)
	}
	return norm, out
}

// applyAdamW declares the moments of every param and appends the AdamW
// update of params and moments, given the (clipped) gradients.
func applyAdamW(b *graph.Builder, params []graph.Value, names []string, noDecay []bool, grads []graph.Value, f feeds, o AdamW) {
	dt := b.DType(params[0])
	stepSize := b.Div(f.lr, f.c1)
	sqrtC2 := b.Sqrt(f.c2)
	decay := graph.NoValue
	if o.WeightDecay > 0 {
		decay = b.Sub(b.Scalar(dt, 1), b.MulScalar(f.lr, o.WeightDecay))
	}
	for i, p := range params {
		g, shape := grads[i], b.Shape(p)
		m := b.State(StateM+names[i], dt, shape...)
		v := b.State(StateV+names[i], dt, shape...)
		m2 := b.Add(b.MulScalar(m, o.Beta1), b.MulScalar(g, 1-o.Beta1))
		v2 := b.Add(b.MulScalar(v, o.Beta2), b.MulScalar(b.Square(g), 1-o.Beta2))
		p1 := p
		if decay != graph.NoValue && !noDecay[i] {
			p1 = b.Mul(p, decay)
		}
		denom := b.AddScalar(b.Div(b.Sqrt(v2), sqrtC2), o.Eps)
		b.Update(p, b.Sub(p1, b.Mul(stepSize, b.Div(m2, denom))))
		b.Update(m, m2)
		b.Update(v, v2)
	}
}
