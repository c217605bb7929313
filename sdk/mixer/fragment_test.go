// Tests of CheckFragment on fragments built in process: one valid
// fragment of each kind, and one fault at a time.

package mixer_test

import (
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// Dims of the CheckFragment tests: B=2, T=4, C=6, 2 teacher heads of dim 3
// with 1 key/value head.
var fragDims = mixer.Dims{Batch: 2, SeqLen: 4, DModel: 6, Heads: 2, KVHeads: 1, DType: graph.F32}

var fragParams = []mixer.ParamSpec{
	{Name: "w", Shape: []int{6, 6}, Init: mixer.Init{Kind: mixer.InitNormal, Std: 0.1}},
	{Name: "b", Shape: []int{6}, Init: mixer.Init{Kind: mixer.InitConstant}},
}

// fragment builds a graph with f, failing the test if it does not build.
func fragment(t *testing.T, f func(b *graph.Builder)) *graph.Graph {
	t.Helper()
	b := graph.NewBuilder()
	f(b)
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const (
	B, T, C = 2, 4, 6
	f32     = graph.F32
)

// forward is a valid Forward fragment, y = u·Wᵀ + b, to which edit adds a
// fault (nil for none).
func forward(edit func(b *graph.Builder, u, y graph.Value) graph.Value) func(*graph.Builder) {
	return func(b *graph.Builder) {
		u := b.Input(mixer.InputU, f32, B, T, C)
		y := b.Add(b.MatMulT(u, b.Param("w", f32, C, C), false, true), b.Param("b", f32, C))
		if edit != nil {
			y = edit(b, u, y)
		}
		if y != graph.NoValue {
			b.Output(mixer.OutputY, y)
		}
	}
}

// step is a valid Step fragment with state/s [B,C].
func step(edit func(b *graph.Builder, s, y, next graph.Value) (graph.Value, graph.Value)) func(*graph.Builder) {
	return func(b *graph.Builder) {
		u := b.Input(mixer.InputU, f32, B, 1, C)
		b.Input(mixer.InputPosition, graph.I32)
		s := b.Input(mixer.StatePrefix+"s", f32, B, C)
		next := b.Add(s, b.Reshape(u, B, C))
		y := b.Reshape(next, B, 1, C)
		if edit != nil {
			y, next = edit(b, s, y, next)
		}
		b.Output(mixer.OutputY, y)
		if next != graph.NoValue {
			b.Output(mixer.StatePrefix+"s", next)
		}
	}
}

func TestCheckFragmentAcceptsValidFragments(t *testing.T) {
	l := mixer.Layer{Dims: fragDims}
	for _, c := range []struct {
		kind mixer.FragmentKind
		f    func(*graph.Builder)
	}{
		{mixer.FragmentForward, forward(nil)},
		{mixer.FragmentForward, forward(func(b *graph.Builder, u, y graph.Value) graph.Value {
			b.Output(mixer.OutputMixed, b.Reshape(y, B, 1, T, C))
			return y
		})},
		{mixer.FragmentMixingMatrix, func(b *graph.Builder) {
			u := b.Input(mixer.InputU, f32, B, T, C)
			b.Output(mixer.OutputMatrix, b.Zeros(f32, B, 3, T, T))
			b.Output(mixer.OutputValues, b.Reshape(u, B, 3, T, 2))
		}},
		{mixer.FragmentStep, step(nil)},
		{mixer.FragmentInitFromTeacher, func(b *graph.Builder) {
			q := b.Input(mixer.TeacherPrefix+"q_proj.weight", f32, 6, 6)
			k := b.Input(mixer.TeacherPrefix+"k_proj.weight", f32, 3, 6)
			b.Output("w", b.Add(q, b.Reshape(b.ReduceSum(k, 0), 1, 6)))
			b.Output("b", b.Input(mixer.TeacherPrefix+"o_proj.bias", f32, 6))
		}},
	} {
		if err := mixer.CheckFragment(c.kind, l, fragParams, fragment(t, c.f)); err != nil {
			t.Errorf("a valid %s fragment: %v", c.kind, err)
		}
	}
}

func TestCheckFragmentRefusesFaults(t *testing.T) {
	l := mixer.Layer{Dims: fragDims}
	for _, c := range []struct {
		name string
		kind mixer.FragmentKind
		f    func(*graph.Builder)
		want []string
	}{
		{"update", mixer.FragmentForward, forward(func(b *graph.Builder, u, y graph.Value) graph.Value {
			w, _ := b.Lookup("w")
			b.Update(w, b.MulScalar(w, 2))
			return y
		}), []string{"Forward fragment", "update", `"w"`}},
		{"extra input", mixer.FragmentForward, forward(func(b *graph.Builder, u, y graph.Value) graph.Value {
			return b.Mul(y, b.Input("mask", f32, B, T, C))
		}), []string{`input "mask"`, `only "u"`}},
		{"u of the wrong type", mixer.FragmentForward, func(b *graph.Builder) {
			u := b.Input(mixer.InputU, f32, B, T+1, C)
			b.Output(mixer.OutputY, b.SliceAxis(u, 1, 0, T))
		}, []string{`input "u" as f32[2,5,6]`, "expected f32[2,4,6]"}},
		{"no y", mixer.FragmentForward, forward(func(b *graph.Builder, u, y graph.Value) graph.Value {
			b.Output("out", y)
			return graph.NoValue
		}), []string{`does not output "y"`, `outputs "out"`}},
		{"y of the wrong shape", mixer.FragmentForward, forward(func(b *graph.Builder, u, y graph.Value) graph.Value {
			return b.ReduceSum(y, 2)
		}), []string{`outputs "y" as f32[2,4,1], expected f32[2,4,6]`}},
		{"undeclared param", mixer.FragmentForward, forward(func(b *graph.Builder, u, y graph.Value) graph.Value {
			return b.Mul(y, b.Param("gate", f32, C))
		}), []string{`param "gate"`, "does not declare"}},
		{"param of another shape", mixer.FragmentForward, func(b *graph.Builder) {
			u := b.Input(mixer.InputU, f32, B, T, C)
			b.Output(mixer.OutputY, b.Add(u, b.Param("b", f32, 1, C)))
		}, []string{`param "b" as f32[1,6]`, "declared as f32[6]"}},
		{"state node", mixer.FragmentForward, forward(func(b *graph.Builder, u, y graph.Value) graph.Value {
			return b.Add(y, b.State("cache", f32, C))
		}), []string{`state "cache"`}},
		{"no u", mixer.FragmentForward, func(b *graph.Builder) {
			b.Output(mixer.OutputY, b.Zeros(f32, B, T, C))
		}, []string{`does not read input "u"`}},
		{"matrix and values disagree", mixer.FragmentMixingMatrix, func(b *graph.Builder) {
			u := b.Input(mixer.InputU, f32, B, T, C)
			b.Output(mixer.OutputMatrix, b.Zeros(f32, B, 2, T, T))
			b.Output(mixer.OutputValues, b.Reshape(u, B, 3, T, 2))
		}, []string{"2 heads", "3"}},
		{"matrix not square", mixer.FragmentMixingMatrix, func(b *graph.Builder) {
			u := b.Input(mixer.InputU, f32, B, T, C)
			b.Output(mixer.OutputMatrix, b.Zeros(f32, B, 1, T, T+1))
			b.Output(mixer.OutputValues, b.Reshape(u, B, 1, T, C))
		}, []string{`"matrix"`, "f32[2,H,4,4]"}},
		{"no values", mixer.FragmentMixingMatrix, func(b *graph.Builder) {
			b.Input(mixer.InputU, f32, B, T, C)
			b.Output(mixer.OutputMatrix, b.Zeros(f32, B, 1, T, T))
		}, []string{`does not output "values"`}},
		{"state not returned", mixer.FragmentStep, step(func(b *graph.Builder, s, y, next graph.Value) (graph.Value, graph.Value) {
			return y, graph.NoValue
		}), []string{"Step fragment", `does not output "state/s"`}},
		{"state returned with another type", mixer.FragmentStep, step(func(b *graph.Builder, s, y, next graph.Value) (graph.Value, graph.Value) {
			b.Output(mixer.StatePrefix+"s", b.Reshape(next, B, 1, C))
			return y, graph.NoValue
		}), []string{`outputs "state/s" as f32[2,1,6], expected f32[2,6]`}},
		{"state output without input", mixer.FragmentStep, step(func(b *graph.Builder, s, y, next graph.Value) (graph.Value, graph.Value) {
			b.Output(mixer.StatePrefix+"extra", next)
			return y, next
		}), []string{`state "state/extra"`}},
		{"position of the wrong type", mixer.FragmentStep, func(b *graph.Builder) {
			u := b.Input(mixer.InputU, f32, B, 1, C)
			p := b.Input(mixer.InputPosition, f32)
			b.Output(mixer.OutputY, b.Add(u, p))
		}, []string{`input "position" as f32[]`, "expected i32[]"}},
		{"teacher output not a param", mixer.FragmentInitFromTeacher, func(b *graph.Builder) {
			b.Output("q", b.Input(mixer.TeacherPrefix+"q_proj.weight", f32, 6, 6))
		}, []string{"InitFromTeacher fragment", `"q", which is not a declared param`}},
		{"teacher output of the wrong shape", mixer.FragmentInitFromTeacher, func(b *graph.Builder) {
			b.Output("w", b.Input(mixer.TeacherPrefix+"k_proj.weight", f32, 3, 6))
		}, []string{`outputs "w" as f32[3,6], expected f32[6,6]`}},
		{"unknown teacher role", mixer.FragmentInitFromTeacher, func(b *graph.Builder) {
			b.Output("b", b.Input(mixer.TeacherPrefix+"dense.bias", f32, 6))
		}, []string{`unknown teacher parameter "teacher/dense.bias"`}},
		{"teacher input of the wrong shape", mixer.FragmentInitFromTeacher, func(b *graph.Builder) {
			k := b.Input(mixer.TeacherPrefix+"k_proj.weight", f32, 6, 6)
			b.Output("w", k)
		}, []string{`input "teacher/k_proj.weight" as f32[6,6], expected f32[3,6]`}},
		{"teacher reads a param", mixer.FragmentInitFromTeacher, func(b *graph.Builder) {
			b.Output("b", b.Param("b", f32, 6))
		}, []string{`reads param "b"`}},
		{"teacher outputs nothing", mixer.FragmentInitFromTeacher, func(b *graph.Builder) {
			b.Input(mixer.TeacherPrefix+"q_proj.weight", f32, 6, 6)
		}, []string{"outputs nothing"}},
	} {
		err := mixer.CheckFragment(c.kind, l, fragParams, fragment(t, c.f))
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, s := range append([]string{c.kind.String() + " fragment"}, c.want...) {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not hold %q", c.name, err, s)
			}
		}
	}
}

func TestCheckFragmentRefusesAnInvalidGraph(t *testing.T) {
	g := fragment(t, forward(nil))
	g.Nodes[len(g.Nodes)-1].Inputs[0] = graph.Value(len(g.Nodes)) // a forward reference
	if err := mixer.CheckFragment(mixer.FragmentForward, mixer.Layer{Dims: fragDims}, fragParams, g); err == nil {
		t.Error("an invalid graph was accepted")
	}
	if err := mixer.CheckFragment(mixer.FragmentForward, mixer.Layer{Dims: fragDims}, fragParams, nil); err == nil {
		t.Error("a nil graph was accepted")
	}
}
