package backendtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Program checks: how Compile, Run and Release treat resident tensors. Each
// subtest gets a fresh backend. Values are compared with graph.Evaluate:
// exactly where the program only moves values, else within 30·base·(|want|+1).

func (s *suite) testPrograms(t *testing.T) {
	dt := s.mainFloat()
	for _, c := range []struct {
		name string
		f    func(t *testing.T, e *env, dt graph.DType)
	}{
		{"params-read-at-each-run", progParamsReadAtRun},
		{"updates-in-place", progUpdatesInPlace},
		{"swapped-updates-read-old-values", progSwap},
		{"updated-param-as-output", progUpdatedOutput},
		{"update-from-input", progUpdateFromInput},
		{"updates-only", progUpdatesOnly},
		{"update-reads-its-target", progUpdateReadsTarget},
		{"programs-share-residents", progShared},
		{"release", progRelease},
		{"delete-tensor", progDelete},
		{"failed-run-applies-no-update", progFailedRun},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, s.env(t), dt) })
	}
}

var approx = tolerance{scale: 30}

func expect(t *testing.T, what string, got, want *graph.Tensor, tl tolerance) {
	t.Helper()
	if err := compareTensor(got, want, tl); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func fill(dt graph.DType, shape []int, f func(i int) float64) *graph.Tensor {
	x := graph.NewTensor(dt, shape...)
	for i := 0; i < x.Len(); i++ {
		x.Set(i, f(i))
	}
	return x
}

// progParamsReadAtRun: a param is read from the resident tensor at each run,
// not captured at Compile.
func progParamsReadAtRun(t *testing.T, e *env, dt graph.DType) {
	b := graph.NewBuilder()
	x, w := b.Input("x", dt, 2, 3), b.Param("w", dt, 2, 3)
	b.Output("y", b.Add(b.MulScalar(w, 2), x))
	g := mustBuild(t, b)
	r := newRand(e.s.opts.Seed, t.Name())
	bind := bindAll(g, r, nil)
	e.setResidents(t, g, bind)
	id := e.mustCompile(t, g)
	for step := 0; step < 3; step++ {
		if step > 0 {
			bind["w"] = defaultTensor(bind["w"].Type, r)
			e.mustSet(t, "w", bind["w"])
		}
		want, _ := evaluate(t, g, bind)
		got := e.mustRun(t, id, inputsOf(g, bind))
		expect(t, fmt.Sprintf("run %d after SetTensor(w)", step), got["y"], want["y"], tolerance{})
	}
}

// sgdGraph: loss = Σ(x·w)², w ← w − lr·∂loss/∂w, and an i32 step counter.
func sgdGraph(t *testing.T, dt graph.DType) *graph.Graph {
	b := graph.NewBuilder()
	x := b.Input("x", dt, 4, 3)
	lr := b.Input("lr", dt)
	w := b.Param("w", dt, 3, 2)
	step := b.State("step", graph.I32)
	y := b.MatMul(x, w)
	loss := b.Sum(b.Square(y))
	grads, err := graph.Grad(b, loss, []graph.Value{w})
	if err != nil {
		t.Fatalf("backendtest: grad: %v", err)
	}
	b.Output("loss", loss)
	b.Update(w, b.Sub(w, b.Mul(lr, grads[0])))
	b.Update(step, b.AddScalar(step, 1))
	return mustBuild(t, b)
}

// progUpdatesInPlace: three SGD steps; after each, Tensor shows the update.
func progUpdatesInPlace(t *testing.T, e *env, dt graph.DType) {
	g := sgdGraph(t, dt)
	r := newRand(e.s.opts.Seed, t.Name())
	ref := bindAll(g, r, nil)
	ref["step"] = graph.NewTensor(graph.I32)
	ref["lr"] = fill(dt, nil, func(int) float64 { return 0.01 })
	e.setResidents(t, g, ref)
	id := e.mustCompile(t, g)
	for step := 1; step <= 3; step++ {
		ref["x"] = defaultTensor(ref["x"].Type, r)
		wantOut, wantUpd := evaluate(t, g, ref)
		got := e.mustRun(t, id, inputsOf(g, ref))
		expect(t, fmt.Sprintf("step %d loss", step), got["loss"], wantOut["loss"], approx)
		expect(t, fmt.Sprintf("step %d: w after the update", step), e.mustTensor(t, "w"), wantUpd["w"], approx)
		expect(t, fmt.Sprintf("step %d: step counter", step), e.mustTensor(t, "step"), wantUpd["step"], tolerance{exact: true})
		ref["w"], ref["step"] = wantUpd["w"], wantUpd["step"]
		if t.Failed() {
			return
		}
	}
}

// progSwap: a ← c and c ← a read the values from before either is written;
// a state takes a reshaped view of an updated param.
func progSwap(t *testing.T, e *env, dt graph.DType) {
	b := graph.NewBuilder()
	a, c := b.Param("a", dt, 2, 3), b.Param("c", dt, 2, 3)
	s := b.State("s", dt, 6)
	keep := b.State("keep", dt, 2)
	b.Update(a, c)
	b.Update(c, a)
	b.Update(s, b.Reshape(a, 6))
	b.Update(keep, keep)
	g := mustBuild(t, b)
	av := fill(dt, []int{2, 3}, func(i int) float64 { return float64(i + 1) })
	cv := fill(dt, []int{2, 3}, func(i int) float64 { return float64(-10 - i) })
	kv := fill(dt, []int{2}, func(i int) float64 { return float64(7 + i) })
	e.mustSet(t, "a", av)
	e.mustSet(t, "c", cv)
	e.mustSet(t, "s", graph.NewTensor(dt, 6))
	e.mustSet(t, "keep", kv)
	id := e.mustCompile(t, g)
	for run := 1; run <= 2; run++ {
		e.mustRun(t, id, nil)
		wa, wc := cv, av
		if run == 2 {
			wa, wc = av, cv
		}
		flatA := wc.Clone()
		flatA.Shape = graph.Shape{6}
		expect(t, fmt.Sprintf("run %d: a ← c", run), e.mustTensor(t, "a"), wa, tolerance{exact: true})
		expect(t, fmt.Sprintf("run %d: c ← a", run), e.mustTensor(t, "c"), wc, tolerance{exact: true})
		expect(t, fmt.Sprintf("run %d: s ← reshape(a)", run), e.mustTensor(t, "s"), flatA, tolerance{exact: true})
		expect(t, fmt.Sprintf("run %d: keep ← keep", run), e.mustTensor(t, "keep"), kv, tolerance{exact: true})
	}
}

// progUpdatedOutput: an output of a param that is also updated is the value
// from before the update, and the output is the caller's copy.
func progUpdatedOutput(t *testing.T, e *env, dt graph.DType) {
	b := graph.NewBuilder()
	w := b.Param("w", dt, 5)
	b.Output("w", w)
	b.Output("w_col", b.Reshape(w, 5, 1))
	b.Output("w_neg", b.Neg(w))
	b.Update(w, b.AddScalar(w, 1))
	g := mustBuild(t, b)
	w0 := fill(dt, []int{5}, func(i int) float64 { return float64(i) - 2 })
	e.mustSet(t, "w", w0)
	id := e.mustCompile(t, g)
	cur := w0
	for run := 1; run <= 2; run++ {
		// Called directly (not through e.run, which copies the outputs) to
		// check that writing to an output leaves the resident alone.
		out, err := call(t, "Run", func(ctx context.Context) (map[string]*graph.Tensor, error) { return e.be.Run(ctx, id, nil) })
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		want, upd := evaluate(t, g, map[string]*graph.Tensor{"w": cur})
		for _, name := range []string{"w", "w_col", "w_neg"} {
			expect(t, fmt.Sprintf("run %d: output %q (the value before the update)", run, name), out[name], want[name], tolerance{exact: true})
		}
		if t.Failed() {
			return
		}
		out["w"].Set(0, 99)
		expect(t, fmt.Sprintf("run %d: w after the update (and after the caller wrote to the output)", run), e.mustTensor(t, "w"), upd["w"], tolerance{exact: true})
		cur = upd["w"]
	}
}

// progUpdateFromInput: a param set from an input holds a copy of it.
func progUpdateFromInput(t *testing.T, e *env, dt graph.DType) {
	b := graph.NewBuilder()
	w := b.Param("w", dt, 3, 4)
	x := b.Input("x", dt, 3, 4)
	b.Output("old", w)
	b.Update(w, x)
	g := mustBuild(t, b)
	r := newRand(e.s.opts.Seed, t.Name())
	w0, x0 := defaultTensor(graph.Type{DType: dt, Shape: graph.Shape{3, 4}}, r), defaultTensor(graph.Type{DType: dt, Shape: graph.Shape{3, 4}}, r)
	e.mustSet(t, "w", w0)
	id := e.mustCompile(t, g)
	xin := x0.Clone()
	out := e.mustRun(t, id, map[string]*graph.Tensor{"x": xin})
	expect(t, "output old", out["old"], w0, tolerance{exact: true})
	xin.Set(0, 1234) // the caller reuses its input tensor
	expect(t, "w ← x", e.mustTensor(t, "w"), x0, tolerance{exact: true})
}

// progUpdateReadsTarget: updates whose values are computed from the same
// buffer they overwrite (a rotation, a transpose, a matrix square, a
// running sum) see the old values throughout.
func progUpdateReadsTarget(t *testing.T, e *env, dt graph.DType) {
	b := graph.NewBuilder()
	v := b.Param("v", dt, 7)
	m := b.Param("m", dt, 5, 5)
	q := b.Param("q", dt, 4, 4)
	c := b.State("c", dt, 3, 6)
	b.Update(v, b.Concat(0, b.SliceAxis(v, 0, 2, 7), b.SliceAxis(v, 0, 0, 2)))
	b.Update(m, b.Transpose(m, 1, 0))
	b.Update(q, b.MatMul(q, q))
	b.Update(c, b.Cumsum(c, 1))
	b.Output("v_old", v)
	g := mustBuild(t, b)
	r := newRand(e.s.opts.Seed, t.Name())
	ref := bindAll(g, r, nil)
	e.setResidents(t, g, ref)
	id := e.mustCompile(t, g)
	for run := 1; run <= 3; run++ {
		wantOut, wantUpd := evaluate(t, g, ref)
		got := e.mustRun(t, id, nil)
		expect(t, fmt.Sprintf("run %d: output v_old", run), got["v_old"], wantOut["v_old"], tolerance{exact: true})
		for _, name := range []string{"v", "m", "q", "c"} {
			tl := approx
			if name == "v" || name == "m" {
				tl = tolerance{exact: true}
			}
			expect(t, fmt.Sprintf("run %d: %s after the update", run, name), e.mustTensor(t, name), wantUpd[name], tl)
			ref[name] = wantUpd[name]
		}
		if t.Failed() {
			return
		}
	}
}

// progUpdatesOnly: a program without outputs runs and applies its updates.
func progUpdatesOnly(t *testing.T, e *env, dt graph.DType) {
	b := graph.NewBuilder()
	s := b.State("count", graph.I32, 2)
	acc := b.State("acc", dt, 3)
	b.Update(s, b.Add(s, b.Const(graph.I32, []int{2}, []float64{1, -1})))
	b.Update(acc, b.Add(acc, b.Input("x", dt, 3)))
	g := mustBuild(t, b)
	e.mustSet(t, "count", graph.FromI32([]int32{10, 20}, 2))
	e.mustSet(t, "acc", graph.NewTensor(dt, 3))
	id := e.mustCompile(t, g)
	x := fill(dt, []int{3}, func(i int) float64 { return float64(i) + 0.5 })
	for run := 1; run <= 3; run++ {
		out := e.mustRun(t, id, map[string]*graph.Tensor{"x": x})
		if len(out) != 0 {
			t.Errorf("run %d: a program without outputs returned %d outputs", run, len(out))
		}
	}
	expect(t, "count after 3 runs", e.mustTensor(t, "count"), graph.FromI32([]int32{13, 17}, 2), tolerance{exact: true})
	expect(t, "acc after 3 runs", e.mustTensor(t, "acc"), fill(dt, []int{3}, func(i int) float64 { return 3 * (float64(i) + 0.5) }), tolerance{exact: true})
}

// progShared: an Accumulate program adds gradients into a state, an Apply
// program reads it into a param update and zeroes it, and an Eval program
// reads the param: all three share the backend's resident tensors.
func progShared(t *testing.T, e *env, dt graph.DType) {
	lossOf := func(b *graph.Builder, x, w graph.Value) graph.Value { return b.Sum(b.Square(b.MatMul(x, w))) }
	// Accumulate.
	ba := graph.NewBuilder()
	x, w, acc := ba.Input("x", dt, 4, 3), ba.Param("w", dt, 3, 2), ba.State("acc", dt, 3, 2)
	loss := lossOf(ba, x, w)
	gr, err := graph.Grad(ba, loss, []graph.Value{w})
	if err != nil {
		t.Fatalf("backendtest: grad: %v", err)
	}
	ba.Output("loss", loss)
	ba.Update(acc, ba.Add(acc, gr[0]))
	accumulate := mustBuild(t, ba)
	// Apply.
	bp := graph.NewBuilder()
	w, acc = bp.Param("w", dt, 3, 2), bp.State("acc", dt, 3, 2)
	bp.Update(w, bp.Sub(w, bp.MulScalar(acc, 0.01)))
	bp.Update(acc, bp.Zeros(dt, 3, 2))
	bp.Output("acc_norm", bp.Sum(bp.Square(acc)))
	apply := mustBuild(t, bp)
	// Eval.
	be := graph.NewBuilder()
	be.Output("loss", lossOf(be, be.Input("x", dt, 4, 3), be.Param("w", dt, 3, 2)))
	eval := mustBuild(t, be)

	r := newRand(e.s.opts.Seed, t.Name())
	ref := map[string]*graph.Tensor{"w": defaultTensor(graph.Type{DType: dt, Shape: graph.Shape{3, 2}}, r), "acc": graph.NewTensor(dt, 3, 2)}
	e.mustSet(t, "w", ref["w"])
	e.mustSet(t, "acc", ref["acc"])
	ids := map[string]backend.ProgramID{}
	for name, g := range map[string]*graph.Graph{"accumulate": accumulate, "apply": apply, "eval": eval} {
		ids[name] = e.mustCompile(t, g)
	}
	runAndCheck := func(what string, g *graph.Graph, in map[string]*graph.Tensor) {
		t.Helper()
		bind := map[string]*graph.Tensor{}
		for k, v := range ref {
			bind[k] = v
		}
		for k, v := range in {
			bind[k] = v
		}
		wantOut, wantUpd := evaluate(t, g, bind)
		var id backend.ProgramID
		switch g {
		case accumulate:
			id = ids["accumulate"]
		case apply:
			id = ids["apply"]
		default:
			id = ids["eval"]
		}
		got := e.mustRun(t, id, in)
		for name, want := range wantOut {
			expect(t, what+": output "+name, got[name], want, approx)
		}
		for name, want := range wantUpd {
			expect(t, what+": "+name+" after the run", e.mustTensor(t, name), want, approx)
			ref[name] = want
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	xs := func() map[string]*graph.Tensor {
		return map[string]*graph.Tensor{"x": defaultTensor(graph.Type{DType: dt, Shape: graph.Shape{4, 3}}, r)}
	}
	for i := 1; i <= 3; i++ {
		runAndCheck(fmt.Sprintf("accumulate %d", i), accumulate, xs())
	}
	runAndCheck("apply", apply, nil)
	runAndCheck("eval after apply", eval, xs())
	runAndCheck("accumulate after apply (from zero)", accumulate, xs())
	runAndCheck("apply again", apply, nil)
}

// progRelease: a released program no longer runs; others still do.
func progRelease(t *testing.T, e *env, dt graph.DType) {
	b := graph.NewBuilder()
	b.Output("y", b.Neg(b.Input("x", dt, 3)))
	g := mustBuild(t, b)
	p1, p2 := e.mustCompile(t, g), e.mustCompile(t, g)
	if p1 == p2 {
		t.Fatalf("two Compiles returned the same program id %d", p1)
	}
	in := map[string]*graph.Tensor{"x": fill(dt, []int{3}, func(i int) float64 { return float64(i) })}
	want := fill(dt, []int{3}, func(i int) float64 { return -float64(i) })
	expect(t, "program 1", e.mustRun(t, p1, in)["y"], want, tolerance{exact: true})
	if err := e.release(t, p1); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if _, err := e.run(t, p1, in); err == nil {
		t.Errorf("Run of a released program succeeded")
	}
	expect(t, "program 2 after releasing program 1", e.mustRun(t, p2, in)["y"], want, tolerance{exact: true})
	wantErr(t, "a second Release of a program", e.release(t, p1), fmt.Sprint(uint64(p1)))
	p3 := e.mustCompile(t, g)
	expect(t, "a program compiled after a release", e.mustRun(t, p3, in)["y"], want, tolerance{exact: true})
}

// progDelete: a program whose param was deleted fails to run, naming it, and
// runs again once the param is set again.
func progDelete(t *testing.T, e *env, dt graph.DType) {
	const name = "layer7.weight"
	b := graph.NewBuilder()
	w := b.Param(name, dt, 2, 2)
	b.Output("y", b.Add(w, b.Input("x", dt, 2, 2)))
	g := mustBuild(t, b)
	w0 := fill(dt, []int{2, 2}, func(i int) float64 { return float64(i) })
	in := map[string]*graph.Tensor{"x": graph.NewTensor(dt, 2, 2)}
	e.mustSet(t, name, w0)
	id := e.mustCompile(t, g)
	expect(t, "before DeleteTensor", e.mustRun(t, id, in)["y"], w0, tolerance{exact: true})
	if err := e.deleteTensor(t, name); err != nil {
		t.Fatalf("DeleteTensor: %v", err)
	}
	_, err := e.run(t, id, in)
	wantErr(t, "Run after DeleteTensor of a param it reads", err, name)
	_, err = e.tensor(t, name)
	wantErr(t, "Tensor after DeleteTensor", err, name)
	e.mustSet(t, name, w0)
	expect(t, "after SetTensor again", e.mustRun(t, id, in)["y"], w0, tolerance{exact: true})
}

// progFailedRun: runs that fail (an id out of range, a label out of range, a
// missing or mistyped input) apply none of the program's updates.
func progFailedRun(t *testing.T, e *env, dt graph.DType) {
	b := graph.NewBuilder()
	emb := b.Param("emb", dt, 4, 3)
	count := b.State("count", graph.I32)
	ids := b.Input("ids", graph.I32, 2)
	labels := b.Input("labels", graph.I32, 2)
	x := b.Input("x", dt, 2, 3)
	h := b.Add(b.Gather(emb, ids), x)
	loss := b.Sum(b.CrossEntropy(h, labels))
	b.Output("loss", loss)
	b.Update(emb, b.Add(emb, b.ScatterAdd(ids, x, 4)))
	b.Update(count, b.AddScalar(count, 1))
	g := mustBuild(t, b)
	emb0 := fill(dt, []int{4, 3}, func(i int) float64 { return float64(i) / 4 })
	e.mustSet(t, "emb", emb0)
	e.mustSet(t, "count", graph.NewTensor(graph.I32))
	id := e.mustCompile(t, g)
	good := map[string]*graph.Tensor{
		"ids":    graph.FromI32([]int32{3, 1}, 2),
		"labels": graph.FromI32([]int32{2, 0}, 2),
		"x":      fill(dt, []int{2, 3}, func(i int) float64 { return float64(i) - 1 }),
	}
	with := func(name string, v *graph.Tensor) map[string]*graph.Tensor {
		m := map[string]*graph.Tensor{}
		for k, t := range good {
			m[k] = t
		}
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
		return m
	}
	bad := []struct {
		what string
		in   map[string]*graph.Tensor
	}{
		{"gather id out of range", with("ids", graph.FromI32([]int32{3, 4}, 2))},
		{"negative gather id", with("ids", graph.FromI32([]int32{-1, 0}, 2))},
		{"label out of range", with("labels", graph.FromI32([]int32{0, 3}, 2))},
		{"missing input", with("x", nil)},
		{"input of the wrong dtype", with("labels", fill(dt, []int{2}, func(int) float64 { return 0 }))},
		{"input of the wrong shape", with("x", graph.NewTensor(dt, 3, 2))},
	}
	for _, c := range bad {
		if _, err := e.run(t, id, c.in); err == nil {
			t.Errorf("%s: Run succeeded", c.what)
		}
		expect(t, c.what+": emb after the failed run", e.mustTensor(t, "emb"), emb0, tolerance{exact: true})
		expect(t, c.what+": count after the failed run", e.mustTensor(t, "count"), graph.NewTensor(graph.I32), tolerance{exact: true})
	}
	// The program still runs, and applies its updates.
	bind := with("emb", emb0)
	bind["emb"], bind["count"] = emb0, graph.NewTensor(graph.I32)
	wantOut, wantUpd := evaluate(t, g, bind)
	got := e.mustRun(t, id, good)
	expect(t, "loss of a good run after the failures", got["loss"], wantOut["loss"], approx)
	expect(t, "emb after a good run", e.mustTensor(t, "emb"), wantUpd["emb"], approx)
	expect(t, "count after a good run", e.mustTensor(t, "count"), wantUpd["count"], tolerance{exact: true})
}

// wantErr requires an error whose text contains every part.
func wantErr(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one naming %q", what, parts)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name %q", what, err, p)
			return
		}
	}
}
