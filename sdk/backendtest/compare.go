package backendtest

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Base tolerances: the relative error allowed for one rounding-dominated
// result (an elementwise op); multiplied by a check's scale or by the size
// of the sums it computes. i32 results are always exact.
const (
	tolF32 = 1e-5
	tolF64 = 1e-12
)

func baseTol(dt graph.DType) float64 {
	switch dt {
	case graph.F32:
		return tolF32
	case graph.F64:
		return tolF64
	}
	return 0
}

// tolerance says how close a backend's result must be to the reference.
//
//   - exact: equal values (NaN matches NaN, -0 matches +0): for ops that only
//     move, select, compare or convert values, and for every i32 result.
//   - otherwise, element i must satisfy
//     |got − want| ≤ base(dtype) · scale · (|want| + m_i),
//     where m_i is Σ|terms| of the sums behind element i when the check
//     computes it (mag), else 1.
type tolerance struct {
	exact bool
	scale float64
	mag   *graph.Tensor
}

func (tl tolerance) bound(dt graph.DType, want float64, i int) float64 {
	m := 1.0
	if tl.mag != nil {
		m = math.Abs(tl.mag.At(i))
	}
	s := tl.scale
	if s == 0 {
		s = 1
	}
	return baseTol(dt) * s * (math.Abs(want) + m)
}

func (tl tolerance) String() string {
	switch {
	case tl.exact:
		return "exact"
	case tl.mag != nil:
		return fmt.Sprintf("%g·base·(|want|+Σ|terms|)", max(tl.scale, 1))
	}
	return fmt.Sprintf("%g·base·(|want|+1)", max(tl.scale, 1))
}

// compareTensor checks got against want within tl and describes the first
// few elements that differ.
func compareTensor(got, want *graph.Tensor, tl tolerance) error {
	if got == nil {
		return fmt.Errorf("missing (want %v)", want.Type)
	}
	if !got.Type.Equal(want.Type) {
		return fmt.Errorf("type %v, want %v", got.Type, want.Type)
	}
	if err := got.Check(); err != nil {
		return err
	}
	exact := tl.exact || want.DType == graph.I32
	bad := 0
	var first []string
	for i := 0; i < want.Len(); i++ {
		g, w := got.At(i), want.At(i)
		ok := false
		switch {
		case math.IsNaN(w) || math.IsNaN(g):
			ok = math.IsNaN(w) && math.IsNaN(g)
		case math.IsInf(w, 0) || exact:
			ok = g == w
		default:
			b := tl.bound(want.DType, w, i)
			ok = math.Abs(g-w) <= b
		}
		if ok {
			continue
		}
		bad++
		if len(first) < 3 {
			msg := fmt.Sprintf("at %v got %v, want %v", index(want.Shape, i), g, w)
			if !exact && !math.IsInf(w, 0) && !math.IsNaN(w) {
				msg += fmt.Sprintf(" (|diff| %.3g > bound %.3g)", math.Abs(g-w), tl.bound(want.DType, w, i))
			}
			first = append(first, msg)
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d elements differ (tolerance %v): %s", bad, want.Len(), tl, strings.Join(first, "; "))
	}
	return nil
}

// sameBits reports the first element where a and b differ in their bits.
func sameBits(a, b *graph.Tensor) error {
	if a == nil || b == nil {
		return fmt.Errorf("missing tensor")
	}
	if !a.Type.Equal(b.Type) {
		return fmt.Errorf("type %v, then %v", a.Type, b.Type)
	}
	if a.Len() != b.Len() {
		return fmt.Errorf("%d elements, then %d", a.Len(), b.Len())
	}
	for i := 0; i < a.Len(); i++ {
		var same bool
		switch a.DType {
		case graph.F32:
			same = math.Float32bits(a.F32[i]) == math.Float32bits(b.F32[i])
		case graph.F64:
			same = math.Float64bits(a.F64[i]) == math.Float64bits(b.F64[i])
		case graph.I32:
			same = a.I32[i] == b.I32[i]
		}
		if !same {
			return fmt.Errorf("at %v: %v, then %v", index(a.Shape, i), a.At(i), b.At(i))
		}
	}
	return nil
}

// index is the multi-index of flat offset i in shape s.
func index(s graph.Shape, i int) []int {
	idx := make([]int, len(s))
	for d := len(s) - 1; d >= 0; d-- {
		if s[d] > 0 {
			idx[d] = i % s[d]
			i /= s[d]
		}
	}
	return idx
}

// genFunc makes the tensor bound to a leaf, or returns nil for the default.
type genFunc func(name string, t graph.Type, r *rand.Rand) *graph.Tensor

// uniform fills a tensor of type t with values in [lo, hi); i32 gets the
// integers of that range.
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

// pick fills a tensor with values drawn from vals (so that ties and zeros
// occur).
func pick(t graph.Type, r *rand.Rand, vals ...float64) *graph.Tensor {
	x := graph.NewTensor(t.DType, t.Shape...)
	for i := 0; i < x.Len(); i++ {
		x.Set(i, vals[r.IntN(len(vals))])
	}
	return x
}

// defaultTensor is uniform in [-2, 2) for floats, the integers -4..4 for i32.
func defaultTensor(t graph.Type, r *rand.Rand) *graph.Tensor {
	if t.DType == graph.I32 {
		return uniform(t, r, -4, 5)
	}
	return uniform(t, r, -2, 2)
}

// bindAll binds every input, param and state of g: gen's tensor when it
// gives one, else defaultTensor.
func bindAll(g *graph.Graph, r *rand.Rand, gen genFunc) map[string]*graph.Tensor {
	m := map[string]*graph.Tensor{}
	for _, n := range g.Nodes {
		if n.Op != graph.OpInput && n.Op != graph.OpParam && n.Op != graph.OpState {
			continue
		}
		var x *graph.Tensor
		if gen != nil {
			x = gen(n.Name, n.Type, r)
		}
		if x == nil {
			x = defaultTensor(n.Type, r)
		}
		m[n.Name] = x
	}
	return m
}

// absBindings returns bindings with every float value replaced by its
// absolute value (i32 ids and labels are kept).
func absBindings(bind map[string]*graph.Tensor) map[string]*graph.Tensor {
	out := map[string]*graph.Tensor{}
	for k, v := range bind {
		c := v.Clone()
		if c.DType != graph.I32 {
			for i := 0; i < c.Len(); i++ {
				c.Set(i, math.Abs(c.At(i)))
			}
		}
		out[k] = c
	}
	return out
}

// seedFor derives a reproducible seed from the suite's seed and parts.
func seedFor(seed uint64, parts ...any) uint64 {
	h := fnv.New64a()
	fmt.Fprint(h, seed)
	for _, p := range parts {
		fmt.Fprintf(h, "/%v", p)
	}
	return h.Sum64()
}

func newRand(seed uint64, parts ...any) *rand.Rand {
	s := seedFor(seed, parts...)
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}
