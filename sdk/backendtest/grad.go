package backendtest

import (
	"math"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Gradient checks: composite graphs (an MLP block with layer norm and GELU,
// causal softmax attention, an exponential scan) with their loss and the
// gradients graph.Grad writes. The backend runs them in f64 and must agree
//
//   - with graph.Evaluate: |got − want| ≤ 1e-10·(|want| + ‖want‖∞) for each
//     element of each output (relative to the tensor's scale, since single
//     gradient elements may cancel to near zero);
//   - with central finite differences of its own loss, on a few elements of
//     every param: |analytic − numeric| ≤ 1e-6·(1 + |numeric|), step 1e-5.
//
// A backend without f64 runs them in f32 against the reference only, with
// 1e-4 in place of 1e-10.

const (
	gradTolF64 = 1e-10
	gradTolF32 = 1e-4
	fdStep     = 1e-5
	fdTol      = 1e-6
	fdElements = 3 // elements per param
)

type gradCase struct {
	name string
	// build declares inputs and params, returns the scalar loss and the
	// params to differentiate.
	build func(b *graph.Builder, dt graph.DType) (loss graph.Value, params []graph.Value)
	gen   genFunc
}

func gradCases() []gradCase {
	return []gradCase{
		{name: "mlp-layernorm-gelu", gen: idsBelow(6), build: buildMLP},
		{name: "causal-attention", build: buildAttention},
		{name: "cumsum-exp-scan", build: buildScan},
	}
}

// linear is x[..., in]·wᵀ + bias with w [out, in].
func linear(b *graph.Builder, x, w, bias graph.Value) graph.Value {
	xs := b.Shape(x)
	in, out := xs[len(xs)-1], b.Dim(w, 0)
	y := b.Add(b.MatMulT(b.Reshape(x, -1, in), w, false, true), bias)
	return b.Reshape(y, append(xs[:len(xs)-1].Clone(), out)...)
}

// geluTanh is 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func geluTanh(b *graph.Builder, x graph.Value) graph.Value {
	inner := b.MulScalar(b.Add(x, b.MulScalar(b.Mul(x, b.Square(x)), 0.044715)), math.Sqrt(2/math.Pi))
	return b.Mul(b.MulScalar(x, 0.5), b.AddScalar(b.Tanh(inner), 1))
}

// buildMLP: token embeddings (gather), a pre-norm residual MLP block and
// tied output logits, with the mean cross-entropy as loss.
// B=2 T=3 C=5 H=7 V=6.
func buildMLP(b *graph.Builder, dt graph.DType) (graph.Value, []graph.Value) {
	const B, T, C, H, V = 2, 3, 5, 7, 6
	ids := b.Input("ids", graph.I32, B, T)
	labels := b.Input("labels", graph.I32, B, T)
	emb := b.Param("emb", dt, V, C)
	gamma, beta := b.Param("ln.gamma", dt, C), b.Param("ln.beta", dt, C)
	w1, b1 := b.Param("fc1.w", dt, H, C), b.Param("fc1.b", dt, H)
	w2, b2 := b.Param("fc2.w", dt, C, H), b.Param("fc2.b", dt, C)
	x := b.Gather(emb, ids)                                                // [B,T,C]
	h := geluTanh(b, linear(b, b.LayerNorm(x, gamma, beta, 1e-5), w1, b1)) // [B,T,H]
	y := b.Add(x, linear(b, h, w2, b2))                                    // [B,T,C]
	logits := b.MatMulT(b.Reshape(y, B*T, C), emb, false, true)            // [B·T,V]
	loss := b.Sum(b.Mean(b.CrossEntropy(logits, b.Reshape(labels, B*T))))
	return loss, []graph.Value{emb, gamma, beta, w1, b1, w2, b2}
}

// buildAttention: one head of causal softmax attention, the mask built from
// Iota, Less and Where. B=2 T=5 C=4 D=3.
func buildAttention(b *graph.Builder, dt graph.DType) (graph.Value, []graph.Value) {
	const B, T, C, D = 2, 5, 4, 3
	x := b.Input("x", dt, B, T, C)
	wq, wk, wv := b.Param("wq", dt, C, D), b.Param("wk", dt, C, D), b.Param("wv", dt, C, D)
	wo := b.Param("wo", dt, C, D)
	q, k, v := b.MatMul(x, wq), b.MatMul(x, wk), b.MatMul(x, wv) // [B,T,D], batch on the left only
	scores := b.MulScalar(b.MatMulT(q, k, false, true), 1/math.Sqrt(D))
	future := b.Less(b.Iota(graph.I32, 0, T, T), b.Iota(graph.I32, 1, T, T))
	scores = b.Where(future, b.Scalar(dt, math.Inf(-1)), scores)
	o := b.MatMul(b.Softmax(scores), v)  // [B,T,D]
	out := b.MatMulT(o, wo, false, true) // [B,T,C]
	target := b.Input("target", dt, B, T, C)
	return b.Sum(b.Mean(b.Square(b.Sub(out, target)))), []graph.Value{wq, wk, wv, wo}
}

// buildScan: a decaying scan y_t = Σ_{s≤t} exp(L_t − L_s)·x_s with
// L = cumsum(−softplus(a)) (the segment-sum form of a selective scan), plus
// an exclusive reverse cumsum of exp(x). B=2 T=6 P=3.
func buildScan(b *graph.Builder, dt graph.DType) (graph.Value, []graph.Value) {
	const B, T, P = 2, 6, 3
	a := b.Param("a", dt, B, T)
	x := b.Param("x", dt, B, T, P)
	L := b.Cumsum(b.Neg(b.Softplus(a)), 1)                                   // [B,T]
	seg := b.Sub(b.Reshape(L, B, T, 1), b.Reshape(L, B, 1, T))               // L_t − L_s
	future := b.Less(b.Iota(graph.I32, 0, T, T), b.Iota(graph.I32, 1, T, T)) // s > t
	decay := b.Exp(b.Where(future, b.Scalar(dt, math.Inf(-1)), seg))         // [B,T,T]
	y := b.MatMul(decay, x)                                                  // [B,T,P]
	z := b.CumsumOpts(b.Exp(x), 1, true, true)
	w := b.Input("w", dt, B, T, P)
	loss := b.Add(b.Sum(b.Mul(y, w)), b.MulScalar(b.Sum(b.Mul(z, b.Tanh(w))), 0.1))
	return loss, []graph.Value{a, x}
}

func (s *suite) testGradients(t *testing.T) {
	dt := graph.F64
	if !s.tests(graph.F64) {
		dt = s.mainFloat()
		t.Logf("f64 is not tested: gradients run in %v against the reference only", dt)
	}
	e := s.env(t)
	for ci, c := range gradCases() {
		t.Run(c.name, func(t *testing.T) { e.checkGradCase(t, &c, dt, newRandSeed(s.opts.Seed, ci)) })
	}
}

func newRandSeed(seed uint64, i int) uint64 { return seedFor(seed, "grad", i) }

func (e *env) checkGradCase(t *testing.T, c *gradCase, dt graph.DType, seed uint64) {
	b := graph.NewBuilder()
	loss, params := c.build(b, dt)
	grads, err := graph.Grad(b, loss, params)
	if err != nil {
		t.Fatalf("backendtest: grad: %v", err)
	}
	b.Output("loss", loss)
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = b.Node(p).Name
		b.Output("grad."+names[i], grads[i])
	}
	g := mustBuild(t, b)
	if why, skip := e.s.skipped(g); skip {
		t.Skipf("uses %s, declared unsupported", why)
	}
	r := newRand(seed, dt)
	bind := bindAll(g, r, c.gen)
	want, _ := evaluate(t, g, bind)
	id := e.mustCompile(t, e.s.prepare(t, g))
	defer e.release(t, id)
	e.setResidents(t, g, bind)
	defer e.deleteResidents(t, g)
	in := inputsOf(g, bind)
	got := e.mustRun(t, id, in)
	tol := gradTolF64
	if dt != graph.F64 {
		tol = gradTolF32
	}
	for _, o := range g.Outputs {
		w := want[o.Name]
		scale := 0.0
		for i := 0; i < w.Len(); i++ {
			scale = math.Max(scale, math.Abs(w.At(i)))
		}
		mag := graph.NewTensor(graph.F64, w.Shape...)
		for i := range mag.F64 {
			mag.F64[i] = math.Max(scale, 1e-300)
		}
		// base(dt)·s·(|want| + m) with s = tol/base and m = ‖want‖∞ is
		// tol·(|want| + ‖want‖∞).
		tl := tolerance{scale: tol / baseTol(dt), mag: mag}
		if err := compareTensor(got[o.Name], w, tl); err != nil {
			t.Errorf("%s vs graph.Evaluate: %v", o.Name, err)
		}
	}
	if dt != graph.F64 || t.Failed() {
		return
	}
	// Central differences of the backend's own loss.
	lossAt := func() float64 {
		out := e.mustRun(t, id, in)
		return out["loss"].At(0)
	}
	worst, checked := 0.0, 0
	defer func() { t.Logf("finite differences: %d elements, largest |diff| %.3g", checked, worst) }()
	for i, name := range names {
		p := bind[name].Clone()
		ana := got["grad."+name]
		for k := 0; k < fdElements && k < p.Len(); k++ {
			j := r.IntN(p.Len())
			orig := p.F64[j]
			p.F64[j] = orig + fdStep
			e.mustSet(t, name, p)
			up := lossAt()
			p.F64[j] = orig - fdStep
			e.mustSet(t, name, p)
			down := lossAt()
			p.F64[j] = orig
			e.mustSet(t, name, p)
			num := (up - down) / (2 * fdStep)
			checked++
			worst = math.Max(worst, math.Abs(ana.At(j)-num))
			if d := math.Abs(ana.At(j) - num); !(d <= fdTol*(1+math.Abs(num))) {
				t.Errorf("param %d %q element %v: gradient %.10g, finite difference of the backend's loss %.10g (|diff| %.3g > %.3g)",
					i, name, index(p.Shape, j), ana.At(j), num, d, fdTol*(1+math.Abs(num)))
			}
		}
	}
}
