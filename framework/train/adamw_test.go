// Tests of the AdamW step program against an independent float64 AdamW
// written from PyTorch's algorithm, with clipping, weight decay and NoDecay.

package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// linReg is a linear regression y ≈ x·W + b with loss mean((x·W + b − y)²).
type linReg struct {
	rows, in, out int
	x, y          []float64 // row-major [rows,in] and [rows,out]
}

func newLinReg(r *rand.Rand, rows, in, out int) linReg {
	l := linReg{rows: rows, in: in, out: out, x: make([]float64, rows*in), y: make([]float64, rows*out)}
	wTrue := make([]float64, in*out)
	for i := range wTrue {
		wTrue[i] = 3 * (2*r.Float64() - 1)
	}
	for i := range l.x {
		l.x[i] = 2*r.Float64() - 1
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < out; j++ {
			s := 1.5 + 0.1*r.NormFloat64()
			for k := 0; k < in; k++ {
				s += l.x[i*in+k] * wTrue[k*out+j]
			}
			l.y[i*out+j] = s
		}
	}
	return l
}

// build returns the model graph over rows rows and its params (w decays,
// bias does not).
func (l linReg) build(rows int) (*graph.Builder, graph.Value, []Param) {
	b := graph.NewBuilder()
	x := b.Input("x", graph.F64, rows, l.in)
	y := b.Input("y", graph.F64, rows, l.out)
	w := b.Param("w", graph.F64, l.in, l.out)
	bias := b.Param("bias", graph.F64, l.out)
	r := b.Sub(b.Add(b.MatMul(x, w), bias), y)
	loss := b.Sum(b.Mean(b.Square(r)))
	return b, loss, []Param{{Value: w}, {Value: bias, NoDecay: true}}
}

// grads is the hand-derived gradient of the loss: with r = x·W + b − y and
// n = rows·out, dW = xᵀ·(2r/n) and db = Σ_rows 2r/n.
func (l linReg) grads(w, bias []float64) (dw, db []float64, loss float64) {
	n := float64(l.rows * l.out)
	dw, db = make([]float64, len(w)), make([]float64, len(bias))
	for i := 0; i < l.rows; i++ {
		for j := 0; j < l.out; j++ {
			r := bias[j] - l.y[i*l.out+j]
			for k := 0; k < l.in; k++ {
				r += l.x[i*l.in+k] * w[k*l.out+j]
			}
			loss += r * r / n
			d := 2 * r / n
			db[j] += d
			for k := 0; k < l.in; k++ {
				dw[k*l.out+j] += l.x[i*l.in+k] * d
			}
		}
	}
	return dw, db, loss
}

// refAdamW is torch.nn.utils.clip_grad_norm_ followed by torch.optim.AdamW
// (single-tensor path), transcribed to plain Go.
type refAdamW struct {
	beta1, beta2, eps, wd, clip float64
	m, v                        [][]float64
	step                        int
}

func (o *refAdamW) update(params, grads [][]float64, noDecay []bool, lr float64) (totalNorm float64) {
	// clip_grad_norm_: the norm of the per-tensor norms.
	var sq float64
	for _, g := range grads {
		var s float64
		for _, x := range g {
			s += x * x
		}
		sq += math.Pow(math.Sqrt(s), 2)
	}
	totalNorm = math.Sqrt(sq)
	if o.clip > 0 {
		coef := math.Min(o.clip/(totalNorm+1e-6), 1)
		for _, g := range grads {
			for i := range g {
				g[i] *= coef
			}
		}
	}
	if o.m == nil {
		for _, p := range params {
			o.m = append(o.m, make([]float64, len(p)))
			o.v = append(o.v, make([]float64, len(p)))
		}
	}
	o.step++
	for pi, p := range params {
		wd := o.wd
		if noDecay[pi] {
			wd = 0
		}
		bc1 := 1 - math.Pow(o.beta1, float64(o.step))
		bc2 := 1 - math.Pow(o.beta2, float64(o.step))
		stepSize := lr / bc1
		bc2Sqrt := math.Sqrt(bc2)
		for i := range p {
			g := grads[pi][i]
			p[i] *= 1 - lr*wd
			o.m[pi][i] += (g - o.m[pi][i]) * (1 - o.beta1) // exp_avg.lerp_(grad, 1-beta1)
			o.v[pi][i] = o.v[pi][i]*o.beta2 + (1-o.beta2)*g*g
			denom := math.Sqrt(o.v[pi][i])/bc2Sqrt + o.eps
			p[i] += -stepSize * o.m[pi][i] / denom
		}
	}
	return totalNorm
}

// maxRelErr is ‖got − want‖∞ / ‖want‖∞.
func maxRelErr(got, want []float64) float64 {
	var d, s float64
	for i := range want {
		d = math.Max(d, math.Abs(got[i]-want[i]))
		s = math.Max(s, math.Abs(want[i]))
	}
	if s == 0 {
		return d
	}
	return d / s
}

// bindAll makes the bindings of a program: params, zero optimizer state and
// the given inputs.
func bindAll(p *Programs, params map[string]*graph.Tensor, inputs map[string]*graph.Tensor) map[string]*graph.Tensor {
	bind := map[string]*graph.Tensor{}
	for k, v := range params {
		bind[k] = v.Clone()
	}
	for k, v := range p.StateInit {
		bind[k] = v.Clone()
	}
	for k, v := range inputs {
		bind[k] = v
	}
	return bind
}

// run evaluates g on bind and writes its updates back into bind.
func run(t *testing.T, g *graph.Graph, bind map[string]*graph.Tensor) map[string]*graph.Tensor {
	t.Helper()
	out, upd, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range upd {
		bind[k] = v
	}
	return out
}

func TestAdamWMatchesReference(t *testing.T) {
	const steps = 20
	sched := WSD{LR0: 0.05, MinLR: 0.005, Warmup: 0.1, Decay: 0.2}
	if err := sched.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		opt       AdamW
		clipState string // "off"; "active" or "inactive": the norm is above or below the clip at every step; "mixed": both occur
	}{
		{"plain", AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, "off"},
		{"weight_decay", AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.5}, "off"},
		{"clip_active", AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.5, ClipNorm: 0.5}, "active"},
		{"clip_inactive", AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.5, ClipNorm: 1e3}, "inactive"},
		{"default", DefaultAdamW(), "mixed"},
		{"large_eps", AdamW{Beta1: 0.8, Beta2: 0.9, Eps: 1e-1, WeightDecay: 0.1, ClipNorm: 0.5}, "active"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLinReg(rand.New(rand.NewPCG(1, 2)), 8, 3, 2)
			b, loss, params := l.build(l.rows)
			p, err := StepGraphs(b, loss, params, c.opt, 1)
			if err != nil {
				t.Fatal(err)
			}
			w0 := []float64{0.1, -0.2, 0.3, 0, 0.5, -0.4}
			b0 := []float64{0.25, -0.5}
			bind := bindAll(p, map[string]*graph.Tensor{
				"w": graph.FromF64(append([]float64(nil), w0...), 3, 2), "bias": graph.FromF64(append([]float64(nil), b0...), 2),
			}, map[string]*graph.Tensor{"x": graph.FromF64(l.x, 8, 3), "y": graph.FromF64(l.y, 8, 2)})

			ref := &refAdamW{beta1: c.opt.Beta1, beta2: c.opt.Beta2, eps: c.opt.Eps, wd: c.opt.WeightDecay, clip: c.opt.ClipNorm}
			rw, rb := append([]float64(nil), w0...), append([]float64(nil), b0...)
			// A second reference that wrongly decays the bias too, to show NoDecay matters.
			allDecay := &refAdamW{beta1: c.opt.Beta1, beta2: c.opt.Beta2, eps: c.opt.Eps, wd: c.opt.WeightDecay, clip: c.opt.ClipNorm}
			aw, ab := append([]float64(nil), w0...), append([]float64(nil), b0...)

			var above, below int
			var worst float64
			for step := 0; step < steps; step++ {
				lr := sched.LR(step, steps)
				for k, v := range p.Feeds(lr, step+1) {
					bind[k] = v
				}
				out := run(t, p.Step, bind)

				dw, db, refLoss := l.grads(rw, rb)
				refNorm := ref.update([][]float64{rw, rb}, [][]float64{dw, db}, []bool{false, true}, lr)
				dw2, db2, _ := l.grads(aw, ab)
				allDecay.update([][]float64{aw, ab}, [][]float64{dw2, db2}, []bool{false, false}, lr)

				gotLoss, gotNorm := out["loss"].F64[0], out["grad_norm"].F64[0]
				if e := maxRelErr([]float64{gotLoss, gotNorm}, []float64{refLoss, refNorm}); e > 1e-12 {
					t.Fatalf("step %d: loss %v grad_norm %v, reference %v %v (rel err %.3g)", step, gotLoss, gotNorm, refLoss, refNorm, e)
				}
				if c.opt.ClipNorm > 0 && refNorm > c.opt.ClipNorm {
					above++
				} else if c.opt.ClipNorm > 0 {
					below++
				}
				switch c.clipState {
				case "active":
					if !(refNorm > c.opt.ClipNorm) {
						t.Fatalf("step %d: norm %v does not exceed the clip %v; the case does not test clipping", step, refNorm, c.opt.ClipNorm)
					}
				case "inactive":
					if !(refNorm < c.opt.ClipNorm) {
						t.Fatalf("step %d: norm %v exceeds the clip %v", step, refNorm, c.opt.ClipNorm)
					}
				}
				worst = max(worst, maxRelErr(bind["w"].F64, rw), maxRelErr(bind["bias"].F64, rb))
				if e := maxRelErr(bind["w"].F64, rw); e > 1e-12 {
					t.Fatalf("step %d: w = %v, reference %v (rel err %.3g)", step, bind["w"].F64, rw, e)
				}
				if e := maxRelErr(bind["bias"].F64, rb); e > 1e-12 {
					t.Fatalf("step %d: bias = %v, reference %v (rel err %.3g)", step, bind["bias"].F64, rb, e)
				}
				if e := maxRelErr(bind["adam_v/w"].F64, ref.v[0]); e > 1e-12 {
					t.Fatalf("step %d: adam_v/w rel err %.3g", step, e)
				}
			}
			if c.clipState == "mixed" && (above == 0 || below == 0) {
				t.Errorf("norm above the clip at %d steps and below at %d; want both", above, below)
			}
			t.Logf("worst param rel err %.3g; norm above the clip at %d of %d steps", worst, above, steps)
			if c.opt.WeightDecay > 0 {
				if e := maxRelErr(bind["bias"].F64, ab); e < 1e-6 {
					t.Errorf("bias matches a run that decays it too (rel err %.3g): NoDecay has no effect", e)
				}
			}
		})
	}
}

func TestStateInitAndFeeds(t *testing.T) {
	l := newLinReg(rand.New(rand.NewPCG(3, 4)), 4, 3, 2)
	for _, mb := range []int{1, 3} {
		b, loss, params := l.build(4)
		p, err := StepGraphs(b, loss, params, DefaultAdamW(), mb)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"adam_m/w", "adam_v/w", "adam_m/bias", "adam_v/bias"}
		if mb > 1 {
			want = append(want, "grad_acc/w", "grad_acc/bias")
		}
		if len(p.StateInit) != len(want) {
			t.Errorf("micro-batches %d: StateInit has %d tensors, want %d", mb, len(p.StateInit), len(want))
		}
		for _, name := range want {
			s, ok := p.StateInit[name]
			if !ok {
				t.Fatalf("micro-batches %d: StateInit lacks %q", mb, name)
			}
			param := "w"
			if strings.HasSuffix(name, "bias") {
				param = "bias"
			}
			pv, _ := b.Lookup(param)
			if !s.Type.Equal(b.Type(pv)) {
				t.Errorf("%s has type %v, want %v", name, s.Type, b.Type(pv))
			}
			for _, x := range s.F64 {
				if x != 0 {
					t.Fatalf("%s is not zero", name)
				}
			}
		}
		for _, g := range []*graph.Graph{p.Step, p.Accumulate, p.Apply} {
			if g == nil {
				continue
			}
			for _, v := range g.Leaves(graph.OpState) {
				if _, ok := p.StateInit[g.Nodes[v].Name]; !ok {
					t.Errorf("state %q of a program is not in StateInit", g.Nodes[v].Name)
				}
			}
		}
		if (mb == 1) != (p.Step != nil) || (mb > 1) != (p.Accumulate != nil && p.Apply != nil) {
			t.Errorf("micro-batches %d: wrong set of programs", mb)
		}
	}
	// The builder passed in is left as it was.
	b, loss, params := l.build(4)
	n := b.NumValues()
	if _, err := StepGraphs(b, loss, params, DefaultAdamW(), 1); err != nil {
		t.Fatal(err)
	}
	if b.NumValues() != n {
		t.Errorf("StepGraphs added %d nodes to the caller's builder", b.NumValues()-n)
	}

	f := DefaultAdamW().Feeds(graph.F32, 3e-4, 2)
	for name, want := range map[string]float64{"lr": 3e-4, "adam_c1": 1 - 0.81, "adam_c2": 1 - 0.95*0.95} {
		v := f[name]
		if v == nil || v.DType != graph.F32 || len(v.Shape) != 0 || v.F32[0] != float32(want) {
			t.Errorf("feed %q = %+v, want f32 scalar %v", name, v, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Feeds with t = 0 did not panic")
		}
	}()
	DefaultAdamW().Feeds(graph.F64, 1e-3, 0)
}

func TestStepGraphsErrors(t *testing.T) {
	l := newLinReg(rand.New(rand.NewPCG(3, 4)), 4, 3, 2)
	cases := []struct {
		name string
		edit func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int)
		want string
	}{
		{"micro-batches", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) { *mb = 0 }, "microBatches"},
		{"beta1", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) { opt.Beta1 = 1 }, "Beta1"},
		{"beta2", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) { opt.Beta2 = -0.1 }, "Beta2"},
		{"eps", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) { opt.Eps = math.NaN() }, "Eps"},
		{"wd", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) { opt.WeightDecay = -1 }, "WeightDecay"},
		{"clip", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) { opt.ClipNorm = -1 }, "ClipNorm"},
		{"no params", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) { *params = nil }, "no params"},
		{"not a param", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) {
			x, _ := b.Lookup("x")
			*params = append(*params, Param{Value: x})
		}, "expected a param"},
		{"twice", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) {
			*params = append(*params, (*params)[0])
		}, "listed twice"},
		{"mixed dtypes", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) {
			s := b.Param("s", graph.F32, 1)
			*loss = b.Add(*loss, b.Sum(b.Cast(s, graph.F64)))
			*params = append(*params, Param{Value: s})
		}, "share one dtype"},
		{"vector loss", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) {
			x, _ := b.Lookup("x")
			*loss = x
		}, "floating-point scalar"},
		{"reserved name", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) {
			*loss = b.Add(*loss, b.Input("lr", graph.F64))
		}, `"lr"`},
		{"loss output", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) {
			x, _ := b.Lookup("x")
			b.Output("loss", x)
		}, `"loss"`},
		{"builder error", func(b *graph.Builder, loss *graph.Value, params *[]Param, opt *AdamW, mb *int) {
			x, _ := b.Lookup("x")
			b.MatMul(x, x)
		}, "model graph"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, loss, params := l.build(4)
			opt, mb := DefaultAdamW(), 1
			c.edit(b, &loss, &params, &opt, &mb)
			_, err := StepGraphs(b, loss, params, opt, mb)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	// A frozen param (not listed) gets no update and no state.
	b, loss, params := l.build(4)
	p, err := StepGraphs(b, loss, params[:1], DefaultAdamW(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range p.Step.Updates {
		if name := p.Step.Nodes[u.Target].Name; name == "bias" {
			t.Error("the frozen param bias is updated")
		}
	}
	if _, ok := p.StateInit["adam_m/bias"]; ok {
		t.Error("the frozen param bias has optimizer state")
	}
}
