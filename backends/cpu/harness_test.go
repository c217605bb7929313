// Test harness: random bindings, running a graph on the backend with its
// arena poisoned, and comparing every output with graph.Evaluate (the
// float64 reference) within stated tolerances.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Tolerances: |got-want| <= tol*scale*(|want|+1), scale set per case (1 for
// elementwise ops, about the number of terms summed for reductions).
const (
	tolF32 = 1e-5
	tolF64 = 1e-12
)

type genFunc func(name string, t graph.Type, r *rand.Rand) *graph.Tensor

// uniform fills a tensor of t with values in [lo, hi) (i32: integers).
func uniform(t graph.Type, r *rand.Rand, lo, hi float64) *graph.Tensor {
	x := graph.NewTensor(t.DType, t.Shape...)
	for i := 0; i < x.Len(); i++ {
		v := lo + (hi-lo)*r.Float64()
		if t.DType == graph.I32 {
			v = math.Floor(v)
		}
		x.Set(i, v)
	}
	return x
}

// bindAll makes a binding for every input, param and state of g: gen's
// answer when it gives one, else uniform in [-2,2) (i32: [0,5)).
func bindAll(g *graph.Graph, r *rand.Rand, gen genFunc) map[string]*graph.Tensor {
	m := map[string]*graph.Tensor{}
	for _, n := range g.Nodes {
		if n.Op != graph.OpInput && n.Op != graph.OpParam && n.Op != graph.OpState {
			continue
		}
		var t *graph.Tensor
		if gen != nil {
			t = gen(n.Name, n.Type, r)
		}
		if t == nil {
			if n.Type.DType == graph.I32 {
				t = uniform(n.Type, r, 0, 5)
			} else {
				t = uniform(n.Type, r, -2, 2)
			}
		}
		m[n.Name] = t
	}
	return m
}

// load puts the params and state of bindings into b and returns the inputs.
func load(t testing.TB, b *Backend, g *graph.Graph, bind map[string]*graph.Tensor) map[string]*graph.Tensor {
	t.Helper()
	in := map[string]*graph.Tensor{}
	for _, n := range g.Nodes {
		switch n.Op {
		case graph.OpInput:
			in[n.Name] = bind[n.Name]
		case graph.OpParam, graph.OpState:
			if err := b.SetTensor(n.Name, bind[n.Name]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return in
}

// closeTo reports whether got is within tol*scale*(|want|+1) of want; NaNs
// and infinities must match exactly.
func closeTo(got, want, tol float64) bool {
	if math.IsNaN(want) || math.IsInf(want, 0) {
		return got == want || (math.IsNaN(got) && math.IsNaN(want))
	}
	if math.IsNaN(got) {
		return false
	}
	return math.Abs(got-want) <= tol*(math.Abs(want)+1)
}

func compareTensors(got, want *graph.Tensor, tol float64) error {
	if got == nil {
		return fmt.Errorf("missing")
	}
	if !got.Type.Equal(want.Type) {
		return fmt.Errorf("type %v, want %v", got.Type, want.Type)
	}
	if err := got.Check(); err != nil {
		return err
	}
	bad := 0
	var msg string
	for i := 0; i < want.Len(); i++ {
		if !closeTo(got.At(i), want.At(i), tol) {
			if bad == 0 {
				msg = fmt.Sprintf("element %d: got %v, want %v (diff %.3g)", i, got.At(i), want.At(i), got.At(i)-want.At(i))
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements differ; first: %s", bad, want.Len(), msg)
	}
	return nil
}

func tolFor(dt graph.DType, scale float64) float64 {
	switch dt {
	case graph.F32:
		return tolF32 * scale
	case graph.F64:
		return tolF64 * scale
	}
	return 0
}

// checkGraph compiles g on a backend with the given threads, poisons the
// arena, runs it twice (the second run must give the same answer) and
// compares outputs and updated residents with graph.Evaluate.
func checkGraph(t *testing.T, g *graph.Graph, bind map[string]*graph.Tensor, threads int, scale float64) {
	t.Helper()
	wantOut, wantUpd, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	b := New(Options{Threads: threads})
	defer b.Close()
	in := load(t, b, g, bind)
	p, err := b.Compile(g)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	for run := 0; run < 2; run++ {
		if run == 1 {
			// Updates change the residents; restore them.
			load(t, b, g, bind)
		}
		p.poison()
		out, err := p.Run(in)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if len(out) != len(wantOut) {
			t.Fatalf("%d outputs, want %d", len(out), len(wantOut))
		}
		for name, w := range wantOut {
			if err := compareTensors(out[name], w, tolFor(w.DType, scale)); err != nil {
				t.Errorf("threads %d run %d output %q: %v", threads, run, name, err)
			}
		}
		for name, w := range wantUpd {
			got, err := b.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := compareTensors(got, w, tolFor(w.DType, scale)); err != nil {
				t.Errorf("threads %d run %d update of %q: %v", threads, run, name, err)
			}
		}
	}
}
