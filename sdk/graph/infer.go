package graph

import (
	"fmt"
	"math"
	"strings"
)

// inferType is the shape rule of every op: from the op, its attributes and
// its input types it returns the output type, or an error that names the op,
// its inputs and their types. Ops whose output shape is not determined by
// their inputs (leaves, reshape, broadcast, cast, scatter_add) take it from
// the declared type and check it.
func inferType(op Op, a *Attrs, in []Type, declared Type) (Type, error) {
	fail := func(format string, args ...any) (Type, error) {
		return Type{}, fmt.Errorf("%s(%s): %s", op, typeList(in), fmt.Sprintf(format, args...))
	}
	if !op.Valid() {
		return fail("unknown op")
	}
	switch {
	case op.IsUnary():
		x := in[0]
		switch op {
		case OpCast:
			if !declared.DType.Valid() {
				return fail("cast to invalid dtype")
			}
			return Type{declared.DType, x.Shape.Clone()}, nil
		case OpStopGradient, OpNeg, OpAbs, OpSign:
		default:
			if !x.DType.IsFloat() {
				return fail("expected a floating-point input, found %v", x.DType)
			}
		}
		return Type{x.DType, x.Shape.Clone()}, nil
	case op.IsBinary():
		if in[0].DType != in[1].DType {
			return fail("dtypes differ: %v and %v", in[0].DType, in[1].DType)
		}
		if (op == OpDiv || op == OpPow) && !in[0].DType.IsFloat() {
			return fail("expected floating-point inputs, found %v", in[0].DType)
		}
		s, err := BroadcastShapes(in[0].Shape, in[1].Shape)
		if err != nil {
			return fail("%v", err)
		}
		return Type{in[0].DType, s}, nil
	}
	switch op {
	case OpInput, OpParam, OpState, OpConst:
		if op == OpConst && len(a.Values) != 1 && len(a.Values) != declared.Shape.Size() {
			return fail("has %d values, expected 1 (a fill) or %d for shape %v", len(a.Values), declared.Shape.Size(), declared.Shape)
		}
		if op == OpConst && declared.DType == I32 {
			for i, v := range a.Values {
				if v != math.Trunc(v) || v < math.MinInt32 || v > math.MaxInt32 {
					return fail("value %d is %v, expected an integer in the i32 range", i, v)
				}
			}
		}
		return declared, nil
	case OpIota:
		if a.Axis < 0 || a.Axis >= len(declared.Shape) {
			return fail("axis %d out of range for shape %v", a.Axis, declared.Shape)
		}
		return declared, nil
	case OpWhere:
		if in[1].DType != in[2].DType {
			return fail("branch dtypes differ: %v and %v", in[1].DType, in[2].DType)
		}
		s, err := BroadcastShapes(in[1].Shape, in[2].Shape)
		if err == nil {
			s, err = BroadcastShapes(in[0].Shape, s)
		}
		if err != nil {
			return fail("%v", err)
		}
		return Type{in[1].DType, s}, nil
	case OpReduceSum, OpReduceMax:
		x := in[0]
		out := x.Shape.Clone()
		seen := map[int]bool{}
		for _, ax := range a.Axes {
			if ax < 0 || ax >= len(out) || seen[ax] {
				return fail("axes %v invalid for rank %d (each in 0..%d, no repeats)", a.Axes, len(out), len(out)-1)
			}
			seen[ax] = true
			out[ax] = 1
		}
		return Type{x.DType, out}, nil
	case OpReshape:
		if declared.Shape.Size() != in[0].Shape.Size() {
			return fail("cannot reshape %d elements to %v (%d elements)", in[0].Shape.Size(), declared.Shape, declared.Shape.Size())
		}
		return Type{in[0].DType, declared.Shape.Clone()}, nil
	case OpBroadcast:
		s, err := BroadcastShapes(in[0].Shape, declared.Shape)
		if err != nil || !s.Equal(declared.Shape) {
			return fail("cannot broadcast %v to %v", in[0].Shape, declared.Shape)
		}
		return Type{in[0].DType, declared.Shape.Clone()}, nil
	case OpTranspose:
		x := in[0]
		if !isPerm(a.Perm, len(x.Shape)) {
			return fail("perm %v is not a permutation of 0..%d", a.Perm, len(x.Shape)-1)
		}
		out := make(Shape, len(x.Shape))
		for i, p := range a.Perm {
			out[i] = x.Shape[p]
		}
		return Type{x.DType, out}, nil
	case OpSlice:
		x := in[0]
		if len(a.Begin) != len(x.Shape) || len(a.End) != len(x.Shape) {
			return fail("begin %v and end %v must have one entry per dimension of %v", a.Begin, a.End, x.Shape)
		}
		out := make(Shape, len(x.Shape))
		for i := range out {
			if a.Begin[i] < 0 || a.End[i] < a.Begin[i] || a.End[i] > x.Shape[i] {
				return fail("range %d:%d invalid for dimension %d of size %d", a.Begin[i], a.End[i], i, x.Shape[i])
			}
			out[i] = a.End[i] - a.Begin[i]
		}
		return Type{x.DType, out}, nil
	case OpPad:
		x := in[0]
		if len(a.Lo) != len(x.Shape) || len(a.Hi) != len(x.Shape) {
			return fail("lo %v and hi %v must have one entry per dimension of %v", a.Lo, a.Hi, x.Shape)
		}
		out := make(Shape, len(x.Shape))
		for i := range out {
			if a.Lo[i] < 0 || a.Hi[i] < 0 || a.Lo[i] > MaxElements || a.Hi[i] > MaxElements {
				return fail("padding %d,%d invalid for dimension %d", a.Lo[i], a.Hi[i], i)
			}
			out[i] = x.Shape[i] + a.Lo[i] + a.Hi[i]
		}
		t := Type{x.DType, out}
		if err := out.check(); err != nil {
			return fail("%v", err)
		}
		return t, nil
	case OpConcat:
		first := in[0]
		if a.Axis < 0 || a.Axis >= len(first.Shape) {
			return fail("axis %d out of range for rank %d", a.Axis, len(first.Shape))
		}
		out := first.Shape.Clone()
		out[a.Axis] = 0
		for _, t := range in {
			if t.DType != first.DType || len(t.Shape) != len(first.Shape) {
				return fail("inputs must share dtype and rank")
			}
			for d := range t.Shape {
				if d != a.Axis && t.Shape[d] != first.Shape[d] {
					return fail("dimension %d differs (%d vs %d); only axis %d may differ", d, t.Shape[d], first.Shape[d], a.Axis)
				}
			}
			if t.Shape[a.Axis] > MaxElements-out[a.Axis] {
				return fail("dimension %d totals more than %d", a.Axis, MaxElements)
			}
			out[a.Axis] += t.Shape[a.Axis]
		}
		if err := out.check(); err != nil {
			return fail("%v", err)
		}
		return Type{first.DType, out}, nil
	case OpMatMul:
		return inferMatMul(a, in, fail)
	case OpCumsum:
		if a.Axis < 0 || a.Axis >= len(in[0].Shape) {
			return fail("axis %d out of range for rank %d", a.Axis, len(in[0].Shape))
		}
		return Type{in[0].DType, in[0].Shape.Clone()}, nil
	case OpGather:
		table, ids := in[0], in[1]
		if ids.DType != I32 {
			return fail("ids must be i32, found %v", ids.DType)
		}
		if len(table.Shape) < 1 {
			return fail("table must have rank ≥ 1")
		}
		out := append(ids.Shape.Clone(), table.Shape[1:]...)
		if err := out.check(); err != nil {
			return fail("%v", err)
		}
		return Type{table.DType, out}, nil
	case OpScatterAdd:
		ids, upd := in[0], in[1]
		if ids.DType != I32 {
			return fail("ids must be i32, found %v", ids.DType)
		}
		if len(declared.Shape) < 1 || len(upd.Shape) != len(ids.Shape)+len(declared.Shape)-1 {
			return fail("updates %v must be ids %v followed by the row shape of %v", upd.Shape, ids.Shape, declared.Shape)
		}
		if !Shape(upd.Shape[:len(ids.Shape)]).Equal(ids.Shape) || !Shape(upd.Shape[len(ids.Shape):]).Equal(declared.Shape[1:]) {
			return fail("updates %v must be ids %v followed by the row shape of %v", upd.Shape, ids.Shape, declared.Shape)
		}
		return Type{upd.DType, declared.Shape.Clone()}, nil
	case OpSoftmax, OpLogSoftmax:
		if !in[0].DType.IsFloat() || len(in[0].Shape) == 0 {
			return fail("expected a floating-point tensor of rank ≥ 1")
		}
		return Type{in[0].DType, in[0].Shape.Clone()}, nil
	case OpLayerNorm, OpRMSNorm:
		x := in[0]
		if !x.DType.IsFloat() || len(x.Shape) == 0 {
			return fail("expected a floating-point tensor of rank ≥ 1")
		}
		c := x.Shape[len(x.Shape)-1]
		for _, p := range in[1:] {
			if p.DType != x.DType || len(p.Shape) != 1 || p.Shape[0] != c {
				return fail("scale and shift must be %v[%d]", x.DType, c)
			}
		}
		if !(a.Eps >= 0) {
			return fail("eps must be ≥ 0, found %v", a.Eps)
		}
		return Type{x.DType, x.Shape.Clone()}, nil
	case OpCrossEntropy:
		logits, labels := in[0], in[1]
		if !logits.DType.IsFloat() || len(logits.Shape) == 0 {
			return fail("logits must be floating-point of rank ≥ 1")
		}
		if labels.DType != I32 || !labels.Shape.Equal(logits.Shape[:len(logits.Shape)-1]) {
			return fail("labels must be i32%v (the logits without their last axis)", Shape(logits.Shape[:len(logits.Shape)-1]))
		}
		return Type{logits.DType, labels.Shape.Clone()}, nil
	}
	return fail("no shape rule")
}

func inferMatMul(a *Attrs, in []Type, fail func(string, ...any) (Type, error)) (Type, error) {
	x, y := in[0], in[1]
	if x.DType != y.DType || !x.DType.IsFloat() {
		return fail("expected two floating-point inputs of one dtype")
	}
	if len(x.Shape) < 2 || len(y.Shape) < 2 {
		return fail("expected inputs of rank ≥ 2")
	}
	m, k1 := x.Shape[len(x.Shape)-2], x.Shape[len(x.Shape)-1]
	if a.TransA {
		m, k1 = k1, m
	}
	k2, n := y.Shape[len(y.Shape)-2], y.Shape[len(y.Shape)-1]
	if a.TransB {
		k2, n = n, k2
	}
	if k1 != k2 {
		return fail("inner dimensions differ: %d vs %d", k1, k2)
	}
	bx, by := x.Shape[:len(x.Shape)-2], y.Shape[:len(y.Shape)-2]
	var batch Shape
	switch {
	case Shape(bx).Equal(by) || len(by) == 0:
		batch = Shape(bx).Clone()
	case len(bx) == 0:
		batch = Shape(by).Clone()
	default:
		return fail("batch dimensions %v and %v must be equal, or one input must be a matrix", Shape(bx), Shape(by))
	}
	out := append(batch, m, n)
	if err := out.check(); err != nil {
		return fail("%v", err)
	}
	return Type{x.DType, out}, nil
}

func isPerm(p []int, n int) bool {
	if len(p) != n {
		return false
	}
	seen := make([]bool, n)
	for _, v := range p {
		if v < 0 || v >= n || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

func typeList(ts []Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}
