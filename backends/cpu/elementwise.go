// Elementwise kernels: unary maps, casts, binary ops with numpy broadcasting
// and Where. Equal shapes, a scalar operand and a suffix-broadcast row all
// collapse to contiguous runs with strides 1 or 0, which have their own
// loops (vectorised for float32); anything else walks a strided plan.

package cpu

import (
	"fmt"
	"math"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// ---- unary ----

// unaryLoop returns the loop for op over contiguous slices of equal length.
func unaryLoop[T elem](op graph.Op) func(dst, x []T) {
	if f, ok := any(unaryF32(op)).(func(dst, x []T)); ok && f != nil {
		return f
	}
	switch op {
	case graph.OpNeg:
		return func(dst, x []T) {
			for i := range dst {
				dst[i] = -x[i]
			}
		}
	case graph.OpAbs:
		return func(dst, x []T) {
			for i := range dst {
				v := x[i]
				if v < 0 {
					v = -v
				} else if v == 0 {
					v = 0 // turns -0 into +0
				}
				dst[i] = v
			}
		}
	case graph.OpSign:
		return func(dst, x []T) {
			for i := range dst {
				dst[i] = sign(x[i])
			}
		}
	case graph.OpStopGradient:
		return func(dst, x []T) { copy(dst, x) }
	}
	return unaryFloatLoop[T](op)
}

// unaryFloatLoop covers the ops defined on floats only; for int32 (which
// the shape rules never let through) it returns nil.
func unaryFloatLoop[T elem](op graph.Op) func(dst, x []T) {
	var z T
	if _, ok := any(z).(int32); ok {
		return nil
	}
	var f func(float64) float64
	switch op {
	case graph.OpExp:
		f = math.Exp
	case graph.OpLog:
		f = math.Log
	case graph.OpSqrt:
		f = math.Sqrt
	case graph.OpRsqrt:
		f = func(x float64) float64 { return 1 / math.Sqrt(x) }
	case graph.OpRecip:
		f = func(x float64) float64 { return 1 / x }
	case graph.OpTanh:
		f = math.Tanh
	case graph.OpSigmoid:
		f = sigmoid[float64]
	case graph.OpSoftplus:
		f = softplus[float64]
	case graph.OpSin:
		f = math.Sin
	case graph.OpCos:
		f = math.Cos
	default:
		return nil
	}
	switch op {
	case graph.OpSqrt:
		return func(dst, x []T) {
			for i := range dst {
				dst[i] = T(math.Sqrt(float64(x[i])))
			}
		}
	case graph.OpRecip:
		return func(dst, x []T) {
			for i := range dst {
				dst[i] = 1 / x[i]
			}
		}
	}
	return func(dst, x []T) {
		for i := range dst {
			dst[i] = T(f(float64(x[i])))
		}
	}
}

// unaryF32 returns the vectorised float32 loops.
func unaryF32(op graph.Op) func(dst, x []float32) {
	switch op {
	case graph.OpNeg:
		return func(dst, x []float32) { vMulScalar(dst, x, -1) }
	case graph.OpExp:
		return vExp
	case graph.OpLog:
		return vLog
	case graph.OpTanh:
		return vTanh
	case graph.OpSigmoid:
		return vSigmoid
	case graph.OpSoftplus:
		return vSoftplus
	}
	return nil
}

func buildUnary[T elem](c *compiler, op graph.Op, out, x *value) (func() error, error) {
	f := unaryLoop[T](op)
	if f == nil {
		return nil, fmt.Errorf("not defined for %v", out.dt)
	}
	ds, xs := slotOf[T](out), slotOf[T](x)
	body := func(lo, hi int) { f(ds.d[lo:hi], xs.d[lo:hi]) }
	return c.flat(out.size, body), nil
}

// flat returns a step that runs body over [0,n) split across the pool.
func (c *compiler) flat(n int, body func(lo, hi int)) func() error {
	pool := c.p.b.pool
	return func() error {
		pool.parallelFor(n, minParallel, body)
		return nil
	}
}

// ---- cast ----

func castLoop[S, D elem](dst []D, src []S) {
	for i := range dst {
		dst[i] = D(src[i])
	}
}

func buildCast[S, D elem](c *compiler, out, x *value) func() error {
	ds, xs := slotOf[D](out), slotOf[S](x)
	return c.flat(out.size, func(lo, hi int) { castLoop(ds.d[lo:hi], xs.d[lo:hi]) })
}

func castTo[S elem](c *compiler, out, x *value) func() error {
	switch out.dt {
	case graph.F32:
		return buildCast[S, float32](c, out, x)
	case graph.F64:
		return buildCast[S, float64](c, out, x)
	}
	return buildCast[S, int32](c, out, x)
}

// ---- binary ----

type binFunc[T elem] func(op graph.Op, dst, a []T, oa, sa int, b []T, ob, sb int)

// binSeg computes dst[i] = a[oa+i*sa] op b[ob+i*sb] for i < len(dst).
func binSeg[T elem](op graph.Op, dst, a []T, oa, sa int, b []T, ob, sb int) {
	n := len(dst)
	switch {
	case sa == 1 && sb == 1:
		a, b := a[oa:oa+n], b[ob:ob+n]
		switch op {
		case graph.OpAdd:
			for i := range dst {
				dst[i] = a[i] + b[i]
			}
		case graph.OpSub:
			for i := range dst {
				dst[i] = a[i] - b[i]
			}
		case graph.OpMul:
			for i := range dst {
				dst[i] = a[i] * b[i]
			}
		case graph.OpDiv:
			for i := range dst {
				dst[i] = a[i] / b[i]
			}
		case graph.OpMax:
			for i := range dst {
				dst[i] = maxOf(a[i], b[i])
			}
		case graph.OpMin:
			for i := range dst {
				dst[i] = minOf(a[i], b[i])
			}
		case graph.OpPow:
			for i := range dst {
				dst[i] = T(math.Pow(float64(a[i]), float64(b[i])))
			}
		case graph.OpLess:
			for i := range dst {
				dst[i] = b2f[T](a[i] < b[i])
			}
		case graph.OpEqual:
			for i := range dst {
				dst[i] = b2f[T](a[i] == b[i])
			}
		}
	case sa == 1 && sb == 0:
		a, s := a[oa:oa+n], b[ob]
		switch op {
		case graph.OpAdd:
			for i := range dst {
				dst[i] = a[i] + s
			}
		case graph.OpSub:
			for i := range dst {
				dst[i] = a[i] - s
			}
		case graph.OpMul:
			for i := range dst {
				dst[i] = a[i] * s
			}
		case graph.OpDiv:
			for i := range dst {
				dst[i] = a[i] / s
			}
		case graph.OpMax:
			for i := range dst {
				dst[i] = maxOf(a[i], s)
			}
		case graph.OpMin:
			for i := range dst {
				dst[i] = minOf(a[i], s)
			}
		case graph.OpPow:
			fs := float64(s)
			switch fs {
			case 2:
				for i := range dst {
					dst[i] = a[i] * a[i]
				}
			case 1:
				copy(dst, a)
			default:
				for i := range dst {
					dst[i] = T(math.Pow(float64(a[i]), fs))
				}
			}
		case graph.OpLess:
			for i := range dst {
				dst[i] = b2f[T](a[i] < s)
			}
		case graph.OpEqual:
			for i := range dst {
				dst[i] = b2f[T](a[i] == s)
			}
		}
	case sa == 0 && sb == 1:
		s, b := a[oa], b[ob:ob+n]
		switch op {
		case graph.OpAdd:
			for i := range dst {
				dst[i] = s + b[i]
			}
		case graph.OpSub:
			for i := range dst {
				dst[i] = s - b[i]
			}
		case graph.OpMul:
			for i := range dst {
				dst[i] = s * b[i]
			}
		case graph.OpDiv:
			for i := range dst {
				dst[i] = s / b[i]
			}
		case graph.OpMax:
			for i := range dst {
				dst[i] = maxOf(s, b[i])
			}
		case graph.OpMin:
			for i := range dst {
				dst[i] = minOf(s, b[i])
			}
		case graph.OpPow:
			for i := range dst {
				dst[i] = T(math.Pow(float64(s), float64(b[i])))
			}
		case graph.OpLess:
			for i := range dst {
				dst[i] = b2f[T](s < b[i])
			}
		case graph.OpEqual:
			for i := range dst {
				dst[i] = b2f[T](s == b[i])
			}
		}
	case sa == 0 && sb == 0:
		v := binScalar(op, a[oa], b[ob])
		for i := range dst {
			dst[i] = v
		}
	default:
		for i := range dst {
			dst[i] = binScalar(op, a[oa+i*sa], b[ob+i*sb])
		}
	}
}

// binSegF32 routes the common float32 cases to the vector kernels.
func binSegF32(op graph.Op, dst, a []float32, oa, sa int, b []float32, ob, sb int) {
	n := len(dst)
	switch {
	case sa == 1 && sb == 1:
		a, b := a[oa:oa+n], b[ob:ob+n]
		switch op {
		case graph.OpAdd:
			vAdd(dst, a, b)
			return
		case graph.OpSub:
			vSub(dst, a, b)
			return
		case graph.OpMul:
			vMul(dst, a, b)
			return
		case graph.OpDiv:
			vDiv(dst, a, b)
			return
		}
	case sa == 1 && sb == 0:
		a, s := a[oa:oa+n], b[ob]
		switch op {
		case graph.OpAdd:
			vAddScalar(dst, a, s)
			return
		case graph.OpSub:
			vAddScalar(dst, a, -s)
			return
		case graph.OpMul:
			vMulScalar(dst, a, s)
			return
		}
	case sa == 0 && sb == 1:
		s, b := a[oa], b[ob:ob+n]
		switch op {
		case graph.OpAdd:
			vAddScalar(dst, b, s)
			return
		case graph.OpMul:
			vMulScalar(dst, b, s)
			return
		}
	}
	binSeg(op, dst, a, oa, sa, b, ob, sb)
}

func binScalar[T elem](op graph.Op, x, y T) T {
	switch op {
	case graph.OpAdd:
		return x + y
	case graph.OpSub:
		return x - y
	case graph.OpMul:
		return x * y
	case graph.OpDiv:
		return x / y
	case graph.OpMax:
		return maxOf(x, y)
	case graph.OpMin:
		return minOf(x, y)
	case graph.OpPow:
		return T(math.Pow(float64(x), float64(y)))
	case graph.OpLess:
		return b2f[T](x < y)
	case graph.OpEqual:
		return b2f[T](x == y)
	}
	return 0
}

func b2f[T elem](b bool) T {
	if b {
		return 1
	}
	return 0
}

func buildBinary[T elem](c *compiler, op graph.Op, out, x, y *value) func() error {
	if (op == graph.OpDiv || op == graph.OpPow) && out.dt == graph.I32 {
		return nil
	}
	dims := out.shape
	plan := newPlan(dims, strides(dims), bcastStrides(x.shape, dims), bcastStrides(y.shape, dims))
	ds, xs, ys := slotOf[T](out), slotOf[T](x), slotOf[T](y)
	var seg binFunc[T] = binSeg[T]
	if f, ok := any(binSegF32).(func(graph.Op, []T, []T, int, int, []T, int, int)); ok {
		seg = f
	}
	sa, sb := plan.innerStride(1), plan.innerStride(2)
	body := func(lo, hi int) {
		var it ndIter
		it.start(plan, lo)
		d, a, b := ds.d, xs.d, ys.d
		for pos := lo; ; {
			n := min(it.run(), hi-pos)
			seg(op, d[it.off[0]:it.off[0]+n], a, it.off[1], sa, b, it.off[2], sb)
			pos += n
			if pos >= hi {
				return
			}
			it.nextRow()
		}
	}
	return c.flat(out.size, body)
}

// ---- where ----

func whereSeg[C, T elem](dst []T, cnd []C, oc, sc int, a []T, oa, sa int, b []T, ob, sb int) {
	n := len(dst)
	if sc == 1 {
		cnd := cnd[oc : oc+n]
		switch {
		case sa == 1 && sb == 1:
			a, b := a[oa:oa+n], b[ob:ob+n]
			for i, c := range cnd {
				v := b[i]
				if c != 0 {
					v = a[i]
				}
				dst[i] = v
			}
			return
		case sa == 0 && sb == 1:
			s, b := a[oa], b[ob:ob+n]
			for i, c := range cnd {
				v := b[i]
				if c != 0 {
					v = s
				}
				dst[i] = v
			}
			return
		case sa == 1 && sb == 0:
			a, s := a[oa:oa+n], b[ob]
			for i, c := range cnd {
				v := s
				if c != 0 {
					v = a[i]
				}
				dst[i] = v
			}
			return
		}
	}
	if sc == 0 {
		// One condition for the whole run: a strided copy of one side.
		src, o, st := b, ob, sb
		if cnd[oc] != 0 {
			src, o, st = a, oa, sa
		}
		if st == 1 {
			copy(dst, src[o:o+n])
			return
		}
		for i := range dst {
			dst[i] = src[o+i*st]
		}
		return
	}
	for i := range dst {
		if cnd[oc+i*sc] != 0 {
			dst[i] = a[oa+i*sa]
		} else {
			dst[i] = b[ob+i*sb]
		}
	}
}

func buildWhere[C, T elem](c *compiler, out, cond, x, y *value) func() error {
	dims := out.shape
	plan := newPlan(dims, strides(dims), bcastStrides(cond.shape, dims), bcastStrides(x.shape, dims), bcastStrides(y.shape, dims))
	ds, cs, xs, ys := slotOf[T](out), slotOf[C](cond), slotOf[T](x), slotOf[T](y)
	sc, sa, sb := plan.innerStride(1), plan.innerStride(2), plan.innerStride(3)
	body := func(lo, hi int) {
		var it ndIter
		it.start(plan, lo)
		for pos := lo; ; {
			n := min(it.run(), hi-pos)
			whereSeg(ds.d[it.off[0]:it.off[0]+n], cs.d, it.off[1], sc, xs.d, it.off[2], sa, ys.d, it.off[3], sb)
			pos += n
			if pos >= hi {
				return
			}
			it.nextRow()
		}
	}
	return c.flat(out.size, body)
}

func whereFor[C elem](c *compiler, out, cond, x, y *value) func() error {
	switch out.dt {
	case graph.F32:
		return buildWhere[C, float32](c, out, cond, x, y)
	case graph.F64:
		return buildWhere[C, float64](c, out, cond, x, y)
	}
	return buildWhere[C, int32](c, out, cond, x, y)
}
