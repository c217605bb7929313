// The shape of a fragment: which placeholders each kind of fragment may
// read and which outputs it must write, checked on every fragment that
// comes from a plugin (untrusted) and by the conformance kit.

package mixer

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// FragmentKind is which of a mixer's fragments a graph is.
type FragmentKind uint8

const (
	FragmentForward         FragmentKind = iota + 1 // Mixer.Forward
	FragmentMixingMatrix                            // Mixer.MixingMatrix
	FragmentStep                                    // Mixer.Step
	FragmentInitFromTeacher                         // Mixer.InitFromTeacher
)

var fragmentKindNames = [...]string{
	FragmentForward:         "Forward",
	FragmentMixingMatrix:    "MixingMatrix",
	FragmentStep:            "Step",
	FragmentInitFromTeacher: "InitFromTeacher",
}

// String is the name of the Mixer method that builds the fragment.
func (k FragmentKind) String() string {
	if k >= FragmentForward && int(k) < len(fragmentKindNames) {
		return fragmentKindNames[k]
	}
	return fmt.Sprintf("FragmentKind(%d)", uint8(k))
}

// Valid reports whether k is a known kind.
func (k FragmentKind) Valid() bool { return k >= FragmentForward && k <= FragmentInitFromTeacher }

// Has reports whether the fragment of kind is available: Forward always,
// the others where the capability is declared.
func (c Capabilities) Has(kind FragmentKind) bool {
	switch kind {
	case FragmentForward:
		return true
	case FragmentMixingMatrix:
		return c.MixingMatrix
	case FragmentStep:
		return c.Step
	case FragmentInitFromTeacher:
		return c.InitFromTeacher
	}
	return false
}

// capabilityError is the error of a call for a fragment the mixer does not
// declare.
func capabilityError(name string, kind FragmentKind) error {
	return fmt.Errorf("mixer %q does not declare the %s capability (Info.Capabilities.%s is false), so it has no %s fragment", name, kind, kind, kind)
}

// TeacherRoles are the names (after TeacherPrefix) of the teacher
// parameters an InitFromTeacher fragment may read.
var TeacherRoles = []string{
	"q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight",
	"q_proj.bias", "k_proj.bias", "v_proj.bias", "o_proj.bias",
}

// teacherShape is the shape of a teacher parameter of a layer with dims d,
// in PyTorch layout [out, in], with head dim C/Heads: q and o span Heads
// heads, k and v KVHeads (Heads when KVHeads is 0).
func teacherShape(role string, d Dims) (graph.Shape, error) {
	if d.Heads <= 0 || d.DModel%d.Heads != 0 {
		return nil, fmt.Errorf("the layer's dims have %d teacher heads, which do not divide d_model %d", d.Heads, d.DModel)
	}
	hd := d.DModel / d.Heads
	kv := d.KVHeads
	if kv == 0 {
		kv = d.Heads
	}
	c := d.DModel
	switch role {
	case "q_proj.weight":
		return graph.Shape{d.Heads * hd, c}, nil
	case "k_proj.weight", "v_proj.weight":
		return graph.Shape{kv * hd, c}, nil
	case "o_proj.weight":
		return graph.Shape{c, d.Heads * hd}, nil
	case "q_proj.bias":
		return graph.Shape{d.Heads * hd}, nil
	case "k_proj.bias", "v_proj.bias":
		return graph.Shape{kv * hd}, nil
	case "o_proj.bias":
		return graph.Shape{c}, nil
	}
	return nil, fmt.Errorf("unknown teacher parameter %q; expected one of %s", TeacherPrefix+role, strings.Join(prefixed(TeacherPrefix, TeacherRoles), ", "))
}

func prefixed(p string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p + n
	}
	return out
}

// CheckFragment checks that g is a fragment of kind for the layer l whose
// parameters are params: what a host relies on before it inlines a
// fragment from a plugin (after graph.Decode has validated it as a graph).
// g must be a valid graph (graph.DefaultLimits) without updates and
// without state nodes; every param it reads is one of params, of the
// declared shape and of dtype l.Dims.DType; and its inputs and outputs are
// those of its kind, with B, T, C = l.Dims.Batch, SeqLen, DModel and every
// floating input of dtype l.Dims.DType:
//
//   - Forward reads u [B,T,C] and outputs y [B,T,C] and, for a mixer with a
//     matrix form, mixed [B,H,T,P].
//   - MixingMatrix reads u [B,T,C] and outputs matrix [B,H,T,T] and values
//     [B,H,T,P], for some H and P.
//   - Step reads u [B,1,C], possibly position (i32 []) and state/* inputs,
//     and outputs y [B,1,C] and exactly its state/* inputs, each of the
//     type of the input of that name.
//   - InitFromTeacher reads teacher/* inputs (TeacherRoles, in PyTorch
//     layout with head dim C/Heads) and no params, and outputs at least one
//     param, each named as a declared param and of its shape.
//
// The error names the fragment and every fault found; a caller prefixes
// the mixer's name.
func CheckFragment(kind FragmentKind, l Layer, params []ParamSpec, g *graph.Graph) error {
	if !kind.Valid() {
		return fmt.Errorf("unknown fragment kind %d", uint8(kind))
	}
	if err := checkFragment(kind, l, params, g); err != nil {
		return fmt.Errorf("%s fragment: %w", kind, err)
	}
	return nil
}

func checkFragment(kind FragmentKind, l Layer, params []ParamSpec, g *graph.Graph) error {
	if g == nil {
		return errors.New("no graph")
	}
	if err := g.Validate(graph.DefaultLimits); err != nil {
		return err
	}
	d := l.Dims
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(g.Updates) > 0 {
		fail("a fragment may not update anything, found %d updates (the first of %q)", len(g.Updates), g.Nodes[g.Updates[0].Target].Name)
	}

	declared := make(map[string]ParamSpec, len(params))
	for _, p := range params {
		declared[p.Name] = p
	}
	b, t, c := d.Batch, d.SeqLen, d.DModel
	if kind == FragmentStep {
		t = 1
	}
	u := graph.Type{DType: d.DType, Shape: graph.Shape{b, t, c}}

	inputs := map[string]graph.Type{}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		switch n.Op {
		case graph.OpState:
			fail("node %d is state %q; a fragment takes its state as %s* inputs", i, n.Name, StatePrefix)
		case graph.OpParam:
			if kind == FragmentInitFromTeacher {
				fail("reads param %q; it may read only %s* inputs", n.Name, TeacherPrefix)
				continue
			}
			p, ok := declared[n.Name]
			want := graph.Type{DType: d.DType, Shape: graph.Shape(p.Shape)}
			switch {
			case !ok:
				fail("reads param %q, which Params does not declare", n.Name)
			case !n.Type.Equal(want):
				fail("reads param %q as %v, declared as %v", n.Name, n.Type, want)
			}
		case graph.OpInput:
			inputs[n.Name] = n.Type
			if err := checkInput(kind, d, u, n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if kind != FragmentInitFromTeacher {
		if _, ok := inputs[InputU]; !ok {
			fail("does not read input %q", InputU)
		}
	}

	outputs := map[string]graph.Type{}
	for _, o := range g.Outputs {
		outputs[o.Name] = g.Nodes[o.Value].Type
	}
	want := func(name string, w graph.Type) {
		ot, ok := outputs[name]
		switch {
		case !ok:
			fail("does not output %q (%v)", name, w)
		case !ot.Equal(w):
			fail("outputs %q as %v, expected %v", name, ot, w)
		}
	}
	// heads checks a [B,H,T,X] output and returns H and X.
	heads := func(name string) (h, x int, ok bool) {
		ot, ok := outputs[name]
		if !ok {
			fail("does not output %q (%s[%d,H,%d,…])", name, d.DType, b, d.SeqLen)
			return 0, 0, false
		}
		s := ot.Shape
		if ot.DType != d.DType || len(s) != 4 || s[0] != b || s[2] != d.SeqLen {
			fail("outputs %q as %v, expected %s[%d,H,%d,…]", name, ot, d.DType, b, d.SeqLen)
			return 0, 0, false
		}
		return s[1], s[3], true
	}
	allowed := map[string]bool{}
	switch kind {
	case FragmentForward:
		want(OutputY, u)
		allowed[OutputY] = true
		if _, ok := outputs[OutputMixed]; ok {
			heads(OutputMixed)
			allowed[OutputMixed] = true
		}
	case FragmentMixingMatrix:
		hm, tm, okm := heads(OutputMatrix)
		hv, _, okv := heads(OutputValues)
		if okm && tm != d.SeqLen {
			fail("outputs %q as %v, expected %s[%d,H,%d,%d]", OutputMatrix, outputs[OutputMatrix], d.DType, b, d.SeqLen, d.SeqLen)
		}
		if okm && okv && hm != hv {
			fail("outputs %q with %d heads and %q with %d; expected the same", OutputMatrix, hm, OutputValues, hv)
		}
		allowed[OutputMatrix], allowed[OutputValues] = true, true
	case FragmentStep:
		want(OutputY, u)
		allowed[OutputY] = true
		for _, name := range sortedKeys(inputs) {
			if strings.HasPrefix(name, StatePrefix) {
				want(name, inputs[name])
				allowed[name] = true
			}
		}
	case FragmentInitFromTeacher:
		if len(outputs) == 0 {
			fail("outputs nothing; expected some of the declared params")
		}
		for _, name := range sortedKeys(outputs) {
			p, ok := declared[name]
			if !ok {
				continue
			}
			allowed[name] = true
			want(name, graph.Type{DType: d.DType, Shape: graph.Shape(p.Shape)})
		}
	}
	for _, o := range g.Outputs {
		if allowed[o.Name] {
			continue
		}
		switch {
		case kind == FragmentStep && strings.HasPrefix(o.Name, StatePrefix):
			fail("outputs state %q, which it does not take as an input", o.Name)
		case kind == FragmentInitFromTeacher:
			fail("outputs %q, which is not a declared param", o.Name)
		default:
			fail("outputs %q, which a %s fragment does not have", o.Name, kind)
		}
	}
	return errors.Join(errs...)
}

// checkInput checks one OpInput node n of a fragment of kind.
func checkInput(kind FragmentKind, d Dims, u graph.Type, n *graph.Node) error {
	wrong := func(w graph.Type) error {
		if n.Type.Equal(w) {
			return nil
		}
		return fmt.Errorf("reads input %q as %v, expected %v", n.Name, n.Type, w)
	}
	switch kind {
	case FragmentForward, FragmentMixingMatrix:
		if n.Name == InputU {
			return wrong(u)
		}
		return fmt.Errorf("reads input %q; a %s fragment reads only %q", n.Name, kind, InputU)
	case FragmentStep:
		switch {
		case n.Name == InputU:
			return wrong(u)
		case n.Name == InputPosition:
			return wrong(graph.Type{DType: graph.I32, Shape: graph.Shape{}})
		case strings.HasPrefix(n.Name, StatePrefix) && len(n.Name) > len(StatePrefix):
			return nil // any type; the outputs must match it
		}
		return fmt.Errorf("reads input %q; a Step fragment reads only %q, %q and %s* inputs", n.Name, InputU, InputPosition, StatePrefix)
	case FragmentInitFromTeacher:
		role, ok := strings.CutPrefix(n.Name, TeacherPrefix)
		if !ok {
			return fmt.Errorf("reads input %q; an InitFromTeacher fragment reads only %s* inputs", n.Name, TeacherPrefix)
		}
		s, err := teacherShape(role, d)
		if err != nil {
			return fmt.Errorf("reads input %q: %v", n.Name, err)
		}
		return wrong(graph.Type{DType: d.DType, Shape: s})
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
