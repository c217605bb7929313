package backendtest

import (
	"fmt"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Error checks: each bad call returns an error (never a panic or a hang)
// whose text names what was wrong, in the words listed with each check; a
// program keeps working after its runs fail.
//
// An input the program does not declare may be ignored or rejected: if the
// run succeeds its outputs must be right, if it fails the error must name
// the extra input.

func (s *suite) testErrors(t *testing.T) {
	e := s.env(t)
	dt := s.mainFloat()
	t.Run("run-inputs", func(t *testing.T) { errRunInputs(t, e, dt) })
	t.Run("residents", func(t *testing.T) { errResidents(t, e, dt) })
	t.Run("invalid-graphs", func(t *testing.T) { errInvalidGraphs(t, e, dt) })
	t.Run("ids-out-of-range", func(t *testing.T) { errIDs(t, e, dt) })
	t.Run("unknown-program", func(t *testing.T) { errUnknownProgram(t, e) })
	t.Run("unsupported-dtypes", func(t *testing.T) { errDTypes(t, e) })
	t.Run("tensors", func(t *testing.T) { errTensors(t, e, dt) })
}

func errRunInputs(t *testing.T, e *env, dt graph.DType) {
	b := graph.NewBuilder()
	x := b.Input("tokens", dt, 2, 3)
	b.Output("y", b.Neg(x))
	g := mustBuild(t, b)
	id := e.mustCompile(t, g)
	defer e.release(t, id)
	good := fill(dt, []int{2, 3}, func(i int) float64 { return float64(i) })
	want := fill(dt, []int{2, 3}, func(i int) float64 { return -float64(i) })
	other := graph.F64
	if dt == graph.F64 {
		other = graph.F32
	}
	typ := fmt.Sprint(good.Type)
	for _, c := range []struct {
		what  string
		in    map[string]*graph.Tensor
		parts []string
	}{
		{"missing input", map[string]*graph.Tensor{}, []string{"tokens"}},
		{"nil input", map[string]*graph.Tensor{"tokens": nil}, []string{"tokens"}},
		{"input of the wrong dtype", map[string]*graph.Tensor{"tokens": graph.NewTensor(other, 2, 3)}, []string{"tokens", typ, graph.Type{DType: other, Shape: graph.Shape{2, 3}}.String()}},
		{"i32 input for a float one", map[string]*graph.Tensor{"tokens": graph.NewTensor(graph.I32, 2, 3)}, []string{"tokens", typ}},
		{"input of the wrong shape", map[string]*graph.Tensor{"tokens": graph.NewTensor(dt, 3, 2)}, []string{"tokens", typ, graph.Type{DType: dt, Shape: graph.Shape{3, 2}}.String()}},
		{"input of the wrong rank", map[string]*graph.Tensor{"tokens": graph.NewTensor(dt, 6)}, []string{"tokens", typ}},
		{"input whose data does not match its shape", map[string]*graph.Tensor{"tokens": {Type: good.Type, F32: make([]float32, 5), F64: make([]float64, 5)}}, []string{"tokens"}},
	} {
		_, err := e.run(t, id, c.in)
		wantErr(t, c.what, err, c.parts...)
		if err != nil {
			t.Logf("%s: %v", c.what, err)
		}
	}
	// An extra input: ignored or rejected by name.
	out, err := e.run(t, id, map[string]*graph.Tensor{"tokens": good, "unused_extra": graph.NewTensor(dt, 4)})
	if err != nil {
		wantErr(t, "extra input", err, "unused_extra")
		t.Logf("the backend rejects an extra input: %v", err)
	} else {
		expect(t, "output with an extra input (ignored)", out["y"], want, tolerance{exact: true})
		t.Log("the backend ignores an extra input")
	}
	expect(t, "output after failed runs", e.mustRun(t, id, map[string]*graph.Tensor{"tokens": good})["y"], want, tolerance{exact: true})
}

func errResidents(t *testing.T, e *env, dt graph.DType) {
	b := graph.NewBuilder()
	w := b.Param("missing.param", dt, 4, 3)
	s := b.State("typed.state", dt, 4, 3)
	b.Output("y", b.Add(w, s))
	g := mustBuild(t, b)
	id := e.mustCompile(t, g)
	defer e.release(t, id)
	e.mustSet(t, "typed.state", graph.NewTensor(dt, 4, 3))
	_, err := e.run(t, id, nil)
	wantErr(t, "Run with a param that is not set", err, "missing.param")
	e.mustSet(t, "missing.param", graph.NewTensor(dt, 4, 3))
	e.mustRun(t, id, nil)
	// A resident of another type than the program declares.
	if err := e.deleteTensor(t, "typed.state"); err != nil {
		t.Fatalf("DeleteTensor: %v", err)
	}
	e.mustSet(t, "typed.state", graph.NewTensor(dt, 5, 3))
	_, err = e.run(t, id, nil)
	wantErr(t, "Run with a state of the wrong shape", err, "typed.state")
	for _, name := range []string{"missing.param", "typed.state"} {
		if err := e.deleteTensor(t, name); err != nil {
			t.Errorf("DeleteTensor(%q): %v", name, err)
		}
	}
}

func errInvalidGraphs(t *testing.T, e *env, dt graph.DType) {
	ty := func(s ...int) graph.Type { return graph.Type{DType: dt, Shape: s} }
	in := graph.Node{Op: graph.OpInput, Name: "x", Type: ty(3)}
	for _, c := range []struct {
		what  string
		g     *graph.Graph
		parts []string
	}{
		{"unknown op", &graph.Graph{Nodes: []graph.Node{in, {Op: graph.Op(999), Inputs: []graph.Value{0}, Type: ty(3)}}}, []string{"node 1"}},
		{"input refers to a later node", &graph.Graph{Nodes: []graph.Node{in, {Op: graph.OpNeg, Inputs: []graph.Value{2}, Type: ty(3)}, {Op: graph.OpNeg, Inputs: []graph.Value{0}, Type: ty(3)}}}, []string{"node 1"}},
		{"declared type disagrees with the shape rule", &graph.Graph{Nodes: []graph.Node{in, {Op: graph.OpSqrt, Inputs: []graph.Value{0}, Type: ty(4)}}, Outputs: []graph.Output{{Name: "y", Value: 1}}}, []string{"node 1"}},
		{"wrong arity", &graph.Graph{Nodes: []graph.Node{in, {Op: graph.OpAdd, Inputs: []graph.Value{0}, Type: ty(3)}}}, []string{"node 1"}},
		{"matmul of mismatched inner dimensions", &graph.Graph{Nodes: []graph.Node{{Op: graph.OpInput, Name: "a", Type: ty(2, 3)}, {Op: graph.OpInput, Name: "b", Type: ty(4, 5)}, {Op: graph.OpMatMul, Inputs: []graph.Value{0, 1}, Type: ty(2, 5)}}}, []string{"node 2"}},
		{"two inputs of one name", &graph.Graph{Nodes: []graph.Node{in, in}}, []string{"node 1", `"x"`}},
		{"output of a missing value", &graph.Graph{Nodes: []graph.Node{in}, Outputs: []graph.Output{{Name: "result", Value: 5}}}, []string{"result"}},
		{"update of an input", &graph.Graph{Nodes: []graph.Node{in, {Op: graph.OpNeg, Inputs: []graph.Value{0}, Type: ty(3)}}, Updates: []graph.Update{{Target: 0, Value: 1}}}, []string{"update"}},
		{"empty node", &graph.Graph{Nodes: []graph.Node{{}}}, []string{"node 0"}},
		{"nil graph", nil, nil},
	} {
		_, err := e.compile(t, c.g)
		wantErr(t, "Compile of an invalid graph: "+c.what, err, c.parts...)
	}
}

func errIDs(t *testing.T, e *env, dt graph.DType) {
	b := graph.NewBuilder()
	table := b.Param("table", dt, 4, 3)
	ids := b.Input("ids", graph.I32, 3)
	b.Output("rows", b.Gather(table, ids))
	b.Output("scattered", b.ScatterAdd(b.Input("sids", graph.I32, 2), b.Input("u", dt, 2, 3), 4))
	b.Output("loss", b.CrossEntropy(b.Input("logits", dt, 2, 5), b.Input("labels", graph.I32, 2)))
	g := mustBuild(t, b)
	e.mustSet(t, "table", graph.NewTensor(dt, 4, 3))
	defer e.deleteResidents(t, g)
	id := e.mustCompile(t, e.s.prepare(t, g))
	defer e.release(t, id)
	good := func() map[string]*graph.Tensor {
		return map[string]*graph.Tensor{
			"ids": graph.FromI32([]int32{0, 3, 1}, 3), "sids": graph.FromI32([]int32{2, 2}, 2),
			"u": graph.NewTensor(dt, 2, 3), "logits": graph.NewTensor(dt, 2, 5), "labels": graph.FromI32([]int32{4, 0}, 2),
		}
	}
	e.mustRun(t, id, good())
	type badCase struct {
		what  string
		name  string
		val   *graph.Tensor
		parts []string
	}
	cases := []badCase{
		{"gather id past the table", "ids", graph.FromI32([]int32{0, 17, 1}, 3), []string{"gather", "17"}},
		{"negative gather id", "ids", graph.FromI32([]int32{-23, 0, 1}, 3), []string{"gather", "-23"}},
		{"scatter_add id past the rows", "sids", graph.FromI32([]int32{1, 19}, 2), []string{"scatter_add", "19"}},
		{"negative scatter_add id", "sids", graph.FromI32([]int32{-29, 0}, 2), []string{"scatter_add", "-29"}},
	}
	if e.s.native[graph.OpCrossEntropy] {
		cases = append(cases,
			badCase{"cross_entropy label past the vocabulary", "labels", graph.FromI32([]int32{0, 37}, 2), []string{"cross_entropy", "37"}},
			badCase{"negative cross_entropy label", "labels", graph.FromI32([]int32{-41, 0}, 2), []string{"cross_entropy", "-41"}})
	} else {
		t.Log("cross_entropy is decomposed by the host (not in Info.FusedOps): labels out of range cannot be detected")
	}
	for _, c := range cases {
		in := good()
		in[c.name] = c.val
		_, err := e.run(t, id, in)
		wantErr(t, c.what, err, c.parts...)
		if err != nil {
			t.Logf("%s: %v", c.what, err)
		}
	}
	e.mustRun(t, id, good())
}

func errUnknownProgram(t *testing.T, e *env) {
	const id = backend.ProgramID(3735928559)
	_, err := e.run(t, id, nil)
	wantErr(t, "Run of a program id that was never compiled", err, "3735928559")
	wantErr(t, "Release of a program id that was never compiled", e.release(t, id), "3735928559")
}

// errDTypes: a graph of a dtype Info does not list fails to compile.
func errDTypes(t *testing.T, e *env) {
	tested := 0
	for _, dt := range []graph.DType{graph.F16, graph.BF16, graph.F64, graph.F32} {
		if e.s.infoDTypes[dt] {
			continue
		}
		tested++
		b := graph.NewBuilder()
		x := b.Input("x", graph.I32, 3)
		b.Output("y", b.Cast(b.Neg(b.Cast(x, dt)), graph.I32))
		g := mustBuild(t, b)
		id, err := e.compile(t, g)
		wantErr(t, fmt.Sprintf("Compile of a graph computing in %v, which Info.DTypes does not list", dt), err, dt.String())
		if err == nil {
			e.release(t, id)
		}
	}
	if tested == 0 {
		t.Skip("Info.DTypes lists every dtype")
	}
}

func errTensors(t *testing.T, e *env, dt graph.DType) {
	_, err := e.tensor(t, "never.set")
	wantErr(t, "Tensor of a name never set", err, "never.set")
	wantErr(t, "SetTensor of a nil tensor", e.setTensor(t, "nil.tensor", nil), "nil.tensor")
	bad := &graph.Tensor{Type: graph.Type{DType: dt, Shape: graph.Shape{2, 3}}, F32: make([]float32, 5), F64: make([]float64, 5)}
	wantErr(t, "SetTensor of a tensor whose data does not match its shape", e.setTensor(t, "short.tensor", bad), "short.tensor")
	half := &graph.Tensor{Type: graph.Type{DType: graph.F16, Shape: graph.Shape{2}}}
	wantErr(t, "SetTensor of an f16 tensor (no host representation)", e.setTensor(t, "half.tensor", half), "half.tensor")
	for _, name := range []string{"nil.tensor", "short.tensor", "half.tensor"} {
		if _, err := e.tensor(t, name); err == nil {
			t.Errorf("a refused SetTensor(%q) left a tensor behind", name)
		}
	}
	wantErr(t, "DeleteTensor of a name never set", e.deleteTensor(t, "never.set"), "never.set")
}
