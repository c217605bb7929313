package graph

import "fmt"

// Grad appends to b the gradient of the scalar loss with respect to each
// value of wrt and returns the gradient values, in order. A value of wrt that
// the loss does not depend on gets zeros. Gradients stop at StopGradient,
// at integer values and at ops without a derivative (comparisons, sign,
// iota, constants).
func Grad(b *Builder, loss Value, wrt []Value) ([]Value, error) {
	if b.err != nil {
		return nil, b.err
	}
	lt := b.Type(loss)
	if !b.ok(loss) || !lt.DType.IsFloat() || lt.Shape.Size() != 1 {
		return nil, fmt.Errorf("grad: the loss must be a floating-point scalar, found %v", lt)
	}
	for _, w := range wrt {
		if !b.ok(w) || !b.DType(w).IsFloat() {
			return nil, fmt.Errorf("grad: cannot differentiate with respect to %v", b.Type(w))
		}
	}
	// Values on a path from some wrt to the loss.
	n := int(loss) + 1
	fromWrt := make([]bool, n)
	for _, w := range wrt {
		if int(w) < n {
			fromWrt[w] = true
		}
	}
	for i := 0; i < n; i++ {
		nd := &b.g.Nodes[i]
		if fromWrt[i] || !differentiable(nd) {
			continue
		}
		for _, in := range nd.Inputs {
			if fromWrt[in] {
				fromWrt[i] = true
				break
			}
		}
	}
	ct := make([]Value, n)
	for i := range ct {
		ct[i] = NoValue
	}
	ct[loss] = b.Full(lt.DType, 1, lt.Shape...)
	for i := n - 1; i >= 0; i-- {
		g := ct[i]
		if g == NoValue || !fromWrt[i] {
			continue
		}
		nd := b.g.Nodes[i] // copy: vjp appends nodes and may move the slice
		if nd.Op.IsLeaf() {
			continue
		}
		grads := vjp(b, Value(i), &nd, g)
		for j, in := range nd.Inputs {
			if j >= len(grads) || grads[j] == NoValue || !fromWrt[in] {
				continue
			}
			if ct[in] == NoValue {
				ct[in] = grads[j]
			} else {
				ct[in] = b.Add(ct[in], grads[j])
			}
		}
		if b.err != nil {
			return nil, fmt.Errorf("grad of %s (node %d): %w", nd.Op, i, b.err)
		}
	}
	out := make([]Value, len(wrt))
	for i, w := range wrt {
		if int(w) < n && ct[w] != NoValue {
			out[i] = ct[w]
		} else {
			out[i] = b.Zeros(b.DType(w), b.Shape(w)...)
		}
	}
	return out, b.err
}

// differentiable reports whether gradients flow through nd at all.
func differentiable(nd *Node) bool {
	switch nd.Op {
	case OpStopGradient, OpLess, OpEqual, OpSign, OpIota, OpConst:
		return false
	}
	return nd.Type.DType.IsFloat()
}

// vjp returns the cotangent of each input of node y given the cotangent g
// of its output (NoValue where an input gets none).
func vjp(b *Builder, y Value, nd *Node, g Value) []Value {
	in := nd.Inputs
	x := func(i int) Value { return in[i] }
	switch nd.Op {
	case OpNeg:
		return []Value{b.Neg(g)}
	case OpAbs:
		return []Value{b.Mul(g, b.Sign(x(0)))}
	case OpExp:
		return []Value{b.Mul(g, y)}
	case OpLog:
		return []Value{b.Div(g, x(0))}
	case OpSqrt:
		return []Value{b.Div(b.MulScalar(g, 0.5), y)}
	case OpRsqrt:
		return []Value{b.Mul(b.MulScalar(g, -0.5), b.Mul(y, b.Square(y)))}
	case OpRecip:
		return []Value{b.Neg(b.Mul(g, b.Square(y)))}
	case OpTanh:
		return []Value{b.Mul(g, b.Sub(b.Scalar(nd.Type.DType, 1), b.Square(y)))}
	case OpSigmoid:
		return []Value{b.Mul(g, b.Mul(y, b.Sub(b.Scalar(nd.Type.DType, 1), y)))}
	case OpSoftplus:
		return []Value{b.Mul(g, b.Sigmoid(x(0)))}
	case OpSin:
		return []Value{b.Mul(g, b.Cos(x(0)))}
	case OpCos:
		return []Value{b.Neg(b.Mul(g, b.Sin(x(0))))}
	case OpCast:
		return []Value{b.Cast(g, b.DType(x(0)))}
	case OpAdd:
		return []Value{unbroadcast(b, g, x(0)), unbroadcast(b, g, x(1))}
	case OpSub:
		return []Value{unbroadcast(b, g, x(0)), unbroadcast(b, b.Neg(g), x(1))}
	case OpMul:
		return []Value{unbroadcast(b, b.Mul(g, x(1)), x(0)), unbroadcast(b, b.Mul(g, x(0)), x(1))}
	case OpDiv:
		return []Value{unbroadcast(b, b.Div(g, x(1)), x(0)), unbroadcast(b, b.Neg(b.Div(b.Mul(g, y), x(1))), x(1))}
	case OpMax, OpMin:
		// Ties send the whole gradient to the first input.
		second := b.Less(x(0), x(1)) // max: y comes from x1 where x0 < x1
		if nd.Op == OpMin {
			second = b.Less(x(1), x(0))
		}
		zero := b.Scalar(nd.Type.DType, 0)
		return []Value{unbroadcast(b, b.Where(second, zero, g), x(0)), unbroadcast(b, b.Where(second, g, zero), x(1))}
	case OpPow:
		p := x(1)
		dx := b.Mul(g, b.Mul(p, b.Pow(x(0), b.AddScalar(p, -1))))
		dp := b.Mul(g, b.Mul(y, b.Log(x(0))))
		return []Value{unbroadcast(b, dx, x(0)), unbroadcast(b, dp, x(1))}
	case OpWhere:
		zero := b.Scalar(nd.Type.DType, 0)
		return []Value{NoValue, unbroadcast(b, b.Where(x(0), g, zero), x(1)), unbroadcast(b, b.Where(x(0), zero, g), x(2))}
	case OpReduceSum:
		return []Value{b.Broadcast(g, b.Shape(x(0))...)}
	case OpReduceMax:
		// Ties share the gradient equally.
		mask := b.Cast(b.Equal(x(0), y), nd.Type.DType)
		count := b.ReduceSum(mask, nd.Attrs.Axes...)
		return []Value{b.Mul(mask, b.Div(g, count))}
	case OpReshape:
		return []Value{b.Reshape(g, b.Shape(x(0))...)}
	case OpBroadcast:
		return []Value{unbroadcast(b, g, x(0))}
	case OpTranspose:
		inv := make([]int, len(nd.Attrs.Perm))
		for i, p := range nd.Attrs.Perm {
			inv[p] = i
		}
		return []Value{b.Transpose(g, inv...)}
	case OpSlice:
		xs := b.Shape(x(0))
		hi := make([]int, len(xs))
		for i := range hi {
			hi[i] = xs[i] - nd.Attrs.End[i]
		}
		return []Value{b.Pad(g, nd.Attrs.Begin, hi)}
	case OpPad:
		xs := b.Shape(x(0))
		end := make([]int, len(xs))
		for i := range end {
			end[i] = nd.Attrs.Lo[i] + xs[i]
		}
		return []Value{b.Slice(g, nd.Attrs.Lo, end)}
	case OpConcat:
		out := make([]Value, len(in))
		off := 0
		for i, v := range in {
			w := b.Dim(v, nd.Attrs.Axis)
			out[i] = b.SliceAxis(g, nd.Attrs.Axis, off, off+w)
			off += w
		}
		return out
	case OpMatMul:
		return matmulVJP(b, nd, g)
	case OpCumsum:
		return []Value{b.CumsumOpts(g, nd.Attrs.Axis, nd.Attrs.Exclusive, !nd.Attrs.Reverse)}
	case OpGather:
		return []Value{b.ScatterAdd(x(1), g, b.Dim(x(0), 0)), NoValue}
	case OpScatterAdd:
		return []Value{NoValue, b.Gather(g, x(0))}
	case OpSoftmax:
		s := b.ReduceSum(b.Mul(g, y), -1)
		return []Value{b.Mul(y, b.Sub(g, s))}
	case OpLogSoftmax:
		return []Value{b.Sub(g, b.Mul(b.Exp(y), b.ReduceSum(g, -1)))}
	case OpLayerNorm, OpRMSNorm:
		return normVJP(b, nd, g)
	case OpCrossEntropy:
		logits, labels := x(0), x(1)
		dt := nd.Type.DType
		v := b.Dim(logits, -1)
		ls := b.Shape(labels)
		onehot := b.Cast(b.Equal(b.Iota(I32, len(ls), append(ls.Clone(), v)...), b.Reshape(labels, append(ls.Clone(), 1)...)), dt)
		gcol := b.Reshape(g, append(ls.Clone(), 1)...)
		return []Value{b.Mul(gcol, b.Sub(b.Softmax(logits), onehot)), NoValue}
	}
	b.Fail(fmt.Errorf("grad: no derivative rule for %s", nd.Op))
	return nil
}

// unbroadcast sums g down to the shape of x, undoing numpy broadcasting.
func unbroadcast(b *Builder, g, x Value) Value {
	gs, xs := b.Shape(g), b.Shape(x)
	if gs.Equal(xs) {
		return g
	}
	var axes []int
	lead := len(gs) - len(xs)
	for i := range gs {
		if i < lead || xs[i-lead] == 1 && gs[i] != 1 {
			axes = append(axes, i)
		}
	}
	if len(axes) > 0 {
		g = b.ReduceSum(g, axes...)
	}
	return b.Reshape(g, xs...)
}

// matmulVJP differentiates C = op(A)·op(B), where op transposes the last two
// axes when TransA/TransB is set: dop(A) = G·op(B)ᵀ and dop(B) = op(A)ᵀ·G.
func matmulVJP(b *Builder, nd *Node, g Value) []Value {
	A, B := nd.Inputs[0], nd.Inputs[1]
	ta, tb := nd.Attrs.TransA, nd.Attrs.TransB
	var dA, dB Value
	if !ta {
		dA = b.MatMulT(g, B, false, !tb) // G·op(B)ᵀ
	} else {
		dA = b.MatMulT(B, g, tb, true) // (G·op(B)ᵀ)ᵀ = op(B)·Gᵀ
	}
	rankA, rankB := len(b.Shape(A)), len(b.Shape(B))
	if rankB == 2 && rankA > 2 && !ta {
		// A shared weight: fold the batch into one product over all rows.
		m := b.Dim(A, -2) * b.Shape(A)[:rankA-2].Size()
		a2 := b.Reshape(A, m, b.Dim(A, -1))
		g2 := b.Reshape(g, m, b.Dim(g, -1))
		if !tb {
			dB = b.MatMulT(a2, g2, true, false) // Aᵀ·G
		} else {
			dB = b.MatMulT(g2, a2, true, false) // Gᵀ·A
		}
	} else if !tb {
		dB = b.MatMulT(A, g, !ta, false) // op(A)ᵀ·G
	} else {
		dB = b.MatMulT(g, A, true, ta) // (op(A)ᵀ·G)ᵀ = Gᵀ·op(A)
	}
	return []Value{sumBatch(b, dA, A), sumBatch(b, dB, B)}
}

// sumBatch reduces the batch axes of a product's gradient d when the operand
// x was a plain matrix shared across the batch.
func sumBatch(b *Builder, d, x Value) Value {
	ds, xs := b.Shape(d), b.Shape(x)
	if len(ds) == len(xs) {
		return d
	}
	axes := make([]int, len(ds)-len(xs))
	for i := range axes {
		axes[i] = i
	}
	return b.Reshape(b.ReduceSum(d, axes...), xs...)
}

// normVJP differentiates LayerNorm and RMSNorm over the last axis:
// with x̂ the normalised input and r = 1/σ, dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))
// where ĝ = g·γ (LayerNorm; RMSNorm omits the mean(ĝ) term), dγ = Σ g·x̂ and
// dβ = Σ g over every axis but the last.
func normVJP(b *Builder, nd *Node, g Value) []Value {
	x, gamma := nd.Inputs[0], nd.Inputs[1]
	xc := x
	if nd.Op == OpLayerNorm {
		xc = b.Sub(x, b.Mean(x, -1))
	}
	r := b.Rsqrt(b.AddScalar(b.Mean(b.Square(xc), -1), nd.Attrs.Eps))
	xhat := b.Mul(xc, r)
	gh := b.Mul(g, gamma)
	inner := b.Mul(xhat, b.Mean(b.Mul(gh, xhat), -1))
	if nd.Op == OpLayerNorm {
		inner = b.Add(inner, b.Mean(gh, -1))
	}
	dx := b.Mul(r, b.Sub(gh, inner))
	rows := b.Shape(x).Size() / max(b.Dim(x, -1), 1)
	flat := func(v Value) Value { return b.Reshape(v, rows, b.Dim(x, -1)) }
	dGamma := b.Reshape(b.ReduceSum(flat(b.Mul(g, xhat)), 0), b.Dim(x, -1))
	if nd.Op == OpRMSNorm {
		return []Value{dx, dGamma}
	}
	dBeta := b.Reshape(b.ReduceSum(flat(g), 0), b.Dim(x, -1))
	return []Value{dx, dGamma, dBeta}
}
