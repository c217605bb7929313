package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// opCase is one graph that exercises op, built for one dtype at a time.
type opCase struct {
	name string
	op   graph.Op    // the op under test, for the coverage check
	dts  dtypeSet    // which dtypes the case is built in
	not  graph.DType // a dtype left out of dts (Invalid: none)
	// build writes the graph; raw, when set instead, returns it whole (for
	// graphs the builder does not write, such as a cast to the same dtype).
	build func(b *graph.Builder, dt graph.DType)
	raw   func(dt graph.DType) *graph.Graph
	gen   genFunc
	// exact: every output must equal the reference (ops that move, select,
	// compare or convert). sums: the outputs are sums, bounded by
	// base·scale·(|want| + Σ|terms|). Otherwise base·scale·(|want| + 1).
	exact bool
	sums  bool
	scale float64
	large bool // only with Options.Large
}

type dtypeSet uint8

const (
	floatsOnly dtypeSet = iota // f32, f64
	withInts                   // f32, f64, i32
)

func (d dtypeSet) has(dt graph.DType) bool {
	return dt.IsFloat() || (d == withInts && dt == graph.I32)
}

// Shape lists shared by several ops. Sizes avoid multiples of 8 and 16;
// dims of 1, rank 0 and empty tensors are included on purpose.
var (
	elemShapes  = [][]int{{}, {1}, {7}, {3, 5}, {2, 1, 9}, {0, 3}}
	largeShapes = [][]int{{67, 131}, {3, 33, 129}}
)

// Generators.
func positive(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
	return uniform(t, r, 0.1, 3)
}

func nonZero(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
	x := uniform(t, r, 0.5, 2)
	for i := 0; i < x.Len(); i++ {
		if r.IntN(2) == 0 {
			x.Set(i, -x.At(i))
		}
	}
	return x
}

// specials draws from IEEE special values and a few ordinary ones.
func specials(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
	return pick(t, r, math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1, -1, 2.5, -2.5, 1e-30, 3)
}

// ties draws from a few values so that comparisons see equal operands.
func ties(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
	if t.DType == graph.I32 {
		return pick(t, r, -2, -1, 0, 1, 2)
	}
	return pick(t, r, -1, -0.5, 0, 0.5, 1, 2)
}

// idsBelow binds the input named "ids" (or "labels") to integers in [0, n).
func idsBelow(n int) genFunc {
	return func(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
		if name == "ids" || name == "labels" {
			return uniform(t, r, 0, float64(n))
		}
		return nil
	}
}

func opCases() []opCase {
	var cs []opCase
	add := func(c opCase) {
		c.name = strings.ReplaceAll(c.name, " ", ",") // shapes as graph.Shape prints them
		if c.scale == 0 {
			c.scale = 1
		}
		cs = append(cs, c)
	}
	shapes := func(large bool, small [][]int) [][]int {
		if large {
			return largeShapes
		}
		return small
	}

	// ---- leaves ----
	for _, large := range []bool{false, true} {
		for _, sh := range shapes(large, [][]int{{}, {1}, {7}, {3, 5}, {2, 1, 9}, {0, 4}}) {
			add(opCase{name: fmt.Sprintf("input%v", sh), op: graph.OpInput, dts: withInts, exact: true, large: large, build: func(b *graph.Builder, dt graph.DType) {
				b.Output("y", b.Input("x", dt, sh...))
			}})
			add(opCase{name: fmt.Sprintf("param%v", sh), op: graph.OpParam, dts: withInts, exact: true, large: large, build: func(b *graph.Builder, dt graph.DType) {
				w := b.Param("w", dt, sh...)
				b.Output("y", w)
				b.Output("neg", b.Neg(w))
			}})
			// A state read, updated and output at once.
			add(opCase{name: fmt.Sprintf("state%v", sh), op: graph.OpState, dts: withInts, exact: true, large: large, build: func(b *graph.Builder, dt graph.DType) {
				s := b.State("s", dt, sh...)
				b.Output("y", b.Neg(s))
				b.Update(s, b.Max(s, b.Input("x", dt, sh...)))
			}})
			add(opCase{name: fmt.Sprintf("fill%v", sh), op: graph.OpConst, dts: withInts, exact: true, large: large, build: func(b *graph.Builder, dt graph.DType) {
				b.Output("y", b.Full(dt, -3, sh...))
				b.Output("z", b.Add(b.Full(dt, 2, sh...), b.Input("x", dt, sh...)))
			}})
		}
	}
	add(opCase{name: "const-values", op: graph.OpConst, dts: withInts, exact: true, build: func(b *graph.Builder, dt graph.DType) {
		vals := []float64{1, -2, 3, -4, 0, 7, 1e6, -1e6}
		if dt.IsFloat() {
			vals = []float64{0.1, -2.5, 1.0 / 3, -4e-3, 0, math.Copysign(0, -1), 1e30, math.Inf(-1)}
		}
		c := b.Const(dt, []int{2, 4}, vals)
		b.Output("y", c)
		b.Output("z", b.Max(c, b.Input("x", dt, 2, 4)))
		b.Output("scalar", b.Scalar(dt, vals[2]))
	}})
	for _, sh := range [][]int{{7}, {3, 4, 5}, {1, 6}, {2, 1}} {
		for ax := range sh {
			add(opCase{name: fmt.Sprintf("iota%v-axis%d", sh, ax), op: graph.OpIota, dts: withInts, exact: true, build: func(b *graph.Builder, dt graph.DType) {
				b.Output("y", b.Iota(dt, ax, sh...))
				b.Output("z", b.Add(b.Iota(dt, ax, sh...), b.Input("x", dt, sh...)))
			}})
		}
	}

	// ---- unary ----
	unary := []struct {
		op    graph.Op
		gen   genFunc
		dts   dtypeSet
		exact bool
	}{
		{graph.OpNeg, nil, withInts, true}, {graph.OpAbs, nil, withInts, true}, {graph.OpSign, ties, withInts, true},
		{graph.OpExp, nil, floatsOnly, false}, {graph.OpLog, positive, floatsOnly, false},
		{graph.OpSqrt, positive, floatsOnly, false}, {graph.OpRsqrt, positive, floatsOnly, false},
		{graph.OpRecip, nonZero, floatsOnly, false}, {graph.OpTanh, nil, floatsOnly, false},
		{graph.OpSigmoid, nil, floatsOnly, false}, {graph.OpSoftplus, nil, floatsOnly, false},
		{graph.OpSin, nil, floatsOnly, false}, {graph.OpCos, nil, floatsOnly, false},
		{graph.OpStopGradient, nil, withInts, true},
	}
	for _, u := range unary {
		for _, large := range []bool{false, true} {
			for _, sh := range shapes(large, elemShapes) {
				add(opCase{name: fmt.Sprintf("%v%v", u.op, sh), op: u.op, dts: u.dts, gen: u.gen, exact: u.exact, large: large, build: func(b *graph.Builder, dt graph.DType) {
					x := b.Input("x", dt, sh...)
					b.Output("y", unaryOf(b, u.op, x))
					// Of a computed value too, so a kernel is not only ever
					// handed an input buffer.
					b.Output("z", unaryOf(b, u.op, b.Add(x, b.Scalar(dt, 0))))
				}})
			}
		}
	}
	// Special values: signed zeros, saturation, overflow to ±Inf.
	add(opCase{name: "unary-extremes", op: graph.OpSoftplus, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Const(dt, []int{9}, []float64{0, math.Copysign(0, -1), 30, -30, 90, -90, 1e-3, -1e-3, 700})
		b.Output("sign", b.Sign(x))
		b.Output("abs", b.Abs(x))
		b.Output("neg", b.Neg(x))
		b.Output("softplus", b.Softplus(x))
		b.Output("sigmoid", b.Sigmoid(x))
		b.Output("tanh", b.Tanh(x))
		b.Output("exp", b.Exp(x))
	}})

	// IEEE special values everywhere a vector kernel might treat them
	// differently from the scalar reference: NaN, ±Inf, ±0, tiny values.
	add(opCase{name: "ieee-unary", op: graph.OpExp, gen: specials, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 7, 41)
		for _, op := range []graph.Op{graph.OpNeg, graph.OpAbs, graph.OpSign, graph.OpExp, graph.OpLog, graph.OpSqrt,
			graph.OpRsqrt, graph.OpRecip, graph.OpTanh, graph.OpSigmoid, graph.OpSoftplus, graph.OpSin, graph.OpCos} {
			b.Output(op.String(), unaryOf(b, op, x))
		}
	}})
	add(opCase{name: "ieee-binary", op: graph.OpDiv, gen: specials, build: func(b *graph.Builder, dt graph.DType) {
		x, y := b.Input("x", dt, 7, 41), b.Input("y", dt, 7, 41)
		for _, op := range []graph.Op{graph.OpAdd, graph.OpSub, graph.OpMul, graph.OpDiv,
			graph.OpPow, graph.OpLess, graph.OpEqual} {
			b.Output(op.String(), binaryOf(b, op, x, y))
		}
		b.Output("where", b.Where(x, y, b.Neg(y)))
	}})
	// max and min propagate NaN, even against an infinity (sdk/graph/op.go).
	add(opCase{name: "ieee-max-min", op: graph.OpMax, gen: specials, build: func(b *graph.Builder, dt graph.DType) {
		x, y := b.Input("x", dt, 7, 41), b.Input("y", dt, 7, 41)
		b.Output("max", b.Max(x, y))
		b.Output("min", b.Min(x, y))
	}})
	add(opCase{name: "ieee-reductions", op: graph.OpReduceMax, gen: specials, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 7, 41)
		b.Output("sum-rows", b.ReduceSum(x, 1))
		b.Output("max-rows", b.ReduceMax(x, 1))
		b.Output("sum-cols", b.ReduceSum(x, 0))
		b.Output("max-cols", b.ReduceMax(x, 0))
		b.Output("cumsum", b.Cumsum(x, 1))
	}})
	add(opCase{name: "pow-negative-base", op: graph.OpPow, gen: nonZero, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 5, 19)
		for _, e := range []float64{2, 3, -1, -2, 0, 1, 0.5} {
			b.Output(fmt.Sprintf("pow%v", e), b.PowScalar(x, e))
		}
	}})

	// ---- cast ----
	for _, to := range []graph.DType{graph.F32, graph.F64, graph.I32} {
		for _, large := range []bool{false, true} {
			sh := []int{5, 7}
			if large {
				sh = largeShapes[0]
			}
			wide := func(name string, t graph.Type, r *rand.Rand) *graph.Tensor { return uniform(t, r, -100, 100) }
			// A cast to the same dtype is the raw case below.
			add(opCase{name: fmt.Sprintf("cast-to-%v%v", to, sh), op: graph.OpCast, dts: withInts, not: to, gen: wide, exact: true, large: large, build: func(b *graph.Builder, dt graph.DType) {
				x := b.Input("x", dt, sh...)
				b.Output("y", b.Cast(x, to))
				b.Output("back", b.Cast(b.Cast(x, to), dt))
				vals := []float64{0.5, -0.5, 2.75, -2.75, 1e3, -7, 0.1, 16777217}
				if dt == graph.I32 {
					vals = []float64{0, -1, 2, -3, 1e3, -7, 16777217, -2147483648}
				}
				b.Output("c", b.Cast(b.Const(dt, []int{8}, vals), to))
			}})
		}
	}
	add(opCase{name: "cast-identity", op: graph.OpCast, dts: withInts, exact: true, raw: func(dt graph.DType) *graph.Graph {
		t := graph.Type{DType: dt, Shape: graph.Shape{3, 5}}
		return &graph.Graph{
			Nodes:   []graph.Node{{Op: graph.OpInput, Name: "x", Type: t}, {Op: graph.OpCast, Inputs: []graph.Value{0}, Type: t}},
			Outputs: []graph.Output{{Name: "y", Value: 1}},
		}
	}})

	// ---- binary, broadcasting ----
	pairs := [][2][]int{
		{{3, 5}, {3, 5}}, {{3, 5}, {}}, {{}, {3, 5}}, {{}, {}}, {{2, 3, 5}, {5}}, {{5}, {2, 3, 5}},
		{{2, 1, 5}, {3, 1}}, {{4, 1}, {1, 7}}, {{1}, {1}}, {{2, 3, 1}, {2, 3, 9}}, {{0, 3}, {3}}, {{1, 13}, {11, 1}},
	}
	largePairs := [][2][]int{{{67, 131}, {131}}, {{67, 131}, {67, 1}}, {{67, 131}, {67, 131}}, {{1, 131}, {67, 1}}, {{3, 33, 129}, {}}}
	binary := []struct {
		op    graph.Op
		gen   genFunc
		dts   dtypeSet
		exact bool
	}{
		{graph.OpAdd, nil, withInts, false}, {graph.OpSub, nil, withInts, false}, {graph.OpMul, nil, withInts, false},
		{graph.OpDiv, nonZero, floatsOnly, false}, {graph.OpMax, ties, withInts, true}, {graph.OpMin, ties, withInts, true},
		{graph.OpPow, powGen, floatsOnly, false}, {graph.OpLess, ties, withInts, true}, {graph.OpEqual, ties, withInts, true},
	}
	for _, bo := range binary {
		for _, large := range []bool{false, true} {
			ps := pairs
			if large {
				ps = largePairs
			}
			for _, pr := range ps {
				add(opCase{name: fmt.Sprintf("%v%v%v", bo.op, pr[0], pr[1]), op: bo.op, dts: bo.dts, gen: bo.gen, exact: bo.exact, large: large, build: func(b *graph.Builder, dt graph.DType) {
					x, y := b.Input("x", dt, pr[0]...), b.Input("y", dt, pr[1]...)
					b.Output("z", binaryOf(b, bo.op, x, y))
				}})
			}
		}
	}
	add(opCase{name: "binary-same-operand", op: graph.OpEqual, dts: withInts, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 4, 9)
		for _, op := range []graph.Op{graph.OpAdd, graph.OpSub, graph.OpMul, graph.OpMax, graph.OpMin, graph.OpLess, graph.OpEqual} {
			b.Output(op.String(), binaryOf(b, op, x, x))
		}
	}})
	for _, e := range []float64{2, 1, 0.5, -1.5, 3, 0} {
		add(opCase{name: fmt.Sprintf("pow-scalar-%v", e), op: graph.OpPow, gen: positive, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("z", b.PowScalar(b.Input("x", dt, 7, 13), e))
		}})
	}

	// ---- where: any nonzero condition selects the first branch ----
	whereShapes := [][3][]int{{{3, 5}, {3, 5}, {3, 5}}, {{3, 1}, {5}, {}}, {{5}, {2, 3, 5}, {3, 1}}, {{}, {4}, {4}}, {{2, 1, 3}, {1, 4, 1}, {3}}}
	for _, cdt := range []graph.DType{graph.F32, graph.F64, graph.I32} {
		for _, large := range []bool{false, true} {
			ws := whereShapes
			if large {
				ws = [][3][]int{{{67, 131}, {67, 131}, {131}}, {{67, 1}, {}, {67, 131}}}
			}
			for _, sh := range ws {
				cond := func(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
					if name == "c" {
						return pick(t, r, 0, 0, 1, -2, 3)
					}
					return nil
				}
				add(opCase{name: fmt.Sprintf("where-%v%v", cdt, sh), op: graph.OpWhere, dts: withInts, gen: cond, exact: true, large: large, build: func(b *graph.Builder, dt graph.DType) {
					c, x := b.Input("c", cdt, sh[0]...), b.Input("x", dt, sh[1]...)
					b.Output("z", b.Where(c, x, b.Input("y", dt, sh[2]...)))
					b.Output("w", b.Where(b.Less(c, b.Scalar(cdt, 1)), x, b.Scalar(dt, -1)))
				}})
			}
		}
	}

	// ---- reductions: first, middle, last and several axes ----
	type red struct {
		shape []int
		axes  [][]int
		large bool
	}
	reds := []red{
		{[]int{2, 3, 4, 5}, [][]int{{3}, {0}, {1}, {2}, {1, 2}, {0, 2}, {1, 3}, {0, 3}, {0, 1, 2, 3}}, false},
		{[]int{3, 1, 4}, [][]int{{1}, {0, 1}, {2}, {1, 2}}, false},
		{[]int{7}, [][]int{{0}}, false},
		{[]int{}, [][]int{{}}, false},
		{[]int{1, 1}, [][]int{{0, 1}}, false},
		{[]int{4, 0, 3}, [][]int{{1}, {0}}, false},
		{[]int{5, 13, 11}, [][]int{{1}, {0, 2}, {2}}, false},
		{[]int{90, 100}, [][]int{{0}, {1}, {0, 1}}, true},
		{[]int{5, 70, 33}, [][]int{{1}, {0, 2}, {2}}, true},
	}
	for _, op := range []graph.Op{graph.OpReduceSum, graph.OpReduceMax} {
		for _, rs := range reds {
			for _, ax := range rs.axes {
				if op == graph.OpReduceMax && reducesNothing(rs.shape, ax) {
					// The max of nothing is -Inf, which i32 cannot hold;
					// this case runs in floats only.
					add(opCase{name: fmt.Sprintf("%v%v%v", op, rs.shape, ax), op: op, exact: true, build: func(b *graph.Builder, dt graph.DType) {
						b.Output("y", b.ReduceMax(b.Input("x", dt, rs.shape...), ax...))
					}})
					continue
				}
				add(opCase{name: fmt.Sprintf("%v%v%v", op, rs.shape, ax), op: op, dts: withInts, exact: op == graph.OpReduceMax, sums: op == graph.OpReduceSum, gen: redGen(op), large: rs.large, build: func(b *graph.Builder, dt graph.DType) {
					x := b.Input("x", dt, rs.shape...)
					if op == graph.OpReduceSum {
						b.Output("y", b.ReduceSum(x, ax...))
						b.Output("z", b.ReduceSum(b.Neg(x), ax...))
					} else {
						b.Output("y", b.ReduceMax(x, ax...))
						b.Output("z", b.ReduceMax(b.Neg(x), ax...))
					}
				}})
			}
		}
	}

	// ---- movement ----
	add(opCase{name: "reshape", op: graph.OpReshape, dts: withInts, exact: true, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 2, 3, 4)
		r := b.Reshape(b.Neg(x), 6, 4)
		b.Output("flat", b.Reshape(r, 24))
		b.Output("r", r)
		b.Output("xr", b.Reshape(x, 4, 1, 6))
	}})
	add(opCase{name: "reshape-rank0", op: graph.OpReshape, dts: withInts, exact: true, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 1, 1)
		s := b.Reshape(x)
		b.Output("s", s)
		b.Output("back", b.Reshape(b.Neg(s), 1, 1, 1))
	}})
	add(opCase{name: "reshape-param", op: graph.OpReshape, dts: withInts, exact: true, build: func(b *graph.Builder, dt graph.DType) {
		w := b.Param("w", dt, 3, 4)
		b.Output("y", b.Reshape(w, 2, 6))
		b.Output("z", b.Reshape(b.Transpose(w, 1, 0), 12))
	}})
	type tr struct {
		shape, perm []int
		large       bool
	}
	for _, c := range []tr{
		{[]int{2, 3, 4}, []int{0, 1, 2}, false}, {[]int{2, 3, 4}, []int{0, 2, 1}, false}, {[]int{2, 3, 4}, []int{1, 0, 2}, false},
		{[]int{2, 3, 4}, []int{1, 2, 0}, false}, {[]int{2, 3, 4}, []int{2, 0, 1}, false}, {[]int{2, 3, 4}, []int{2, 1, 0}, false},
		{[]int{1, 3, 1, 4}, []int{2, 3, 0, 1}, false}, {[]int{1, 3, 1, 4}, []int{3, 1, 0, 2}, false}, {[]int{5}, []int{0}, false},
		{[]int{}, []int{}, false}, {[]int{13, 7}, []int{1, 0}, false}, {[]int{3, 0, 2}, []int{2, 0, 1}, false},
		{[]int{130, 70}, []int{1, 0}, true}, {[]int{3, 40, 50}, []int{0, 2, 1}, true}, {[]int{4, 33, 5, 17}, []int{0, 2, 1, 3}, true},
		{[]int{4, 33, 5, 17}, []int{3, 1, 2, 0}, true}, {[]int{2, 3, 37, 41}, []int{0, 1, 3, 2}, true},
	} {
		add(opCase{name: fmt.Sprintf("transpose%v%v", c.shape, c.perm), op: graph.OpTranspose, dts: withInts, exact: true, large: c.large, build: func(b *graph.Builder, dt graph.DType) {
			x := b.Input("x", dt, c.shape...)
			b.Output("y", b.Transpose(x, c.perm...))
			b.Output("z", b.Transpose(b.Neg(x), c.perm...))
		}})
	}
	type sl struct {
		shape, begin, end []int
		large             bool
	}
	for _, c := range []sl{
		{[]int{5, 6}, []int{1, 0}, []int{4, 6}, false}, {[]int{5, 6}, []int{1, 2}, []int{4, 5}, false},
		{[]int{5, 6}, []int{2, 0}, []int{3, 4}, false}, {[]int{2, 3, 4}, []int{1, 1, 0}, []int{2, 3, 4}, false},
		{[]int{2, 3, 4}, []int{0, 1, 1}, []int{2, 2, 3}, false}, {[]int{3, 4}, []int{0, 0}, []int{0, 4}, false},
		{[]int{7}, []int{2}, []int{7}, false}, {[]int{7}, []int{3}, []int{4}, false}, {[]int{}, []int{}, []int{}, false},
		{[]int{100, 90}, []int{3, 7}, []int{97, 80}, true},
	} {
		add(opCase{name: fmt.Sprintf("slice%v%v%v", c.shape, c.begin, c.end), op: graph.OpSlice, dts: withInts, exact: true, large: c.large, build: func(b *graph.Builder, dt graph.DType) {
			x := b.Input("x", dt, c.shape...)
			b.Output("y", b.Slice(x, c.begin, c.end))
			b.Output("z", b.Neg(b.Slice(b.Neg(x), c.begin, c.end)))
		}})
	}
	type pd struct {
		shape, lo, hi []int
		large         bool
	}
	for _, c := range []pd{
		{[]int{3, 4}, []int{1, 0}, []int{0, 2}, false}, {[]int{3, 4}, []int{0, 0}, []int{0, 0}, false},
		{[]int{2, 3, 4}, []int{1, 2, 3}, []int{0, 1, 2}, false}, {[]int{5}, []int{3}, []int{2}, false},
		{[]int{0, 2}, []int{1, 1}, []int{2, 0}, false}, {[]int{1, 1}, []int{0, 7}, []int{0, 0}, false},
		{[]int{90, 100}, []int{2, 5}, []int{3, 1}, true},
	} {
		add(opCase{name: fmt.Sprintf("pad%v%v%v", c.shape, c.lo, c.hi), op: graph.OpPad, dts: withInts, exact: true, large: c.large, build: func(b *graph.Builder, dt graph.DType) {
			x := b.Input("x", dt, c.shape...)
			b.Output("y", b.Pad(x, c.lo, c.hi))
			b.Output("z", b.Pad(b.Neg(x), c.lo, c.hi))
		}})
	}
	for _, ax := range []int{0, 1, 2} {
		add(opCase{name: fmt.Sprintf("concat-axis%d", ax), op: graph.OpConcat, dts: withInts, exact: true, build: func(b *graph.Builder, dt graph.DType) {
			sh := func(n int) []int { s := []int{2, 3, 4}; s[ax] = n; return s }
			x, y, z := b.Input("x", dt, sh(1)...), b.Input("y", dt, sh(3)...), b.Input("z", dt, sh(2)...)
			b.Output("c", b.Concat(ax, x, y, z))
			b.Output("d", b.Concat(ax, y, b.Neg(y), b.Input("empty", dt, sh(0)...)))
		}})
	}
	add(opCase{name: "concat-large", op: graph.OpConcat, dts: withInts, exact: true, large: true, build: func(b *graph.Builder, dt graph.DType) {
		b.Output("c", b.Concat(1, b.Input("x", dt, 100, 50), b.Input("y", dt, 100, 41)))
	}})
	type bc struct {
		from, to []int
		large    bool
	}
	for _, c := range []bc{
		{[]int{3, 1}, []int{2, 3, 4}, false}, {[]int{}, []int{5}, false}, {[]int{}, []int{2, 3}, false}, {[]int{5}, []int{4, 5}, false},
		{[]int{1, 5}, []int{3, 1, 5}, false}, {[]int{2, 1, 3}, []int{2, 4, 3}, false}, {[]int{1}, []int{0, 3}, false},
		{[]int{90, 1}, []int{90, 100}, true}, {[]int{100}, []int{90, 100}, true},
	} {
		add(opCase{name: fmt.Sprintf("broadcast%v%v", c.from, c.to), op: graph.OpBroadcast, dts: withInts, exact: true, large: c.large, build: func(b *graph.Builder, dt graph.DType) {
			x := b.Input("x", dt, c.from...)
			b.Output("y", b.Broadcast(x, c.to...))
			b.Output("z", b.Broadcast(b.Neg(x), c.to...))
		}})
	}

	// ---- high ranks, and one value under several names ----
	add(opCase{name: "rank8-broadcast", op: graph.OpAdd, dts: withInts, build: func(b *graph.Builder, dt graph.DType) {
		x, y := b.Input("x", dt, 2, 1, 2, 1, 3, 1, 2, 1), b.Input("y", dt, 1, 2, 1, 2, 1, 3, 1, 2)
		b.Output("add", b.Add(x, y))
		b.Output("max", b.Max(x, y))
	}})
	add(opCase{name: "rank6-movement", op: graph.OpTranspose, dts: withInts, exact: true, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 2, 1, 3, 2, 1, 5)
		b.Output("transpose", b.Transpose(x, 5, 4, 3, 2, 1, 0))
		b.Output("max", b.ReduceMax(x, 1, 3, 5))
		b.Output("slice", b.Slice(x, []int{1, 0, 1, 0, 0, 2}, []int{2, 1, 3, 2, 1, 4}))
		b.Output("pad", b.Pad(x, []int{0, 1, 0, 1, 0, 1}, []int{1, 0, 1, 0, 1, 0}))
	}})
	add(opCase{name: "rank6-sums", op: graph.OpReduceSum, dts: withInts, sums: true, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 2, 1, 3, 2, 1, 5)
		b.Output("sum", b.ReduceSum(x, 0, 2, 5))
		b.Output("cumsum", b.CumsumOpts(x, 3, true, false))
	}})
	add(opCase{name: "outputs-sharing-a-value", op: graph.OpInput, dts: withInts, exact: true, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 3, 4)
		n := b.Neg(x)
		b.Output("x1", x)
		b.Output("x2", x)
		b.Output("n1", n)
		b.Output("n2", n)
		b.Output("n3", b.Reshape(n, 12))
	}})

	// ---- matmul: every transpose flag and batch layout ----
	type mm struct {
		a, b  []int // shapes before the transposes
		large bool
	}
	for _, m := range []mm{
		{[]int{3, 4}, []int{4, 5}, false}, {[]int{1, 1}, []int{1, 1}, false}, {[]int{7, 13}, []int{13, 33}, false},
		{[]int{1, 9}, []int{9, 1}, false}, {[]int{9, 1}, []int{1, 9}, false},
		{[]int{2, 3, 4}, []int{2, 4, 5}, false}, // equal batch
		{[]int{2, 3, 4}, []int{4, 5}, false},    // left only
		{[]int{3, 4}, []int{2, 4, 5}, false},    // right only
		{[]int{2, 3, 5, 6}, []int{2, 3, 6, 3}, false}, {[]int{2, 3, 5, 6}, []int{6, 3}, false}, {[]int{5, 6}, []int{2, 3, 6, 7}, false},
		{[]int{1, 17, 9}, []int{1, 9, 11}, false},
		{[]int{2, 0, 4}, []int{4, 5}, false}, {[]int{3, 0}, []int{0, 5}, false}, {[]int{3, 4}, []int{4, 0}, false},
		{[]int{70, 90}, []int{90, 65}, true}, {[]int{3, 40, 30}, []int{30, 50}, true}, {[]int{16, 8, 8}, []int{16, 8, 8}, true},
		{[]int{129, 257}, []int{257, 33}, true}, {[]int{33, 100}, []int{5, 100, 47}, true},
	} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				as, bs := slices.Clone(m.a), slices.Clone(m.b)
				if ta {
					as[len(as)-1], as[len(as)-2] = as[len(as)-2], as[len(as)-1]
				}
				if tb {
					bs[len(bs)-1], bs[len(bs)-2] = bs[len(bs)-2], bs[len(bs)-1]
				}
				add(opCase{name: fmt.Sprintf("matmul%v%v-ta%v-tb%v", as, bs, ta, tb), op: graph.OpMatMul, sums: true, large: m.large, build: func(b *graph.Builder, dt graph.DType) {
					b.Output("c", b.MatMulT(b.Input("a", dt, as...), b.Input("b", dt, bs...), ta, tb))
				}})
			}
		}
	}
	add(opCase{name: "matmul-computed-operands", op: graph.OpMatMul, sums: true, build: func(b *graph.Builder, dt graph.DType) {
		// Operands that are views (a transpose, a slice) of computed values.
		x := b.Input("x", dt, 2, 6, 5)
		y := b.Neg(x)
		b.Output("c", b.MatMulT(b.SliceAxis(y, 1, 1, 6), b.Transpose(x, 0, 2, 1), false, false))
		b.Output("d", b.MatMulT(b.Reshape(x, 12, 5), b.Reshape(y, 12, 5), true, false))
	}})

	// ---- cumsum: every axis, exclusive and reverse ----
	for _, large := range []bool{false, true} {
		shs := [][]int{{7}, {3, 5}, {2, 3, 4}, {1, 6}, {4, 1}, {0, 3}}
		if large {
			shs = [][]int{{90, 100}, {3, 257, 5}}
		}
		for _, shape := range shs {
			for ax := range shape {
				for _, ex := range []bool{false, true} {
					for _, rev := range []bool{false, true} {
						add(opCase{name: fmt.Sprintf("cumsum%v-axis%d-ex%v-rev%v", shape, ax, ex, rev), op: graph.OpCumsum, dts: withInts, sums: true, large: large, build: func(b *graph.Builder, dt graph.DType) {
							x := b.Input("x", dt, shape...)
							b.Output("y", b.CumsumOpts(x, ax, ex, rev))
							b.Output("z", b.CumsumOpts(b.Neg(x), ax, ex, rev))
						}})
					}
				}
			}
		}
	}

	// ---- gather and scatter_add, with repeated ids ----
	type gs struct {
		table, ids []int
		idRange    int
		large      bool
	}
	for _, c := range []gs{
		{[]int{10, 3, 2}, []int{2, 5}, 10, false}, {[]int{10}, []int{4}, 10, false}, {[]int{6, 4}, []int{}, 6, false},
		{[]int{10, 3}, []int{1}, 10, false}, {[]int{9, 5}, []int{13}, 3, false}, {[]int{7, 1}, []int{2, 3, 2}, 2, false},
		{[]int{4, 3}, []int{0}, 4, false},
		{[]int{50, 130}, []int{7, 11}, 50, true}, {[]int{300, 67}, []int{1000}, 20, true},
	} {
		add(opCase{name: fmt.Sprintf("gather%v%v-ids<%d", c.table, c.ids, c.idRange), op: graph.OpGather, dts: withInts, exact: true, gen: idsBelow(c.idRange), large: c.large, build: func(b *graph.Builder, dt graph.DType) {
			table := b.Input("table", dt, c.table...)
			ids := b.Input("ids", graph.I32, c.ids...)
			b.Output("y", b.Gather(table, ids))
			b.Output("z", b.Gather(b.Neg(table), ids))
		}})
		add(opCase{name: fmt.Sprintf("scatter_add%v%v-ids<%d", c.table, c.ids, c.idRange), op: graph.OpScatterAdd, dts: withInts, sums: true, gen: idsBelow(c.idRange), large: c.large, build: func(b *graph.Builder, dt graph.DType) {
			upd := append(slices.Clone(c.ids), c.table[1:]...)
			ids := b.Input("ids", graph.I32, c.ids...)
			u := b.Input("u", dt, upd...)
			b.Output("y", b.ScatterAdd(ids, u, c.table[0]))
			b.Output("z", b.ScatterAdd(ids, b.Neg(u), c.table[0]))
		}})
	}
	add(opCase{name: "gather-param-table", op: graph.OpGather, dts: withInts, exact: true, gen: idsBelow(5), build: func(b *graph.Builder, dt graph.DType) {
		b.Output("y", b.Gather(b.Param("emb", dt, 5, 3), b.Input("ids", graph.I32, 2, 4)))
	}})

	// ---- fused ops, over the last axis ----
	for _, large := range []bool{false, true} {
		shs := [][]int{{1}, {7}, {3, 7}, {2, 3, 33}, {4, 1}, {0, 5}}
		if large {
			shs = [][]int{{50, 130}, {7, 1031}}
		}
		for _, sh := range shs {
			c := sh[len(sh)-1]
			add(opCase{name: fmt.Sprintf("softmax%v", sh), op: graph.OpSoftmax, scale: 3, large: large, build: func(b *graph.Builder, dt graph.DType) {
				b.Output("y", b.Softmax(b.MulScalar(b.Input("x", dt, sh...), 3)))
			}})
			add(opCase{name: fmt.Sprintf("log_softmax%v", sh), op: graph.OpLogSoftmax, scale: 3, large: large, build: func(b *graph.Builder, dt graph.DType) {
				b.Output("y", b.LogSoftmax(b.MulScalar(b.Input("x", dt, sh...), 3)))
			}})
			add(opCase{name: fmt.Sprintf("layer_norm%v", sh), op: graph.OpLayerNorm, scale: 10, large: large, build: func(b *graph.Builder, dt graph.DType) {
				b.Output("y", b.LayerNorm(b.Input("x", dt, sh...), b.Param("gamma", dt, c), b.Param("beta", dt, c), 1e-5))
			}})
			add(opCase{name: fmt.Sprintf("rms_norm%v", sh), op: graph.OpRMSNorm, scale: 10, large: large, build: func(b *graph.Builder, dt graph.DType) {
				b.Output("y", b.RMSNorm(b.Input("x", dt, sh...), b.Input("gamma", dt, c), 1e-6))
			}})
			add(opCase{name: fmt.Sprintf("cross_entropy%v", sh), op: graph.OpCrossEntropy, gen: idsBelow(c), scale: 10, large: large, build: func(b *graph.Builder, dt graph.DType) {
				b.Output("y", b.CrossEntropy(b.MulScalar(b.Input("x", dt, sh...), 3), b.Input("labels", graph.I32, sh[:len(sh)-1]...)))
			}})
		}
	}
	add(opCase{name: "norms-eps0-and-shifted", op: graph.OpLayerNorm, scale: 10, build: func(b *graph.Builder, dt graph.DType) {
		// Rows far from zero: a one-pass variance loses them.
		x := b.AddScalar(b.Input("x", dt, 6, 17), 100)
		g := b.Input("g", dt, 17)
		b.Output("ln", b.LayerNorm(x, g, b.Input("b", dt, 17), 0))
		b.Output("rms", b.RMSNorm(x, g, 0))
	}})
	add(opCase{name: "softmax-causal-mask", op: graph.OpSoftmax, build: func(b *graph.Builder, dt graph.DType) {
		// Rows holding -Inf; the mask is built the way attention builds it.
		x := b.Input("x", dt, 2, 5, 9)
		future := b.Less(b.Iota(graph.I32, 0, 5, 9), b.Iota(graph.I32, 1, 5, 9))
		masked := b.Where(future, b.Scalar(dt, math.Inf(-1)), x)
		b.Output("y", b.Softmax(masked))
		b.Output("l", b.LogSoftmax(masked))
	}})
	add(opCase{name: "cross_entropy-large-logits", op: graph.OpCrossEntropy, gen: idsBelow(11), scale: 10, build: func(b *graph.Builder, dt graph.DType) {
		// Logits up to ±100: exp overflows f32 unless the max is subtracted.
		x := b.MulScalar(b.Input("x", dt, 4, 11), 50)
		b.Output("y", b.CrossEntropy(x, b.Input("labels", graph.I32, 4)))
		b.Output("sm", b.Softmax(x))
	}})
	return cs
}

// powGen: a positive base and any exponent.
func powGen(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
	if name == "x" {
		return uniform(t, r, 0.1, 3)
	}
	return uniform(t, r, -2, 2)
}

// redGen gives reduce_max ties (equal maxima) to find.
func redGen(op graph.Op) genFunc {
	if op == graph.OpReduceMax {
		return func(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
			if t.DType == graph.I32 {
				return uniform(t, r, -20, 20)
			}
			return pick(t, r, -1.5, -1, 0.25, 0.5, 1, 1.75)
		}
	}
	return nil
}

// reducesNothing reports a reduction over an empty axis into a nonempty
// result.
func reducesNothing(shape, axes []int) bool {
	out, empty := 1, false
	for d, n := range shape {
		if slices.Contains(axes, d) {
			empty = empty || n == 0
		} else {
			out *= n
		}
	}
	return empty && out > 0
}

func unaryOf(b *graph.Builder, op graph.Op, x graph.Value) graph.Value {
	switch op {
	case graph.OpNeg:
		return b.Neg(x)
	case graph.OpAbs:
		return b.Abs(x)
	case graph.OpSign:
		return b.Sign(x)
	case graph.OpExp:
		return b.Exp(x)
	case graph.OpLog:
		return b.Log(x)
	case graph.OpSqrt:
		return b.Sqrt(x)
	case graph.OpRsqrt:
		return b.Rsqrt(x)
	case graph.OpRecip:
		return b.Recip(x)
	case graph.OpTanh:
		return b.Tanh(x)
	case graph.OpSigmoid:
		return b.Sigmoid(x)
	case graph.OpSoftplus:
		return b.Softplus(x)
	case graph.OpSin:
		return b.Sin(x)
	case graph.OpCos:
		return b.Cos(x)
	case graph.OpStopGradient:
		return b.StopGradient(x)
	}
	panic(fmt.Sprintf("backendtest: %v is not unary", op))
}

func binaryOf(b *graph.Builder, op graph.Op, x, y graph.Value) graph.Value {
	switch op {
	case graph.OpAdd:
		return b.Add(x, y)
	case graph.OpSub:
		return b.Sub(x, y)
	case graph.OpMul:
		return b.Mul(x, y)
	case graph.OpDiv:
		return b.Div(x, y)
	case graph.OpMax:
		return b.Max(x, y)
	case graph.OpMin:
		return b.Min(x, y)
	case graph.OpPow:
		return b.Pow(x, y)
	case graph.OpLess:
		return b.Less(x, y)
	case graph.OpEqual:
		return b.Equal(x, y)
	}
	panic(fmt.Sprintf("backendtest: %v is not binary", op))
}

// testOps runs every op case in every dtype it allows, on one backend.
func (s *suite) testOps(t *testing.T) {
	e := s.env(t)
	sc := e.newScribbler(t)
	covered := map[graph.Op]map[graph.DType]bool{}
	all := true
	for ci, c := range opCases() {
		if c.large && !s.opts.Large {
			continue
		}
		for _, dt := range s.dtypes {
			if !c.dts.has(dt) || dt == c.not {
				continue
			}
			ran := false
			t.Run(fmt.Sprintf("%v/%s", dt, c.name), func(t *testing.T) {
				ran = true
				if e.checkOpCase(t, &c, dt, s.opts.Seed+uint64(ci), sc) {
					if covered[c.op] == nil {
						covered[c.op] = map[graph.DType]bool{}
					}
					covered[c.op][dt] = true
				}
			})
			all = all && ran
		}
	}
	t.Run("coverage", func(t *testing.T) {
		if !all {
			t.Skip("some op checks were filtered out (-run); no coverage check")
		}
		for _, op := range graph.Ops() {
			for _, dt := range s.floats() {
				if covered[op][dt] {
					continue
				}
				if s.opts.Skip != nil && s.opts.Skip(op, dt) {
					t.Logf("%v in %v: declared unsupported (Options.Skip)", op, dt)
					continue
				}
				t.Errorf("op %v is not exercised in %v (no passing check, and Options.Skip does not declare it unsupported)", op, dt)
			}
		}
	})
}

// checkOpCase runs one case: its program twice with fresh random inputs
// (a different program runs in between), each time comparing every output
// and every update with graph.Evaluate. It reports whether the op ran
// normally (not a declared-unsupported refusal) and matched.
func (e *env) checkOpCase(t *testing.T, c *opCase, dt graph.DType, seed uint64, sc *scribbler) bool {
	var g *graph.Graph
	if c.raw != nil {
		g = c.raw(dt)
		if err := g.Validate(graph.DefaultLimits); err != nil {
			t.Fatalf("backendtest: a check's graph is invalid: %v", err)
		}
	} else {
		b := graph.NewBuilder()
		c.build(b, dt)
		g = mustBuild(t, b)
	}
	if len(g.Outputs) == 0 && len(g.Updates) == 0 {
		t.Skip("not built in this dtype")
	}
	why, skipped := e.s.skipped(g)
	tolerated := func(stage string, err error) bool {
		if skipped {
			t.Logf("%s refused %s, declared unsupported: %v", stage, why, err)
			return true
		}
		return false
	}
	prog := e.s.prepare(t, g)
	r := newRand(seed, dt, c.name)
	id, err := e.compile(t, prog)
	if err != nil {
		if tolerated("Compile", err) {
			return false
		}
		t.Fatalf("Compile: %v", err)
	}
	defer func() {
		if err := e.release(t, id); err != nil {
			t.Errorf("Release: %v", err)
		}
	}()
	set := map[string]bool{}
	defer func() {
		for name := range set {
			if err := e.deleteTensor(t, name); err != nil {
				t.Errorf("DeleteTensor(%q): %v", name, err)
			}
		}
	}()
	for run := 1; run <= 2; run++ {
		bind := bindAll(g, r, c.gen)
		wantOut, wantUpd := evaluate(t, g, bind)
		var magOut, magUpd map[string]*graph.Tensor
		if c.sums {
			magOut, magUpd = evaluate(t, g, absBindings(bind))
		}
		for _, name := range residentNames(g) {
			e.mustSet(t, name, bind[name])
			set[name] = true
		}
		out, err := e.run(t, id, inputsOf(g, bind))
		if err != nil {
			if tolerated("Run", err) {
				return false
			}
			t.Fatalf("run %d: Run: %v", run, err)
		}
		tol := func(mag *graph.Tensor) tolerance {
			tl := tolerance{exact: c.exact, scale: c.scale}
			if c.sums {
				tl.mag = mag
			}
			return tl
		}
		for _, o := range g.Outputs {
			if err := compareTensor(out[o.Name], wantOut[o.Name], tol(magOut[o.Name])); err != nil {
				t.Errorf("run %d: output %q: %v", run, o.Name, err)
			}
		}
		for name := range out {
			if _, ok := wantOut[name]; !ok {
				t.Errorf("run %d: output %q is not an output of the graph", run, name)
			}
		}
		for name, w := range wantUpd {
			got, err := e.tensor(t, name)
			if err != nil {
				t.Errorf("run %d: Tensor(%q) after the update: %v", run, name, err)
				continue
			}
			if err := compareTensor(got, w, tol(magUpd[name])); err != nil {
				t.Errorf("run %d: update of %q: %v", run, name, err)
			}
		}
		if t.Failed() {
			if run == 2 {
				t.Log("run 1 passed and run 2 failed: stale values from run 1 or from the program run in between, or elements left unwritten")
			}
			return false
		}
		if run == 1 {
			sc.scribble(t)
		}
	}
	return true
}

// scribbler is a program that fills buffers of many sizes with NaN (i32: a
// sentinel); it runs between the two runs of each op check, so that a
// backend that shares memory between programs and reads a buffer it did not
// write is caught.
type scribbler struct {
	e      *env
	id     backend.ProgramID
	inputs map[string]*graph.Tensor
	ok     bool
}

func (e *env) newScribbler(t *testing.T) *scribbler {
	b := graph.NewBuilder()
	sizes := []int{1, 7, 64, 1000, 4099}
	if e.s.opts.Large {
		sizes = append(sizes, 1<<16)
	}
	n := sizes[len(sizes)-1]
	inputs := map[string]*graph.Tensor{}
	for _, dt := range e.s.dtypes {
		name := "bt_scribble_" + dt.String()
		x := b.Input(name, dt, n)
		inputs[name] = graph.NewTensor(dt, n)
		for _, m := range sizes {
			v := b.SliceAxis(x, 0, 0, m)
			if dt == graph.I32 {
				v = b.Add(v, b.Scalar(dt, -0x5a5a5a5))
			} else {
				z := b.Sub(v, v)
				v = b.Div(z, z) // 0/0: NaN
			}
			b.Output(fmt.Sprintf("%v_%d", dt, m), v)
		}
	}
	g := mustBuild(t, b)
	sc := &scribbler{e: e, inputs: inputs}
	id, err := e.compile(t, g)
	if err != nil {
		t.Logf("the scribble program does not compile (%v); op checks run without it", err)
		return sc
	}
	sc.id, sc.ok = id, true
	return sc
}

func (sc *scribbler) scribble(t *testing.T) {
	if !sc.ok {
		return
	}
	if _, err := sc.e.run(t, sc.id, sc.inputs); err != nil {
		t.Fatalf("the scribble program run between checks failed: %v", err)
	}
}
