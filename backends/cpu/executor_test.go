// Executor tests beyond single ops: updates, aliasing of outputs and
// resident buffers, error paths, buffer reuse, zero allocations per run,
// determinism across thread counts, and the backend's tensor store.

package cpu

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

func mustBuild(t testing.TB, b *graph.Builder) *graph.Graph {
	t.Helper()
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// sgdGraph: loss = sum((x·w)²)/n, g = its gradient by hand, w <- w - 0.1·g.
func sgdGraph(t testing.TB, dt graph.DType) *graph.Graph {
	b := graph.NewBuilder()
	x := b.Input("x", dt, 4, 3)
	w := b.Param("w", dt, 3, 2)
	y := b.MatMul(x, w)
	b.Output("loss", b.Reshape(b.ReduceSum(b.Mul(y, y))))
	g := b.MulScalar(b.MatMulT(x, y, true, false), 2)
	b.Update(w, b.Sub(w, b.MulScalar(g, 0.1)))
	return mustBuild(t, b)
}

func TestUpdates(t *testing.T) {
	for _, dt := range floats {
		g := sgdGraph(t, dt)
		r := rand.New(rand.NewPCG(1, 2))
		bind := bindAll(g, r, nil)
		be := New(Options{Threads: 2})
		in := load(t, be, g, bind)
		p, err := be.Compile(g)
		if err != nil {
			t.Fatal(err)
		}
		ref := map[string]*graph.Tensor{"x": bind["x"], "w": bind["w"].Clone()}
		for step := 0; step < 2; step++ {
			out, err := p.Run(in)
			if err != nil {
				t.Fatal(err)
			}
			wantOut, wantUpd, err := graph.Evaluate(g, ref)
			if err != nil {
				t.Fatal(err)
			}
			if err := compareTensors(out["loss"], wantOut["loss"], tolFor(dt, 10)); err != nil {
				t.Errorf("%v step %d loss: %v", dt, step, err)
			}
			got, _ := be.Tensor("w")
			if err := compareTensors(got, wantUpd["w"], tolFor(dt, 10)); err != nil {
				t.Errorf("%v step %d w: %v", dt, step, err)
			}
			ref["w"] = wantUpd["w"]
		}
	}
}

// TestUpdateAliasing: swapped updates read pre-update values, an output of
// a param is a copy taken before the update, identity updates are no-ops,
// and a view of a param used as an update value is staged.
func TestUpdateAliasing(t *testing.T) {
	b := graph.NewBuilder()
	a := b.Param("a", graph.F32, 2, 3)
	c := b.Param("c", graph.F32, 2, 3)
	s := b.State("s", graph.F32, 6)
	keep := b.State("keep", graph.F32, 2)
	b.Update(a, c)
	b.Update(c, a)
	b.Update(s, b.Reshape(a, 6))
	b.Update(keep, keep)
	b.Output("a", a)
	b.Output("c_flat", b.Reshape(c, 6))
	g := mustBuild(t, b)
	be := New(Options{})
	av := []float32{1, 2, 3, 4, 5, 6}
	cv := []float32{7, 8, 9, 10, 11, 12}
	be.SetTensor("a", graph.FromF32(append([]float32(nil), av...), 2, 3))
	be.SetTensor("c", graph.FromF32(append([]float32(nil), cv...), 2, 3))
	be.SetTensor("s", graph.NewTensor(graph.F32, 6))
	be.SetTensor("keep", graph.FromF32([]float32{-1, -2}, 2))
	p, err := be.Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(nil)
	if err != nil {
		t.Fatal(err)
	}
	eq := func(name string, got []float32, want []float32) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", name, got, want)
			}
		}
	}
	eq("out a", out["a"].F32, av)
	eq("out c", out["c_flat"].F32, cv)
	ta, _ := be.Tensor("a")
	tc, _ := be.Tensor("c")
	ts, _ := be.Tensor("s")
	tk, _ := be.Tensor("keep")
	eq("a", ta.F32, cv)
	eq("c", tc.F32, av)
	eq("s", ts.F32, av)
	eq("keep", tk.F32, []float32{-1, -2})
	// The output is a copy: writing to it leaves the resident alone.
	out["a"].F32[0] = 99
	ta, _ = be.Tensor("a")
	eq("a after write", ta.F32, cv)
}

func TestErrors(t *testing.T) {
	b := graph.NewBuilder()
	x := b.Input("x", graph.F32, 2, 3)
	ids := b.Input("ids", graph.I32, 2)
	lab := b.Input("labels", graph.I32, 2)
	emb := b.Param("emb", graph.F32, 4, 3)
	h := b.Add(x, b.Gather(emb, ids))
	b.Output("loss", b.CrossEntropy(h, lab))
	g := mustBuild(t, b)
	be := New(Options{Threads: 2})
	p, err := be.Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]*graph.Tensor{
		"x":      graph.NewTensor(graph.F32, 2, 3),
		"ids":    graph.FromI32([]int32{0, 3}, 2),
		"labels": graph.FromI32([]int32{2, 0}, 2),
	}
	with := func(name string, t *graph.Tensor) map[string]*graph.Tensor {
		m := map[string]*graph.Tensor{}
		for k, v := range good {
			m[k] = v
		}
		if t == nil {
			delete(m, name)
		} else {
			m[name] = t
		}
		return m
	}
	_, err = p.Run(good)
	wantErr(t, err, `"emb"`, "not set")
	be.SetTensor("emb", graph.NewTensor(graph.F32, 4, 3))
	if _, err := p.Run(good); err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(with("x", nil))
	wantErr(t, err, `"x"`, "not bound")
	_, err = p.Run(with("x", graph.NewTensor(graph.F64, 2, 3)))
	wantErr(t, err, `"x"`, "f32[2,3]", "f64[2,3]")
	_, err = p.Run(with("x", graph.NewTensor(graph.F32, 3, 2)))
	wantErr(t, err, `"x"`, "f32[2,3]", "f32[3,2]")
	_, err = p.Run(with("x", &graph.Tensor{Type: graph.Type{DType: graph.F32, Shape: graph.Shape{2, 3}}, F32: make([]float32, 5)}))
	wantErr(t, err, `"x"`, "5 elements")
	_, err = p.Run(with("labels", graph.FromI32([]int32{2, 3}, 2)))
	wantErr(t, err, "cross_entropy", "label 3", "position 1")
	_, err = p.Run(with("labels", graph.FromI32([]int32{-1, 0}, 2)))
	wantErr(t, err, "cross_entropy", "label -1")
	_, err = p.Run(with("ids", graph.FromI32([]int32{0, 4}, 2)))
	wantErr(t, err, "gather", "id 4")
	_, err = p.Run(with("ids", graph.FromI32([]int32{-7, 0}, 2)))
	wantErr(t, err, "gather", "id -7")
	// A resident of the wrong type.
	be2 := New(Options{})
	be2.SetTensor("emb", graph.NewTensor(graph.F32, 5, 3))
	p2, _ := be2.Compile(g)
	_, err = p2.Run(good)
	wantErr(t, err, `"emb"`, "f32[4,3]", "f32[5,3]")
	// SetTensor keeps the type of an existing tensor.
	wantErr(t, be.SetTensor("emb", graph.NewTensor(graph.F64, 4, 3)), "emb")
	if _, err := be.Tensor("nope"); err == nil {
		t.Fatal("no error for a missing tensor")
	}
	// The program still works after errors.
	if _, err := p.Run(good); err != nil {
		t.Fatal(err)
	}
}

func TestScatterError(t *testing.T) {
	b := graph.NewBuilder()
	ids := b.Input("ids", graph.I32, 3)
	u := b.Input("u", graph.F64, 3, 2)
	b.Output("y", b.ScatterAdd(ids, u, 4))
	g := mustBuild(t, b)
	p, err := New(Options{}).Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(map[string]*graph.Tensor{"ids": graph.FromI32([]int32{0, 4, 1}, 3), "u": graph.NewTensor(graph.F64, 3, 2)})
	wantErr(t, err, "scatter_add", "id 4", "position 1")
}

func TestRefusesF16(t *testing.T) {
	for _, dt := range []graph.DType{graph.F16, graph.BF16} {
		b := graph.NewBuilder()
		x := b.Input("x", graph.F32, 3)
		b.Output("y", b.Cast(b.Cast(x, dt), graph.F32))
		g := mustBuild(t, b)
		_, err := New(Options{}).Compile(g)
		wantErr(t, err, "dtype "+dt.String()+" is not supported by the cpu backend: node 1 (cast)")
	}
	_, err := New(Options{}).Compile(&graph.Graph{Nodes: []graph.Node{{Op: graph.OpNeg}}})
	wantErr(t, err, "invalid graph")
}

// chainGraph is a long chain of elementwise ops on a [64,64] value.
func chainGraph(t testing.TB, n int) *graph.Graph {
	b := graph.NewBuilder()
	x := b.Input("x", graph.F32, 64, 64)
	for i := 0; i < n; i++ {
		x = b.Tanh(b.AddScalar(x, 0.01))
	}
	b.Output("y", x)
	return mustBuild(t, b)
}

func TestArenaReuse(t *testing.T) {
	const n = 100
	g := chainGraph(t, n)
	p, err := New(Options{}).Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	one := int64(64 * 64 * 4)
	total := int64(2*n+1) * one
	if got := p.ArenaBytes(); got > 4*one {
		t.Fatalf("arena %d bytes for a chain whose values total %d; want at most %d", got, total, 4*one)
	}
	t.Logf("arena %d bytes, values total %d", p.ArenaBytes(), total)
}

// trainGraph is a small attention-and-MLP training step: embedding, layer
// norm, single-head causal attention, a tanh MLP, cross-entropy, and SGD
// updates of every param from hand-written gradients of the last layer.
func trainGraph(t testing.TB, B, T, C, V int) *graph.Graph {
	b := graph.NewBuilder()
	ids := b.Input("ids", graph.I32, B, T)
	labels := b.Input("labels", graph.I32, B, T)
	emb := b.Param("emb", graph.F32, V, C)
	gam := b.Param("gamma", graph.F32, C)
	bet := b.Param("beta", graph.F32, C)
	wq := b.Param("wq", graph.F32, C, C)
	wk := b.Param("wk", graph.F32, C, C)
	wv := b.Param("wv", graph.F32, C, C)
	w1 := b.Param("w1", graph.F32, C, 4*C)
	w2 := b.Param("w2", graph.F32, 4*C, C)
	wout := b.Param("wout", graph.F32, C, V)
	stepS := b.State("step", graph.F32)

	x := b.Gather(emb, ids)             // [B,T,C]
	h := b.LayerNorm(x, gam, bet, 1e-5) // [B,T,C]
	q, k, v := b.MatMul(h, wq), b.MatMul(h, wk), b.MatMul(h, wv)
	att := b.MulScalar(b.MatMulT(q, k, false, true), 1/float64(C)) // [B,T,T]
	mask := b.Less(b.Iota(graph.F32, 1, T, T), b.AddScalar(b.Iota(graph.F32, 0, T, T), 1))
	att = b.Where(mask, att, b.Full(graph.F32, -1e9, T, T))
	ctx := b.MatMul(b.Softmax(att), v)
	h2 := b.Add(h, ctx)
	m := b.MatMul(b.Tanh(b.MatMul(h2, w1)), w2)
	h3 := b.RMSNorm(b.Add(h2, m), gam, 1e-6)
	logits := b.MatMul(h3, wout) // [B,T,V]
	ce := b.CrossEntropy(logits, labels)
	b.Output("loss", b.MulScalar(b.Reshape(b.ReduceSum(ce, 0, 1)), 1/float64(B*T)))
	// dlogits = softmax - onehot; dwout = h3ᵀ·dlogits
	onehot := b.Cast(b.Equal(b.Iota(graph.I32, 2, B, T, V), b.Reshape(labels, B, T, 1)), graph.F32)
	dlogits := b.Sub(b.Softmax(logits), onehot)
	dwout := b.MatMulT(b.Reshape(h3, B*T, C), b.Reshape(dlogits, B*T, V), true, false)
	b.Update(wout, b.Sub(wout, b.MulScalar(dwout, 0.01)))
	dh3 := b.MatMulT(dlogits, wout, false, true)
	demb := b.ScatterAdd(ids, dh3, V)
	b.Update(emb, b.Sub(emb, b.MulScalar(demb, 0.01)))
	b.Update(gam, b.Sub(gam, b.MulScalar(b.Reshape(b.ReduceSum(b.Mul(dh3, h), 0, 1), C), 0.01)))
	b.Update(stepS, b.AddScalar(stepS, 1))
	b.Output("max_logit", b.Reshape(b.ReduceMax(logits, 0, 1, 2)))
	b.Output("cum", b.CumsumOpts(b.Reshape(ce, B*T), 0, true, false))
	return mustBuild(t, b)
}

func trainBindings(g *graph.Graph, V int, seed uint64) map[string]*graph.Tensor {
	r := rand.New(rand.NewPCG(seed, 7))
	return bindAll(g, r, func(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
		switch name {
		case "ids", "labels":
			return uniform(t, r, 0, float64(V))
		case "gamma":
			return uniform(t, r, 0.5, 1.5)
		}
		x := uniform(t, r, -0.5, 0.5)
		return x
	})
}

func TestTrainStep(t *testing.T) {
	const B, T, C, V = 2, 9, 16, 37
	g := trainGraph(t, B, T, C, V)
	bind := trainBindings(g, V, 1)
	for _, th := range []int{1, 4} {
		checkGraph(t, g, bind, th, 30)
	}
}

func TestNoAllocs(t *testing.T) {
	const B, T, C, V = 4, 32, 64, 97
	g := trainGraph(t, B, T, C, V)
	bind := trainBindings(g, V, 2)
	for _, th := range []int{1, 4} {
		be := New(Options{Threads: th})
		in := load(t, be, g, bind)
		p, err := be.Compile(g)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Run(in); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := p.Run(in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("threads %d: %v allocations per run, want 0", th, allocs)
		}
		be.Close()
	}
}

// TestDeterminism: every thread count gives bit-identical results.
func TestDeterminism(t *testing.T) {
	const B, T, C, V = 3, 40, 32, 300
	g := trainGraph(t, B, T, C, V)
	bind := trainBindings(g, V, 3)
	var first map[string][]float32
	for _, th := range []int{1, 2, 3, 8} {
		be := New(Options{Threads: th})
		in := load(t, be, g, bind)
		p, err := be.Compile(g)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]float32{}
		for k, v := range out {
			got[k] = append([]float32(nil), v.F32...)
		}
		for _, name := range be.Names() {
			v, _ := be.Tensor(name)
			got["resident "+name] = v.F32
		}
		if first == nil {
			first = got
			continue
		}
		for k, v := range first {
			for i := range v {
				if got[k][i] != v[i] {
					t.Fatalf("threads %d: %s[%d] = %v, threads 1 gave %v", th, k, i, got[k][i], v[i])
				}
			}
		}
		be.Close()
	}
}

// TestManyPrograms: programs on one backend share its residents.
func TestManyPrograms(t *testing.T) {
	b1 := graph.NewBuilder()
	w := b1.Param("w", graph.F64, 3)
	b1.Update(w, b1.AddScalar(w, 1))
	inc := mustBuild(t, b1)
	b2 := graph.NewBuilder()
	b2.Output("w2", b2.Mul(b2.Param("w", graph.F64, 3), b2.Scalar(graph.F64, 2)))
	read := mustBuild(t, b2)
	be := New(Options{})
	be.SetTensor("w", graph.FromF64([]float64{1, 2, 3}, 3))
	pi, err := be.Compile(inc)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := be.Compile(read)
	if err != nil {
		t.Fatal(err)
	}
	pi.Run(nil)
	pi.Run(nil)
	out, err := pr.Run(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out["w2"].F64; got[0] != 6 || got[1] != 8 || got[2] != 10 {
		t.Fatalf("w2 = %v", got)
	}
	if n := be.Names(); len(n) != 1 || n[0] != "w" {
		t.Fatalf("names %v", n)
	}
}

func TestDeadCodeAndEmpty(t *testing.T) {
	b := graph.NewBuilder()
	x := b.Input("x", graph.F32, 3, 0)
	y := b.Input("y", graph.F32, 4)
	_ = b.Exp(y) // dead
	b.Output("e", b.Exp(x))
	b.Output("s", b.ReduceSum(x, 1))
	b.Output("m", b.ReduceMax(x, 1))
	b.Output("y", y)
	g := mustBuild(t, b)
	bind := bindAll(g, rand.New(rand.NewPCG(1, 1)), nil)
	checkGraph(t, g, bind, 2, 1)
}

// TestClosedBackend: after Close, programs still run, on the caller only.
func TestClosedBackend(t *testing.T) {
	g := chainGraph(t, 5)
	be := New(Options{Threads: 4})
	p, err := be.Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	be.Close()
	be.Close()
	bind := bindAll(g, rand.New(rand.NewPCG(5, 5)), nil)
	if _, err := p.Run(bind); err != nil {
		t.Fatal(err)
	}
}

// TestDedupe: repeated computations (as autodiff writes them) run once,
// outputs and updates of a repeat get the merged value, and inputs and
// params of the same type are never merged.
func TestDedupe(t *testing.T) {
	b := graph.NewBuilder()
	x := b.Input("x", graph.F32, 40, 30)
	y := b.Input("y", graph.F32, 40, 30)
	w := b.Param("w", graph.F32, 40, 30)
	sq1, sq2 := b.MatMulT(x, y, false, true), b.MatMulT(x, y, false, true)
	e1, e2 := b.Exp(b.Mul(x, y)), b.Exp(b.Mul(x, y))
	b.Output("a", b.Add(sq1, sq2))
	b.Output("e1", e1)
	b.Output("e2", e2)
	b.Output("s", b.ReduceSum(b.Add(e1, b.Mul(x, y)), 1))
	b.Update(w, b.Add(b.Mul(x, y), w))
	g := mustBuild(t, b)
	d := dedupe(g)
	if d.Outputs[1].Value != d.Outputs[2].Value || d.Outputs[1].Value != e1 {
		t.Errorf("the two exps were not merged: outputs %v", d.Outputs)
	}
	if d.Nodes[d.Outputs[0].Value].Inputs[1] != sq1 {
		t.Errorf("the second product still reads %v", d.Nodes[d.Outputs[0].Value].Inputs)
	}
	p, err := New(Options{}).Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	matmuls := 0
	for _, s := range p.steps {
		if s.op == graph.OpMatMul {
			matmuls++
		}
	}
	if matmuls != 1 {
		t.Errorf("%d matmul steps, want 1", matmuls)
	}
	bind := bindAll(g, rand.New(rand.NewPCG(8, 8)), nil)
	for _, th := range []int{1, 3} {
		checkGraph(t, g, bind, th, 40)
	}
}

// TestInPlaceUpdates: an update computed elementwise after the last other
// read of its target is written straight into the target (no final copy);
// one whose target is read later, or is an output, or that a fallible step
// follows, is not; all give the reference's values, and a failed run
// writes no update.
func TestInPlaceUpdates(t *testing.T) {
	b := graph.NewBuilder()
	x := b.Input("x", graph.F32, 6, 5)
	ids := b.Input("ids", graph.I32, 3)
	w := b.Param("w", graph.F32, 6, 5)     // in place
	m := b.State("m", graph.F32, 6, 5)     // in place, read by w's update
	late := b.Param("late", graph.F32, 5)  // read after its update value
	out := b.Param("out", graph.F32, 6, 5) // an output too
	emb := b.Param("emb", graph.F32, 4, 5) // a gather follows its update
	b.Update(emb, b.MulScalar(emb, 2))
	b.Output("g", b.Gather(emb, ids))
	m2 := b.Add(b.MulScalar(m, 0.9), x)
	b.Update(m, m2)
	b.Update(w, b.Sub(w, b.MulScalar(b.Mul(m2, w), 0.1)))
	lv := b.AddScalar(late, 1)
	b.Update(late, lv)
	b.Output("after", b.Mul(b.Reshape(b.ReduceSum(x, 0), 5), late))
	b.Update(out, b.Neg(out))
	b.Output("out", out)
	g := mustBuild(t, b)
	p, err := New(Options{}).Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"w": true, "m": true, "late": false, "out": false, "emb": false}
	for _, u := range g.Updates {
		name := g.Nodes[u.Target].Name
		if got := p.vals[u.Value].root == int(u.Target); got != want[name] {
			t.Errorf("update of %s in place: %v, want %v", name, got, want[name])
		}
	}
	bind := bindAll(g, rand.New(rand.NewPCG(10, 10)), func(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
		if name == "ids" {
			return uniform(t, r, 0, 4)
		}
		return nil
	})
	for _, th := range []int{1, 3} {
		checkGraph(t, g, bind, th, 10)
	}
	// A bad id fails the run before any update is written.
	be := New(Options{})
	in := load(t, be, g, bind)
	p, _ = be.Compile(g)
	in["ids"] = graph.FromI32([]int32{0, 9, 1}, 3)
	if _, err := p.Run(in); err == nil {
		t.Fatal("no error for a bad id")
	}
	for _, name := range []string{"w", "m", "late", "out", "emb"} {
		got, _ := be.Tensor(name)
		if err := compareTensors(got, bind[name], 0); err != nil {
			t.Errorf("%s changed by a failed run: %v", name, err)
		}
	}
}
