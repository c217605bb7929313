// Package mixertest is the conformance kit for mixers: one call checks that
// a mixer's fragments are valid and well typed and that its forms agree.
//
//	func TestConformance(t *testing.T) {
//		mixertest.Run(t, myMixer{}, []mixertest.Case{{Name: "small", Layer: mixer.Layer{Config: cfg, Dims: dims}}})
//	}
//
// Every numerical check runs in float64 on sdk/graph's reference evaluator,
// so a mixer is checked independently of any backend: the Dims of each case
// are used with DType f64. Keep the cases small (T of a few dozen).
package mixertest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Case is one configuration to check.
type Case struct {
	Name  string
	Layer mixer.Layer
}

// Tolerance of the agreement checks, relative to the largest magnitude of
// the reference tensor (float64 throughout).
const Tolerance = 1e-9

// Run checks m on every case: Info; parameter specs; the Forward fragment
// (types, causality, gradients reaching every parameter); and, where
// declared, MixingMatrix (Forward's mixed equals matrix·values, the matrix
// is causal), Step (T steps equal Forward) and InitFromTeacher (outputs are
// parameters of their declared shapes). Params must be deterministic.
func Run(t *testing.T, m mixer.Mixer, cases []Case) {
	ctx := context.Background()
	info, err := m.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	t.Run("info", func(t *testing.T) {
		if info.Name == "" {
			t.Error("Info has no name")
		}
		if info.APIVersion != mixer.APIVersion {
			t.Errorf("Info reports API version %d, expected %d", info.APIVersion, mixer.APIVersion)
		}
		seen := map[string]bool{}
		for _, a := range info.Schema.Attributes {
			if a.Name == "" || seen[a.Name] {
				t.Errorf("schema attribute %q is empty or repeated", a.Name)
			}
			seen[a.Name] = true
			if a.Default != cty.NilVal && !a.Default.IsNull() {
				if _, err := convert.Convert(a.Default, a.Type); err != nil {
					t.Errorf("schema attribute %q: default %#v is not a %s: %v", a.Name, a.Default, a.Type.FriendlyName(), err)
				}
			}
		}
	})
	for _, c := range cases {
		l := c.Layer
		l.Dims.DType = graph.F64
		t.Run(c.Name, func(t *testing.T) { runCase(t, m, info, l) })
	}
}

func runCase(t *testing.T, m mixer.Mixer, info *mixer.Info, l mixer.Layer) {
	ctx := context.Background()
	specs, err := m.Params(ctx, l)
	if err != nil {
		t.Fatalf("Params: %v", err)
	}
	again, err := m.Params(ctx, l)
	if err != nil || fmt.Sprint(again) != fmt.Sprint(specs) {
		t.Errorf("Params is not deterministic: %v then %v (%v)", specs, again, err)
	}
	names := map[string]mixer.ParamSpec{}
	for _, s := range specs {
		if err := s.Check(); err != nil {
			t.Errorf("param spec: %v", err)
		}
		if _, dup := names[s.Name]; dup {
			t.Errorf("param %q is declared twice", s.Name)
		}
		names[s.Name] = s
	}
	d := l.Dims
	r := rand.New(rand.NewPCG(1, 2))
	bind := map[string]*graph.Tensor{}
	for _, s := range specs {
		v, err := s.Realize("p."+s.Name, graph.F64, 7)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := s.Realize("p."+s.Name, graph.F64, 7)
		for i := range v.F64 {
			if v.F64[i] != w.F64[i] {
				t.Fatalf("param %q: initialisation is not deterministic for a seed", s.Name)
			}
		}
		bind["p."+s.Name] = v
	}
	u := randTensor(r, d.Batch, d.SeqLen, d.DModel)
	bind["u"] = u

	fwd, err := m.Forward(ctx, l)
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	if err := mixer.CheckFragment(mixer.FragmentForward, l, specs, fwd); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	fwdOut := evalFragment(t, "Forward", fwd, names, bind, func(b *graph.Builder) map[string]graph.Value {
		return map[string]graph.Value{mixer.InputU: b.Input("u", graph.F64, d.Batch, d.SeqLen, d.DModel)}
	})
	y := fwdOut[mixer.OutputY]
	if y == nil || !y.Shape.Equal(graph.Shape{d.Batch, d.SeqLen, d.DModel}) {
		t.Fatalf("Forward: output %q missing or not [%d,%d,%d]", mixer.OutputY, d.Batch, d.SeqLen, d.DModel)
	}

	t.Run("causal", func(t *testing.T) {
		s := d.SeqLen / 2
		pert := cloneBind(bind)
		for b := 0; b < d.Batch; b++ {
			for c := 0; c < d.DModel; c++ {
				pert["u"].F64[(b*d.SeqLen+s)*d.DModel+c] += 1
			}
		}
		y2 := evalFragment(t, "Forward", fwd, names, pert, func(b *graph.Builder) map[string]graph.Value {
			return map[string]graph.Value{mixer.InputU: b.Input("u", graph.F64, d.Batch, d.SeqLen, d.DModel)}
		})[mixer.OutputY]
		for b := 0; b < d.Batch; b++ {
			for tt := 0; tt < s; tt++ {
				for c := 0; c < d.DModel; c++ {
					i := (b*d.SeqLen+tt)*d.DModel + c
					if y.F64[i] != y2.F64[i] {
						t.Fatalf("output at t=%d changed when the input at t=%d changed: the mixer is not causal", tt, s)
					}
				}
			}
		}
	})

	t.Run("gradients", func(t *testing.T) {
		b := graph.NewBuilder()
		uv := b.Input("u", graph.F64, d.Batch, d.SeqLen, d.DModel)
		out, err := b.Inline(fwd, "p.", map[string]graph.Value{mixer.InputU: uv})
		if err != nil {
			t.Fatal(err)
		}
		w := b.Const(graph.F64, []int{d.Batch, d.SeqLen, d.DModel}, randTensor(r, d.Batch, d.SeqLen, d.DModel).F64)
		loss := b.Sum(b.Mul(out[mixer.OutputY], w))
		var wrt []graph.Value
		var wrtNames []string
		for _, s := range specs {
			if v, ok := b.Lookup("p." + s.Name); ok {
				wrt = append(wrt, v)
				wrtNames = append(wrtNames, s.Name)
			}
		}
		grads, err := graph.Grad(b, loss, wrt)
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range grads {
			b.Output(wrtNames[i], g)
		}
		g, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		res, _, err := graph.Evaluate(g, bind)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range wrtNames {
			nonzero := false
			for _, v := range res[n].F64 {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("gradient of %q is not finite", n)
				}
				nonzero = nonzero || v != 0
			}
			if !nonzero {
				t.Errorf("no gradient reaches param %q", n)
			}
		}
		for _, s := range specs {
			if _, ok := b.Lookup("p." + s.Name); !ok {
				t.Errorf("param %q is declared but Forward does not use it", s.Name)
			}
		}
	})

	if info.Capabilities.MixingMatrix {
		t.Run("mixing_matrix", func(t *testing.T) {
			mm, err := m.MixingMatrix(ctx, l)
			if err != nil {
				t.Fatalf("MixingMatrix: %v", err)
			}
			if err := mixer.CheckFragment(mixer.FragmentMixingMatrix, l, specs, mm); err != nil {
				t.Fatalf("MixingMatrix: %v", err)
			}
			out := evalFragment(t, "MixingMatrix", mm, names, bind, func(b *graph.Builder) map[string]graph.Value {
				return map[string]graph.Value{mixer.InputU: b.Input("u", graph.F64, d.Batch, d.SeqLen, d.DModel)}
			})
			mat, vals, mixed := out[mixer.OutputMatrix], out[mixer.OutputValues], fwdOut[mixer.OutputMixed]
			if mat == nil || vals == nil || mixed == nil {
				t.Fatalf("a mixer with a matrix form outputs %q and %q from MixingMatrix and %q from Forward", mixer.OutputMatrix, mixer.OutputValues, mixer.OutputMixed)
			}
			if len(mat.Shape) != 4 || mat.Shape[0] != d.Batch || mat.Shape[2] != d.SeqLen || mat.Shape[3] != d.SeqLen {
				t.Fatalf("matrix has shape %v, expected [%d,H,%d,%d]", mat.Shape, d.Batch, d.SeqLen, d.SeqLen)
			}
			h, tt := mat.Shape[1], d.SeqLen
			if len(vals.Shape) != 4 || vals.Shape[1] != h || vals.Shape[2] != tt || !vals.Shape.Equal(mixed.Shape) {
				t.Fatalf("values %v and mixed %v must both be [%d,%d,%d,P]", vals.Shape, mixed.Shape, d.Batch, h, tt)
			}
			p := vals.Shape[3]
			want := make([]float64, len(mixed.F64))
			for bh := 0; bh < d.Batch*h; bh++ {
				for i := 0; i < tt; i++ {
					for j := 0; j < tt; j++ {
						a := mat.F64[(bh*tt+i)*tt+j]
						if j > i && a != 0 {
							t.Fatalf("matrix[%d,%d] = %v above the diagonal: not causal", i, j, a)
						}
						for c := 0; c < p; c++ {
							want[(bh*tt+i)*p+c] += a * vals.F64[(bh*tt+j)*p+c]
						}
					}
				}
			}
			if e := relErr(mixed.F64, want); e > Tolerance {
				t.Errorf("Forward's mixed differs from matrix·values by %.3g (relative)", e)
			}
		})
	}

	if info.Capabilities.Step {
		t.Run("step", func(t *testing.T) { checkStep(t, m, l, specs, names, bind, y) })
	}

	if info.Capabilities.InitFromTeacher {
		t.Run("init_from_teacher", func(t *testing.T) {
			g, err := m.InitFromTeacher(ctx, l)
			if err != nil {
				t.Fatalf("InitFromTeacher: %v", err)
			}
			if err := mixer.CheckFragment(mixer.FragmentInitFromTeacher, l, specs, g); err != nil {
				t.Fatalf("InitFromTeacher: %v", err)
			}
			for _, n := range g.Nodes {
				if n.Op == graph.OpParam || n.Op == graph.OpState {
					t.Errorf("InitFromTeacher reads %s %q; it may read only %s* inputs", n.Op, n.Name, mixer.TeacherPrefix)
				}
				if n.Op == graph.OpInput && len(n.Name) <= len(mixer.TeacherPrefix) || n.Op == graph.OpInput && n.Name[:len(mixer.TeacherPrefix)] != mixer.TeacherPrefix {
					t.Errorf("InitFromTeacher input %q does not start with %q", n.Name, mixer.TeacherPrefix)
				}
			}
			for _, o := range g.Outputs {
				s, ok := names[o.Name]
				if !ok {
					t.Errorf("InitFromTeacher outputs %q, which is not a declared param", o.Name)
					continue
				}
				if got := g.Type(o.Value).Shape; !got.Equal(s.Shape) {
					t.Errorf("InitFromTeacher outputs %q of shape %v, the param is %v", o.Name, got, graph.Shape(s.Shape))
				}
			}
		})
	}
}

// checkStep runs the Step fragment over every token from zero states and
// compares its outputs with Forward's.
func checkStep(t *testing.T, m mixer.Mixer, l mixer.Layer, specs []mixer.ParamSpec, names map[string]mixer.ParamSpec, bind map[string]*graph.Tensor, y *graph.Tensor) {
	d := l.Dims
	sg, err := m.Step(context.Background(), l)
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	if err := mixer.CheckFragment(mixer.FragmentStep, l, specs, sg); err != nil {
		t.Fatalf("Step: %v", err)
	}
	states := map[string]*graph.Tensor{}
	for _, n := range sg.Nodes {
		if n.Op == graph.OpInput && len(n.Name) > len(mixer.StatePrefix) && n.Name[:len(mixer.StatePrefix)] == mixer.StatePrefix {
			states[n.Name] = graph.NewTensor(graph.F64, n.Type.Shape...)
		}
	}
	got := make([]float64, 0, len(y.F64))
	steps := make([][]float64, d.SeqLen)
	for tt := 0; tt < d.SeqLen; tt++ {
		sb := cloneBind(bind)
		ut := graph.NewTensor(graph.F64, d.Batch, 1, d.DModel)
		for b := 0; b < d.Batch; b++ {
			copy(ut.F64[b*d.DModel:(b+1)*d.DModel], bind["u"].F64[(b*d.SeqLen+tt)*d.DModel:])
		}
		sb["u_step"], sb["position"] = ut, graph.FromI32([]int32{int32(tt)})
		for k, v := range states {
			sb[k] = v
		}
		out := evalFragment(t, "Step", sg, names, sb, func(b *graph.Builder) map[string]graph.Value {
			in := map[string]graph.Value{
				mixer.InputU:        b.Input("u_step", graph.F64, d.Batch, 1, d.DModel),
				mixer.InputPosition: b.Input("position", graph.I32),
			}
			for k, v := range states {
				in[k] = b.Input(k, graph.F64, v.Shape...)
			}
			return in
		})
		for k := range states {
			next, ok := out[k]
			if !ok {
				t.Fatalf("Step takes state %q but does not output it", k)
			}
			states[k] = next
		}
		steps[tt] = out[mixer.OutputY].F64
	}
	for b := 0; b < d.Batch; b++ {
		for tt := 0; tt < d.SeqLen; tt++ {
			got = append(got, steps[tt][b*d.DModel:(b+1)*d.DModel]...)
		}
	}
	if e := relErr(got, y.F64); e > Tolerance {
		t.Errorf("Step over %d tokens differs from Forward by %.3g (relative)", d.SeqLen, e)
	}
}

// evalFragment inlines frag into a fresh builder whose inputs inputs makes,
// outputs every fragment output, and evaluates it on the reference.
func evalFragment(t *testing.T, what string, frag *graph.Graph, names map[string]mixer.ParamSpec, bind map[string]*graph.Tensor, inputs func(b *graph.Builder) map[string]graph.Value) map[string]*graph.Tensor {
	t.Helper()
	for _, n := range frag.Nodes {
		if n.Op == graph.OpParam {
			if _, ok := names[n.Name]; !ok {
				t.Fatalf("%s reads param %q, which Params does not declare", what, n.Name)
			}
		}
	}
	b := graph.NewBuilder()
	out, err := b.Inline(frag, "p.", inputs(b))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for k, v := range out {
		b.Output(k, v)
	}
	g, err := b.Build()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	used := map[string]*graph.Tensor{}
	for _, n := range g.Nodes {
		if n.Op == graph.OpInput || n.Op == graph.OpParam {
			used[n.Name] = bind[n.Name]
		}
	}
	res, _, err := graph.Evaluate(g, used)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return res
}

func randTensor(r *rand.Rand, shape ...int) *graph.Tensor {
	t := graph.NewTensor(graph.F64, shape...)
	for i := range t.F64 {
		t.F64[i] = r.NormFloat64()
	}
	return t
}

func cloneBind(m map[string]*graph.Tensor) map[string]*graph.Tensor {
	out := make(map[string]*graph.Tensor, len(m))
	for k, v := range m {
		out[k] = v.Clone()
	}
	return out
}

func relErr(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	scale, worst := 0.0, 0.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	for i := range got {
		worst = math.Max(worst, math.Abs(got[i]-want[i]))
	}
	if scale == 0 {
		return worst
	}
	return worst / scale
}
