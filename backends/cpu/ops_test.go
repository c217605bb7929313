// Per-op conformance: every op of graph.Ops(), in f32 and f64 (and i32 where
// the IR allows it), on several shapes (unit dims, broadcasting, sizes that
// are not multiples of 8, sizes large enough to run in parallel), against
// graph.Evaluate.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

type opCase struct {
	name  string
	op    graph.Op // the op under test, for the coverage check
	dts   []graph.DType
	build func(b *graph.Builder, dt graph.DType)
	gen   genFunc
	scale float64
}

var floats = []graph.DType{graph.F32, graph.F64}
var allTypes = []graph.DType{graph.F32, graph.F64, graph.I32}

// Shapes used by the elementwise cases; the last ones run in parallel.
var unaryShapes = [][]int{{}, {1}, {7}, {3, 5}, {2, 1, 9}, {67, 131}}

func positive(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
	return uniform(t, r, 0.1, 3)
}

// nonZero keeps divisors away from 0.
func nonZero(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
	x := uniform(t, r, 0.5, 2)
	for i := 0; i < x.Len(); i++ {
		if r.IntN(2) == 0 {
			x.Set(i, -x.At(i))
		}
	}
	return x
}

func opCases() []opCase {
	var cs []opCase
	add := func(c opCase) {
		if c.dts == nil {
			c.dts = floats
		}
		if c.scale == 0 {
			c.scale = 1
		}
		cs = append(cs, c)
	}

	// Leaves.
	for _, sh := range [][]int{{}, {4}, {3, 5}, {67, 131}} {
		add(opCase{name: fmt.Sprintf("input%v", sh), op: graph.OpInput, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.Input("x", dt, sh...))
		}})
		add(opCase{name: fmt.Sprintf("param%v", sh), op: graph.OpParam, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.Param("w", dt, sh...))
		}})
		add(opCase{name: fmt.Sprintf("state%v", sh), op: graph.OpState, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.Add(b.State("s", dt, sh...), b.Input("x", dt, sh...)))
		}})
		add(opCase{name: fmt.Sprintf("fill%v", sh), op: graph.OpConst, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.Full(dt, 3, sh...))
		}})
	}
	add(opCase{name: "const-values", op: graph.OpConst, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
		b.Output("y", b.Add(b.Const(dt, []int{2, 3}, []float64{1, -2, 3, -4, 0, 7}), b.Input("x", dt, 2, 3)))
	}})
	for _, ax := range []int{0, 1, 2} {
		add(opCase{name: fmt.Sprintf("iota-axis%d", ax), op: graph.OpIota, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.Iota(dt, ax, 3, 4, 5))
		}})
	}

	// Unary.
	unary := []struct {
		op  graph.Op
		gen genFunc
		dts []graph.DType
	}{
		{graph.OpNeg, nil, allTypes}, {graph.OpAbs, nil, allTypes}, {graph.OpSign, nil, allTypes},
		{graph.OpExp, nil, nil}, {graph.OpLog, positive, nil}, {graph.OpSqrt, positive, nil},
		{graph.OpRsqrt, positive, nil}, {graph.OpRecip, nonZero, nil}, {graph.OpTanh, nil, nil},
		{graph.OpSigmoid, nil, nil}, {graph.OpSoftplus, nil, nil}, {graph.OpSin, nil, nil},
		{graph.OpCos, nil, nil}, {graph.OpStopGradient, nil, allTypes},
	}
	for _, u := range unary {
		for _, sh := range unaryShapes {
			add(opCase{name: fmt.Sprintf("%v%v", u.op, sh), op: u.op, dts: u.dts, gen: u.gen, build: func(b *graph.Builder, dt graph.DType) {
				x := b.Input("x", dt, sh...)
				b.Output("y", unaryOf(b, u.op, x))
				// Of a computed value too, so a no-op kernel is not just a view of an input.
				b.Output("z", unaryOf(b, u.op, b.Mul(x, b.Scalar(dt, 1))))
			}})
		}
	}
	// Sign of zeros and large values, softplus and sigmoid far out.
	add(opCase{name: "unary-extremes", op: graph.OpSoftplus, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Const(dt, []int{7}, []float64{0, -0.0, 30, -30, 90, -90, 1e-3})
		b.Output("sign", b.Sign(x))
		b.Output("softplus", b.Softplus(x))
		b.Output("sigmoid", b.Sigmoid(x))
		b.Output("abs", b.Abs(x))
	}})

	// Cast between all three dtypes.
	for _, from := range allTypes {
		for _, to := range allTypes {
			if from == to {
				continue
			}
			// The reference keeps computed f32 values unrounded, so the cast
			// reads an input (never a view: the dtypes differ).
			wide := func(name string, t graph.Type, r *rand.Rand) *graph.Tensor { return uniform(t, r, -100, 100) }
			add(opCase{name: fmt.Sprintf("cast-%v-%v", from, to), op: graph.OpCast, dts: []graph.DType{from}, gen: wide, build: func(b *graph.Builder, dt graph.DType) {
				x := b.Input("x", dt, 67, 131)
				b.Output("y", b.Cast(x, to))
				vals := []float64{0.5, -0.5, 2.75, -2.75, 1e3, -7}
				if dt == graph.I32 {
					// Evaluate does not round i32 constants; keep them integral.
					vals = []float64{0, -1, 2, -3, 1e3, -7}
				}
				b.Output("z", b.Cast(b.Const(dt, []int{6}, vals), to))
			}})
		}
	}

	// Binary with broadcasting.
	pairs := [][2][]int{
		{{3, 5}, {3, 5}}, {{3, 5}, {}}, {{}, {3, 5}}, {{2, 3, 5}, {5}}, {{5}, {2, 3, 5}},
		{{2, 1, 5}, {3, 1}}, {{4, 1}, {1, 7}}, {{1}, {1}}, {{2, 3, 1}, {2, 3, 9}},
		{{67, 131}, {131}}, {{67, 131}, {67, 1}}, {{67, 131}, {67, 131}}, {{67, 131}, {}}, {{1, 131}, {67, 1}},
	}
	binary := []struct {
		op  graph.Op
		gen genFunc
		dts []graph.DType
	}{
		{graph.OpAdd, nil, allTypes}, {graph.OpSub, nil, allTypes}, {graph.OpMul, nil, allTypes},
		{graph.OpDiv, nonZero, nil}, {graph.OpMax, nil, allTypes}, {graph.OpMin, nil, allTypes},
		{graph.OpPow, positive, nil}, {graph.OpLess, nil, allTypes}, {graph.OpEqual, nil, allTypes},
	}
	for _, bo := range binary {
		for _, pr := range pairs {
			add(opCase{name: fmt.Sprintf("%v%v%v", bo.op, pr[0], pr[1]), op: bo.op, dts: bo.dts, gen: bo.gen, build: func(b *graph.Builder, dt graph.DType) {
				x, y := b.Input("x", dt, pr[0]...), b.Input("y", dt, pr[1]...)
				b.Output("z", binaryOf(b, bo.op, x, y))
			}})
		}
	}
	// Equal on values that do match, Pow with a constant exponent.
	add(opCase{name: "equal-self", op: graph.OpEqual, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 4, 9)
		b.Output("z", b.Equal(x, b.Slice(b.Concat(0, x, x), []int{4, 0}, []int{8, 9})))
	}})
	for _, e := range []float64{2, 1, 0.5, -1.5, 3} {
		add(opCase{name: fmt.Sprintf("pow-scalar-%v", e), op: graph.OpPow, gen: positive, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("z", b.PowScalar(b.Input("x", dt, 67, 131), e))
		}})
	}

	// Where, with f32/f64/i32 conditions and broadcasting.
	for _, cdt := range allTypes {
		for _, sh := range [][3][]int{{{3, 5}, {3, 5}, {3, 5}}, {{3, 1}, {5}, {}}, {{5}, {2, 3, 5}, {3, 1}}, {{67, 131}, {67, 131}, {131}}, {{67, 1}, {}, {67, 131}}} {
			add(opCase{name: fmt.Sprintf("where-%v%v", cdt, sh), op: graph.OpWhere, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
				c := b.Input("c", cdt, sh[0]...)
				c = b.Less(c, b.Scalar(cdt, 1)) // about half true
				b.Output("z", b.Where(c, b.Input("x", dt, sh[1]...), b.Input("y", dt, sh[2]...)))
			}})
		}
	}

	// Reductions.
	redShapes := []struct {
		shape []int
		axes  [][]int
	}{
		{[]int{2, 3, 4, 5}, [][]int{{3}, {0}, {1}, {1, 2}, {0, 2}, {0, 1, 2, 3}, {1, 3}, {0, 3}, {2}}},
		{[]int{3, 1, 4}, [][]int{{1}, {0, 1}, {2}, {1, 2}}},
		{[]int{7}, [][]int{{0}}},
		{[]int{}, [][]int{{}}},
		{[]int{90, 100}, [][]int{{0}, {1}, {0, 1}}},
		{[]int{5, 70, 33}, [][]int{{1}, {0, 2}, {2}}},
	}
	for _, op := range []graph.Op{graph.OpReduceSum, graph.OpReduceMax} {
		for _, rs := range redShapes {
			for _, ax := range rs.axes {
				scale := 1.0
				if op == graph.OpReduceSum {
					scale = 30
				}
				add(opCase{name: fmt.Sprintf("%v%v%v", op, rs.shape, ax), op: op, dts: allTypes, scale: scale, build: func(b *graph.Builder, dt graph.DType) {
					x := b.Mul(b.Input("x", dt, rs.shape...), b.Scalar(dt, 1))
					if len(ax) == 0 && len(rs.shape) > 0 {
						return
					}
					if op == graph.OpReduceSum {
						b.Output("y", b.ReduceSum(x, ax...))
					} else {
						b.Output("y", b.ReduceMax(x, ax...))
					}
				}})
			}
		}
	}

	// Movement.
	add(opCase{name: "reshape", op: graph.OpReshape, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 2, 3, 4)
		r := b.Reshape(b.Neg(x), 6, 4)
		b.Output("y", b.Reshape(r, 24))
		b.Output("r", r)
		b.Output("xr", b.Reshape(x, 4, 6))
	}})
	for _, tr := range []struct {
		shape, perm []int
	}{
		{[]int{2, 3, 4}, []int{0, 1, 2}}, {[]int{2, 3, 4}, []int{0, 2, 1}}, {[]int{2, 3, 4}, []int{1, 0, 2}},
		{[]int{2, 3, 4}, []int{1, 2, 0}}, {[]int{2, 3, 4}, []int{2, 0, 1}}, {[]int{2, 3, 4}, []int{2, 1, 0}},
		{[]int{1, 3, 1, 4}, []int{2, 3, 0, 1}}, {[]int{1, 3, 1, 4}, []int{3, 1, 0, 2}},
		{[]int{130, 70}, []int{1, 0}}, {[]int{3, 40, 50}, []int{0, 2, 1}}, {[]int{4, 33, 5, 17}, []int{0, 2, 1, 3}},
		{[]int{4, 33, 5, 17}, []int{3, 1, 2, 0}}, {[]int{2, 3, 37, 41}, []int{0, 1, 3, 2}},
	} {
		add(opCase{name: fmt.Sprintf("transpose%v%v", tr.shape, tr.perm), op: graph.OpTranspose, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
			x := b.Input("x", dt, tr.shape...)
			b.Output("y", b.Transpose(x, tr.perm...))
			b.Output("z", b.Transpose(b.Neg(x), tr.perm...))
		}})
	}
	for _, sl := range []struct{ shape, begin, end []int }{
		{[]int{5, 6}, []int{1, 0}, []int{4, 6}}, {[]int{5, 6}, []int{1, 2}, []int{4, 5}}, {[]int{5, 6}, []int{2, 0}, []int{3, 4}},
		{[]int{2, 3, 4}, []int{1, 1, 0}, []int{2, 3, 4}}, {[]int{2, 3, 4}, []int{0, 1, 1}, []int{2, 2, 3}},
		{[]int{3, 4}, []int{0, 0}, []int{0, 4}}, {[]int{100, 90}, []int{3, 7}, []int{97, 80}}, {[]int{7}, []int{2}, []int{7}},
	} {
		add(opCase{name: fmt.Sprintf("slice%v%v%v", sl.shape, sl.begin, sl.end), op: graph.OpSlice, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
			x := b.Input("x", dt, sl.shape...)
			b.Output("y", b.Slice(x, sl.begin, sl.end))
			b.Output("z", b.Neg(b.Slice(b.Neg(x), sl.begin, sl.end)))
		}})
	}
	for _, pd := range []struct{ shape, lo, hi []int }{
		{[]int{3, 4}, []int{1, 0}, []int{0, 2}}, {[]int{3, 4}, []int{0, 0}, []int{0, 0}}, {[]int{2, 3, 4}, []int{1, 2, 3}, []int{0, 1, 2}},
		{[]int{5}, []int{3}, []int{2}}, {[]int{90, 100}, []int{2, 5}, []int{3, 1}},
		{[]int{4, 5, 6}, []int{0, 2, 0}, []int{1, 1, 0}}, {[]int{3, 40, 50}, []int{2, 0, 0}, []int{1, 0, 0}},
	} {
		add(opCase{name: fmt.Sprintf("pad%v%v%v", pd.shape, pd.lo, pd.hi), op: graph.OpPad, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.Pad(b.Input("x", dt, pd.shape...), pd.lo, pd.hi))
		}})
	}
	for _, ax := range []int{0, 1, 2} {
		add(opCase{name: fmt.Sprintf("concat-axis%d", ax), op: graph.OpConcat, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
			sh := func(n int) []int { s := []int{2, 3, 4}; s[ax] = n; return s }
			x, y, z := b.Input("x", dt, sh(1)...), b.Input("y", dt, sh(3)...), b.Input("z", dt, sh(2)...)
			b.Output("c", b.Concat(ax, x, y, z))
			b.Output("d", b.Concat(ax, y, y))
		}})
	}
	add(opCase{name: "concat-large", op: graph.OpConcat, dts: floats, build: func(b *graph.Builder, dt graph.DType) {
		b.Output("c", b.Concat(1, b.Input("x", dt, 100, 50), b.Input("y", dt, 100, 41)))
	}})
	for _, bc := range []struct{ from, to []int }{
		{[]int{3, 1}, []int{2, 3, 4}}, {[]int{}, []int{5}}, {[]int{5}, []int{4, 5}}, {[]int{1, 5}, []int{1, 5}},
		{[]int{90, 1}, []int{90, 100}}, {[]int{100}, []int{90, 100}}, {[]int{2, 1, 3}, []int{2, 4, 3}},
	} {
		add(opCase{name: fmt.Sprintf("broadcast%v%v", bc.from, bc.to), op: graph.OpBroadcast, dts: allTypes, build: func(b *graph.Builder, dt graph.DType) {
			x := b.Input("x", dt, bc.from...)
			b.Output("y", b.Broadcast(x, bc.to...))
		}})
	}

	// MatMul.
	type mm struct{ a, b []int }
	mms := []mm{
		{[]int{3, 4}, []int{4, 5}}, {[]int{1, 1}, []int{1, 1}}, {[]int{7, 13}, []int{13, 33}}, {[]int{1, 9}, []int{9, 1}},
		{[]int{2, 3, 4}, []int{2, 4, 5}}, {[]int{2, 3, 4}, []int{4, 5}}, {[]int{3, 4}, []int{2, 4, 5}},
		{[]int{2, 2, 5, 6}, []int{2, 2, 6, 3}}, {[]int{2, 2, 5, 6}, []int{6, 3}}, {[]int{5, 6}, []int{2, 3, 6, 7}},
		{[]int{16, 8, 8}, []int{16, 8, 8}}, {[]int{70, 90}, []int{90, 65}}, {[]int{3, 40, 30}, []int{30, 50}},
		{[]int{2, 0, 4}, []int{4, 5}}, {[]int{3, 0}, []int{0, 5}},
	}
	for _, m := range mms {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				as, bs := append([]int(nil), m.a...), append([]int(nil), m.b...)
				if ta {
					as[len(as)-1], as[len(as)-2] = as[len(as)-2], as[len(as)-1]
				}
				if tb {
					bs[len(bs)-1], bs[len(bs)-2] = bs[len(bs)-2], bs[len(bs)-1]
				}
				k := m.a[len(m.a)-1]
				add(opCase{name: fmt.Sprintf("matmul%v%v-%v%v", as, bs, ta, tb), op: graph.OpMatMul, scale: float64(k + 1), build: func(b *graph.Builder, dt graph.DType) {
					b.Output("c", b.MatMulT(b.Input("a", dt, as...), b.Input("b", dt, bs...), ta, tb))
				}})
			}
		}
	}

	// Cumsum.
	for _, shape := range [][]int{{7}, {3, 5}, {2, 3, 4}, {90, 100}} {
		for ax := range shape {
			for _, ex := range []bool{false, true} {
				for _, rev := range []bool{false, true} {
					add(opCase{name: fmt.Sprintf("cumsum%v-axis%d-ex%v-rev%v", shape, ax, ex, rev), op: graph.OpCumsum, dts: allTypes, scale: 30, build: func(b *graph.Builder, dt graph.DType) {
						b.Output("y", b.CumsumOpts(b.Input("x", dt, shape...), ax, ex, rev))
					}})
				}
			}
		}
	}

	// Gather and ScatterAdd.
	ids := func(v int) genFunc {
		return func(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
			if name == "ids" {
				return uniform(t, r, 0, float64(v))
			}
			return nil
		}
	}
	for _, gc := range []struct{ table, ids []int }{
		{[]int{10, 3, 2}, []int{2, 5}}, {[]int{10}, []int{4}}, {[]int{6, 4}, []int{}}, {[]int{50, 130}, []int{7, 11}}, {[]int{10, 3}, []int{1}},
	} {
		add(opCase{name: fmt.Sprintf("gather%v%v", gc.table, gc.ids), op: graph.OpGather, dts: allTypes, gen: ids(gc.table[0]), build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.Gather(b.Input("table", dt, gc.table...), b.Input("ids", graph.I32, gc.ids...)))
		}})
		add(opCase{name: fmt.Sprintf("scatter%v%v", gc.table, gc.ids), op: graph.OpScatterAdd, dts: allTypes, gen: ids(gc.table[0]), scale: 10, build: func(b *graph.Builder, dt graph.DType) {
			upd := append(append([]int(nil), gc.ids...), gc.table[1:]...)
			b.Output("y", b.ScatterAdd(b.Input("ids", graph.I32, gc.ids...), b.Input("u", dt, upd...), gc.table[0]))
		}})
	}

	// Fused.
	for _, sh := range [][]int{{1}, {3, 7}, {2, 3, 33}, {50, 130}, {4, 1}} {
		add(opCase{name: fmt.Sprintf("softmax%v", sh), op: graph.OpSoftmax, scale: 3, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.Softmax(b.MulScalar(b.Input("x", dt, sh...), 3)))
		}})
		add(opCase{name: fmt.Sprintf("logsoftmax%v", sh), op: graph.OpLogSoftmax, scale: 3, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.LogSoftmax(b.MulScalar(b.Input("x", dt, sh...), 3)))
		}})
		c := sh[len(sh)-1]
		add(opCase{name: fmt.Sprintf("layernorm%v", sh), op: graph.OpLayerNorm, scale: 10, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.LayerNorm(b.Input("x", dt, sh...), b.Param("g", dt, c), b.Param("b", dt, c), 1e-5))
		}})
		add(opCase{name: fmt.Sprintf("rmsnorm%v", sh), op: graph.OpRMSNorm, scale: 10, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.RMSNorm(b.Input("x", dt, sh...), b.Param("g", dt, c), 1e-6))
		}})
		lab := func(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
			if name == "labels" {
				return uniform(t, r, 0, float64(c))
			}
			return nil
		}
		add(opCase{name: fmt.Sprintf("crossentropy%v", sh), op: graph.OpCrossEntropy, gen: lab, scale: 10, build: func(b *graph.Builder, dt graph.DType) {
			b.Output("y", b.CrossEntropy(b.MulScalar(b.Input("x", dt, sh...), 3), b.Input("labels", graph.I32, sh[:len(sh)-1]...)))
		}})
	}
	add(opCase{name: "softmax-masked", op: graph.OpSoftmax, build: func(b *graph.Builder, dt graph.DType) {
		x := b.Input("x", dt, 5, 9)
		mask := b.Less(b.Iota(dt, 0, 5, 9), b.Iota(dt, 1, 5, 9))
		masked := b.Where(mask, b.Full(dt, math.Inf(-1), 5, 9), x)
		b.Output("y", b.Softmax(masked))
		b.Output("l", b.LogSoftmax(masked))
	}})
	return cs
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
	panic(op)
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
	panic(op)
}

func TestOps(t *testing.T) {
	covered := map[graph.Op]map[graph.DType]bool{}
	ran, total := 0, 0
	for ci, c := range opCases() {
		for _, dt := range c.dts {
			total++
			t.Run(fmt.Sprintf("%s/%v", c.name, dt), func(t *testing.T) {
				b := graph.NewBuilder()
				c.build(b, dt)
				g, err := b.Build()
				if err != nil {
					t.Fatal(err)
				}
				if len(g.Outputs) == 0 {
					t.Skip("no output")
				}
				ran++
				r := rand.New(rand.NewPCG(uint64(ci), uint64(dt)))
				bind := bindAll(g, r, c.gen)
				for _, th := range []int{1, 3} {
					checkGraph(t, g, bind, th, c.scale)
				}
				if covered[c.op] == nil {
					covered[c.op] = map[graph.DType]bool{}
				}
				covered[c.op][dt] = true
			})
		}
	}
	if ran < total {
		return // filtered with -run: no coverage check
	}
	for _, op := range graph.Ops() {
		for _, dt := range floats {
			if !covered[op][dt] {
				t.Errorf("op %v is not tested in %v", op, dt)
			}
		}
	}
}
