package backendtest

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Options tune the suite for a backend.
type Options struct {
	// DTypes are the dtypes the op checks run in: f32 and f64, and i32 for
	// the ops whose shape rules allow it. Default: those of f32, f64 and i32
	// that Info().DTypes lists.
	DTypes []graph.DType
	// Seed varies the random inputs; the same seed gives the same inputs.
	Seed uint64
	// Skip reports an op a backend declares unsupported in a dtype. A check
	// whose graph uses a skipped (op, dtype) pair still runs: the backend may
	// refuse it with an error from Compile or Run, or run it correctly; it
	// must not panic, hang or return wrong values.
	Skip func(op graph.Op, dt graph.DType) bool
	// Large adds larger shapes (tens of thousands of elements, matrix
	// products of about 100³) that exercise parallel and blocked kernels.
	Large bool
}

// callTimeout bounds every call into the backend; a call that takes longer
// fails the check as a hang.
var callTimeout = 2 * time.Minute

// Run runs every check as a subtest of t against backends made by
// newBackend. See the package documentation for the checks, their
// tolerances and what newBackend must return.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend, opts Options) {
	t.Helper()
	s := &suite{newBackend: newBackend, opts: opts}
	if s.opts.Seed == 0 {
		s.opts.Seed = 0x6d6f6861776b // any fixed value
	}
	s.loadInfo(t)
	t.Run("info", s.testInfo)
	t.Run("ops", s.testOps)
	t.Run("gradients", s.testGradients)
	t.Run("programs", s.testPrograms)
	t.Run("transfers", s.testTransfers)
	t.Run("errors", s.testErrors)
	t.Run("determinism", s.testDeterminism)
}

// suite holds what every check shares.
type suite struct {
	newBackend func(t *testing.T) backend.Backend
	opts       Options
	info       *backend.Info
	dtypes     []graph.DType        // op dtypes under test
	native     map[graph.Op]bool    // fused ops the backend runs natively
	infoDTypes map[graph.DType]bool // dtypes Info lists
}

// loadInfo asks a backend for its Info, which every group needs, and picks
// the dtypes under test.
func (s *suite) loadInfo(t *testing.T) {
	t.Helper()
	e := s.env(t)
	info, err := call(t, "Info", func(ctx context.Context) (*backend.Info, error) { return e.be.Info(ctx) })
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info == nil {
		t.Fatal("Info returned no info and no error")
	}
	s.infoDTypes = map[graph.DType]bool{}
	for _, dt := range info.DTypes {
		s.infoDTypes[dt] = true
	}
	s.native = map[graph.Op]bool{}
	for _, op := range info.FusedOps {
		if op.Fused() {
			s.native[op] = true
		}
	}
	if s.opts.DTypes != nil {
		for _, dt := range s.opts.DTypes {
			if dt != graph.F32 && dt != graph.F64 && dt != graph.I32 {
				t.Fatalf("Options.DTypes lists %v; the suite tests f32, f64 and i32", dt)
			}
			if !s.infoDTypes[dt] {
				t.Fatalf("Options.DTypes lists %v, which Info.DTypes %v does not", dt, info.DTypes)
			}
		}
		s.dtypes = slices.Clone(s.opts.DTypes)
	} else {
		for _, dt := range []graph.DType{graph.F32, graph.F64, graph.I32} {
			if s.infoDTypes[dt] {
				s.dtypes = append(s.dtypes, dt)
			}
		}
	}
	if !slices.ContainsFunc(s.dtypes, graph.DType.IsFloat) {
		t.Fatalf("no float dtype to test (Info.DTypes %v, Options.DTypes %v)", info.DTypes, s.opts.DTypes)
	}
	t.Logf("backend %s %s: dtypes %v, native fused ops %v; testing %v", info.Name, info.Version, info.DTypes, info.FusedOps, s.dtypes)
	s.info = info
}

// testInfo checks what Info reports.
func (s *suite) testInfo(t *testing.T) {
	info := s.info
	if info.APIVersion != backend.APIVersion {
		t.Errorf("Info.APIVersion is %d, expected %d", info.APIVersion, backend.APIVersion)
	}
	if info.Name == "" {
		t.Error("Info.Name is empty")
	}
	for _, dt := range info.DTypes {
		if !dt.Valid() {
			t.Errorf("Info.DTypes lists an unknown dtype %v", dt)
		}
	}
	if !s.infoDTypes[graph.I32] {
		t.Errorf("Info.DTypes %v lacks i32, which every program with ids (gather, cross_entropy) needs", info.DTypes)
	}
	for _, op := range info.FusedOps {
		if !op.Fused() {
			t.Errorf("Info.FusedOps lists %v, which is not a fused op", op)
		}
	}
}

// floats are the float dtypes under test.
func (s *suite) floats() []graph.DType {
	var out []graph.DType
	for _, dt := range s.dtypes {
		if dt.IsFloat() {
			out = append(out, dt)
		}
	}
	return out
}

// mainFloat is the dtype of the checks that need just one: f32 (the
// training dtype) when it is tested, else f64.
func (s *suite) mainFloat() graph.DType { return s.floats()[0] }

func (s *suite) tests(dt graph.DType) bool { return slices.Contains(s.dtypes, dt) }

// skipped reports whether g uses an (op, dtype) pair that Options.Skip
// declares unsupported, and names the first.
func (s *suite) skipped(g *graph.Graph) (string, bool) {
	if s.opts.Skip == nil {
		return "", false
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if s.opts.Skip(n.Op, n.Type.DType) {
			return fmt.Sprintf("%v in %v", n.Op, n.Type.DType), true
		}
	}
	return "", false
}

// prepare is what a host does before Compile: fused ops the backend does not
// run natively are replaced by their decompositions.
func (s *suite) prepare(t *testing.T, g *graph.Graph) *graph.Graph {
	t.Helper()
	need := false
	for i := range g.Nodes {
		if op := g.Nodes[i].Op; op.Fused() && !s.native[op] {
			need = true
		}
	}
	if !need {
		return g
	}
	d, err := graph.Decompose(g, func(op graph.Op) bool { return s.native[op] })
	if err != nil {
		t.Fatalf("decompose: %v", err)
	}
	return d
}

// env is one backend under test.
type env struct {
	s  *suite
	be backend.Backend
}

// env makes a fresh backend for t (and for t's subtests).
func (s *suite) env(t *testing.T) *env {
	t.Helper()
	be := s.newBackend(t)
	if be == nil {
		t.Fatal("newBackend returned nil")
	}
	return &env{s: s, be: be}
}

// call runs f, a call into the backend, on its own goroutine, so that a panic
// or a hang fails the check with a message instead of killing or stalling
// the test binary.
func call[T any](t testing.TB, what string, f func(ctx context.Context) (T, error)) (T, error) {
	t.Helper()
	type result struct {
		v        T
		err      error
		panicked any
		stack    []byte
	}
	ch := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panicked, r.stack = p, debug.Stack()
			}
			ch <- r
		}()
		r.v, r.err = f(ctx)
	}()
	timer := time.NewTimer(callTimeout + min(callTimeout, 10*time.Second))
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.panicked != nil {
			t.Fatalf("%s panicked (a backend must return an error): %v\n%s", what, r.panicked, r.stack)
		}
		return r.v, r.err
	case <-timer.C:
		t.Fatalf("%s did not return within %v", what, callTimeout)
	}
	panic("unreachable")
}

func (e *env) setTensor(t testing.TB, name string, x *graph.Tensor) error {
	t.Helper()
	_, err := call(t, fmt.Sprintf("SetTensor(%q)", name), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, e.be.SetTensor(ctx, name, x)
	})
	return err
}

func (e *env) mustSet(t testing.TB, name string, x *graph.Tensor) {
	t.Helper()
	if err := e.setTensor(t, name, x); err != nil {
		t.Fatalf("SetTensor(%q, %v): %v", name, x.Type, err)
	}
}

func (e *env) tensor(t testing.TB, name string) (*graph.Tensor, error) {
	t.Helper()
	return call(t, fmt.Sprintf("Tensor(%q)", name), func(ctx context.Context) (*graph.Tensor, error) {
		return e.be.Tensor(ctx, name)
	})
}

func (e *env) mustTensor(t testing.TB, name string) *graph.Tensor {
	t.Helper()
	x, err := e.tensor(t, name)
	if err != nil {
		t.Fatalf("Tensor(%q): %v", name, err)
	}
	if x == nil {
		t.Fatalf("Tensor(%q) returned no tensor and no error", name)
	}
	return x
}

func (e *env) deleteTensor(t testing.TB, name string) error {
	t.Helper()
	_, err := call(t, fmt.Sprintf("DeleteTensor(%q)", name), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, e.be.DeleteTensor(ctx, name)
	})
	return err
}

func (e *env) compile(t testing.TB, g *graph.Graph) (backend.ProgramID, error) {
	t.Helper()
	return call(t, "Compile", func(ctx context.Context) (backend.ProgramID, error) { return e.be.Compile(ctx, g) })
}

func (e *env) mustCompile(t testing.TB, g *graph.Graph) backend.ProgramID {
	t.Helper()
	p, err := e.compile(t, g)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// run runs p and returns a deep copy of its outputs: the suite does not
// assume that a backend's output tensors outlive its next call.
func (e *env) run(t testing.TB, p backend.ProgramID, inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	t.Helper()
	return call(t, fmt.Sprintf("Run(program %d)", p), func(ctx context.Context) (map[string]*graph.Tensor, error) {
		out, err := e.be.Run(ctx, p, inputs)
		if err != nil {
			return nil, err
		}
		cp := make(map[string]*graph.Tensor, len(out))
		for k, v := range out {
			if v != nil {
				v = v.Clone()
			}
			cp[k] = v
		}
		return cp, nil
	})
}

func (e *env) mustRun(t testing.TB, p backend.ProgramID, inputs map[string]*graph.Tensor) map[string]*graph.Tensor {
	t.Helper()
	out, err := e.run(t, p, inputs)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return out
}

func (e *env) release(t testing.TB, p backend.ProgramID) error {
	t.Helper()
	_, err := call(t, fmt.Sprintf("Release(program %d)", p), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, e.be.Release(ctx, p)
	})
	return err
}

// mustBuild builds a graph the suite wrote; an error is a bug in the suite.
func mustBuild(t testing.TB, b *graph.Builder) *graph.Graph {
	t.Helper()
	g, err := b.Build()
	if err != nil {
		t.Fatalf("backendtest: building a check's graph: %v", err)
	}
	return g
}

// residentNames lists the params and state of g.
func residentNames(g *graph.Graph) []string {
	var out []string
	for _, n := range g.Nodes {
		if n.Op == graph.OpParam || n.Op == graph.OpState {
			out = append(out, n.Name)
		}
	}
	return out
}

// inputsOf picks the inputs of g from bindings.
func inputsOf(g *graph.Graph, bind map[string]*graph.Tensor) map[string]*graph.Tensor {
	in := map[string]*graph.Tensor{}
	for _, n := range g.Nodes {
		if n.Op == graph.OpInput {
			in[n.Name] = bind[n.Name]
		}
	}
	return in
}

// setResidents uploads the params and state of g from bindings.
func (e *env) setResidents(t testing.TB, g *graph.Graph, bind map[string]*graph.Tensor) {
	t.Helper()
	for _, name := range residentNames(g) {
		e.mustSet(t, name, bind[name])
	}
}

// deleteResidents removes the params and state of g, reporting failures.
func (e *env) deleteResidents(t testing.TB, g *graph.Graph) {
	t.Helper()
	for _, name := range residentNames(g) {
		if err := e.deleteTensor(t, name); err != nil {
			t.Errorf("DeleteTensor(%q): %v", name, err)
		}
	}
}

// evaluate is graph.Evaluate; an error is a bug in the suite.
func evaluate(t testing.TB, g *graph.Graph, bind map[string]*graph.Tensor) (outs, upds map[string]*graph.Tensor) {
	t.Helper()
	outs, upds, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatalf("backendtest: reference: %v", err)
	}
	return outs, upds
}
