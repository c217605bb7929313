package graph

import (
	"fmt"
	"math"
)

// Evaluate runs g with a plain, obviously-correct float64 interpreter: the
// independent reference that backends and gradients are tested against. It
// is slow by design (index arithmetic per element, no blocking). bindings
// holds every input, param and state by name; floating values are computed
// in float64 throughout and rounded once to each output's dtype. Updates are
// returned by their target's name and are not applied anywhere.
func Evaluate(g *Graph, bindings map[string]*Tensor) (outputs, updates map[string]*Tensor, err error) {
	if err := g.Validate(DefaultLimits); err != nil {
		return nil, nil, err
	}
	vals := make([][]float64, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		in := make([][]float64, len(n.Inputs))
		inT := make([]Type, len(n.Inputs))
		for j, v := range n.Inputs {
			in[j], inT[j] = vals[v], g.Nodes[v].Type
		}
		out, err := evalNode(n, in, inT, bindings)
		if err != nil {
			return nil, nil, fmt.Errorf("node %d (%s): %w", i, n.Op, err)
		}
		vals[i] = out
	}
	wrap := func(v Value) *Tensor {
		t := NewTensor(g.Nodes[v].Type.DType, g.Nodes[v].Type.Shape...)
		for i, x := range vals[v] {
			t.Set(i, x)
		}
		return t
	}
	outputs, updates = map[string]*Tensor{}, map[string]*Tensor{}
	for _, o := range g.Outputs {
		outputs[o.Name] = wrap(o.Value)
	}
	for _, u := range g.Updates {
		updates[g.Nodes[u.Target].Name] = wrap(u.Value)
	}
	return outputs, updates, nil
}

func evalNode(n *Node, in [][]float64, inT []Type, bindings map[string]*Tensor) ([]float64, error) {
	shape := n.Type.Shape
	size := shape.Size()
	out := make([]float64, size)
	a := &n.Attrs
	switch {
	case n.Op == OpInput || n.Op == OpParam || n.Op == OpState:
		t, ok := bindings[n.Name]
		if !ok {
			return nil, fmt.Errorf("%q is not bound", n.Name)
		}
		if err := t.Check(); err != nil {
			return nil, fmt.Errorf("%q: %v", n.Name, err)
		}
		if !t.Type.Equal(n.Type) {
			return nil, fmt.Errorf("%q is bound to %v, expected %v", n.Name, t.Type, n.Type)
		}
		return t.Float64s(), nil
	case n.Op == OpConst:
		for i := range out {
			out[i] = a.Values[0]
			if len(a.Values) > 1 {
				out[i] = a.Values[i]
			}
			if n.Type.DType == F32 { // a constant holds what its dtype can
				out[i] = float64(float32(out[i]))
			}
		}
	case n.Op == OpIota:
		forEachIndex(shape, func(idx []int, f int) { out[f] = float64(idx[a.Axis]) })
	case n.Op.IsUnary():
		for i, x := range in[0] {
			out[i] = unaryRef(n.Op, x, n.Type.DType)
		}
	case n.Op.IsBinary() || n.Op == OpWhere:
		forEachIndex(shape, func(idx []int, f int) {
			x := in[0][broadcastOffset(inT[0].Shape, idx)]
			y := in[1][broadcastOffset(inT[1].Shape, idx)]
			if n.Op == OpWhere {
				z := in[2][broadcastOffset(inT[2].Shape, idx)]
				if x != 0 {
					out[f] = y
				} else {
					out[f] = z
				}
				return
			}
			out[f] = binaryRef(n.Op, x, y, n.Type.DType)
		})
	case n.Op == OpReduceSum || n.Op == OpReduceMax:
		init := 0.0
		if n.Op == OpReduceMax {
			init = math.Inf(-1)
		}
		for i := range out {
			out[i] = init
		}
		forEachIndex(inT[0].Shape, func(idx []int, f int) {
			o := broadcastOffset(shape, idx)
			if n.Op == OpReduceSum {
				out[o] += in[0][f]
			} else if in[0][f] > out[o] || math.IsNaN(in[0][f]) {
				out[o] = in[0][f]
			}
		})
	case n.Op == OpReshape:
		copy(out, in[0])
	case n.Op == OpBroadcast:
		forEachIndex(shape, func(idx []int, f int) { out[f] = in[0][broadcastOffset(inT[0].Shape, idx)] })
	case n.Op == OpTranspose:
		st := inT[0].Shape.Strides()
		forEachIndex(shape, func(idx []int, f int) {
			o := 0
			for i, p := range a.Perm {
				o += idx[i] * st[p]
			}
			out[f] = in[0][o]
		})
	case n.Op == OpSlice:
		st := inT[0].Shape.Strides()
		forEachIndex(shape, func(idx []int, f int) {
			o := 0
			for i := range idx {
				o += (idx[i] + a.Begin[i]) * st[i]
			}
			out[f] = in[0][o]
		})
	case n.Op == OpPad:
		st := inT[0].Shape.Strides()
		forEachIndex(shape, func(idx []int, f int) {
			o := 0
			for i := range idx {
				j := idx[i] - a.Lo[i]
				if j < 0 || j >= inT[0].Shape[i] {
					return
				}
				o += j * st[i]
			}
			out[f] = in[0][o]
		})
	case n.Op == OpConcat:
		forEachIndex(shape, func(idx []int, f int) {
			j := idx[a.Axis]
			for k, t := range inT {
				if j < t.Shape[a.Axis] {
					sub := append([]int(nil), idx...)
					sub[a.Axis] = j
					out[f] = in[k][flatOffset(t.Shape, sub)]
					return
				}
				j -= t.Shape[a.Axis]
			}
		})
	case n.Op == OpMatMul:
		evalMatMul(a, in, inT, shape, out)
	case n.Op == OpCumsum:
		evalCumsum(a, in[0], shape, out)
	case n.Op == OpGather:
		row := Shape(inT[0].Shape[1:]).Size()
		for i, id := range in[1] {
			if id < 0 || int(id) >= inT[0].Shape[0] {
				return nil, fmt.Errorf("id %v at position %d is outside the table's %d rows", id, i, inT[0].Shape[0])
			}
			copy(out[i*row:(i+1)*row], in[0][int(id)*row:(int(id)+1)*row])
		}
	case n.Op == OpScatterAdd:
		row := Shape(shape[1:]).Size()
		for i, id := range in[0] {
			if id < 0 || int(id) >= shape[0] {
				return nil, fmt.Errorf("id %v at position %d is outside the %d rows", id, i, shape[0])
			}
			for c := 0; c < row; c++ {
				out[int(id)*row+c] += in[1][i*row+c]
			}
		}
	default:
		return evalFused(n, in, inT, out)
	}
	return out, nil
}

func evalFused(n *Node, in [][]float64, inT []Type, out []float64) ([]float64, error) {
	xs := inT[0].Shape
	c := xs[len(xs)-1]
	rows := 0
	if c > 0 {
		rows = len(in[0]) / c
	}
	for r := 0; r < rows; r++ {
		x := in[0][r*c : (r+1)*c]
		m := math.Inf(-1)
		for _, v := range x {
			m = math.Max(m, v)
		}
		var lse float64
		for _, v := range x {
			lse += math.Exp(v - m)
		}
		lse = m + math.Log(lse)
		switch n.Op {
		case OpSoftmax:
			for j, v := range x {
				out[r*c+j] = math.Exp(v - lse)
			}
		case OpLogSoftmax:
			for j, v := range x {
				out[r*c+j] = v - lse
			}
		case OpLayerNorm, OpRMSNorm:
			var mean, sq float64
			if n.Op == OpLayerNorm {
				for _, v := range x {
					mean += v
				}
				mean /= float64(c)
			}
			for _, v := range x {
				sq += (v - mean) * (v - mean)
			}
			inv := 1 / math.Sqrt(sq/float64(c)+n.Attrs.Eps)
			for j, v := range x {
				y := (v - mean) * inv * in[1][j]
				if n.Op == OpLayerNorm {
					y += in[2][j]
				}
				out[r*c+j] = y
			}
		case OpCrossEntropy:
			lab := in[1][r]
			if lab < 0 || int(lab) >= c {
				return nil, fmt.Errorf("label %v at position %d is outside 0..%d", lab, r, c-1)
			}
			out[r] = lse - x[int(lab)]
		default:
			return nil, fmt.Errorf("no reference for op %s", n.Op)
		}
	}
	return out, nil
}

func evalMatMul(a *Attrs, in [][]float64, inT []Type, shape Shape, out []float64) {
	xs, ys := inT[0].Shape, inT[1].Shape
	m, n := shape[len(shape)-2], shape[len(shape)-1]
	k := xs[len(xs)-1]
	if a.TransA {
		k = xs[len(xs)-2]
	}
	batch := Shape(shape[:len(shape)-2]).Size()
	xStride, yStride := 0, 0
	if len(xs) > 2 {
		xStride = xs[len(xs)-2] * xs[len(xs)-1]
	}
	if len(ys) > 2 {
		yStride = ys[len(ys)-2] * ys[len(ys)-1]
	}
	xCols, yCols := xs[len(xs)-1], ys[len(ys)-1]
	for bi := 0; bi < batch; bi++ {
		x, y := in[0][bi*xStride:], in[1][bi*yStride:]
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for p := 0; p < k; p++ {
					var xv, yv float64
					if a.TransA {
						xv = x[p*xCols+i]
					} else {
						xv = x[i*xCols+p]
					}
					if a.TransB {
						yv = y[j*yCols+p]
					} else {
						yv = y[p*yCols+j]
					}
					s += xv * yv
				}
				out[bi*m*n+i*n+j] = s
			}
		}
	}
}

func evalCumsum(a *Attrs, x []float64, shape Shape, out []float64) {
	st := shape.Strides()
	forEachIndex(shape, func(idx []int, f int) {
		if idx[a.Axis] != 0 {
			return
		}
		// f is the start of one line along the axis.
		n := shape[a.Axis]
		var acc float64
		for s := 0; s < n; s++ {
			j := s
			if a.Reverse {
				j = n - 1 - s
			}
			o := f + j*st[a.Axis]
			if a.Exclusive {
				out[o] = acc
				acc += x[o]
			} else {
				acc += x[o]
				out[o] = acc
			}
		}
	})
}

func unaryRef(op Op, x float64, dt DType) float64 {
	switch op {
	case OpNeg:
		return -x
	case OpAbs:
		return math.Abs(x)
	case OpSign:
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return x
	case OpExp:
		return math.Exp(x)
	case OpLog:
		return math.Log(x)
	case OpSqrt:
		return math.Sqrt(x)
	case OpRsqrt:
		return 1 / math.Sqrt(x)
	case OpRecip:
		return 1 / x
	case OpTanh:
		return math.Tanh(x)
	case OpSigmoid:
		if x >= 0 {
			return 1 / (1 + math.Exp(-x))
		}
		e := math.Exp(x)
		return e / (1 + e)
	case OpSoftplus:
		return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
	case OpSin:
		return math.Sin(x)
	case OpCos:
		return math.Cos(x)
	case OpStopGradient:
		return x
	case OpCast:
		switch dt {
		case I32:
			return float64(int32(x))
		case F32:
			return float64(float32(x))
		}
		return x
	}
	return math.NaN()
}

func binaryRef(op Op, x, y float64, dt DType) float64 {
	var r float64
	switch op {
	case OpAdd:
		r = x + y
	case OpSub:
		r = x - y
	case OpMul:
		r = x * y
	case OpDiv:
		r = x / y
	case OpMax, OpMin: // NaN wins, as in reduce_max, so a diverging value stays visible
		switch {
		case math.IsNaN(x) || math.IsNaN(y):
			r = math.NaN()
		case op == OpMax:
			r = math.Max(x, y)
		default:
			r = math.Min(x, y)
		}
	case OpPow:
		r = math.Pow(x, y)
	case OpLess:
		if x < y {
			r = 1
		}
	case OpEqual:
		if x == y {
			r = 1
		}
	}
	if dt == I32 {
		return float64(int32(int64(r)))
	}
	return r
}

// forEachIndex calls fn with every multi-index of shape and its flat offset.
func forEachIndex(shape Shape, fn func(idx []int, flat int)) {
	n := shape.Size()
	idx := make([]int, len(shape))
	for f := 0; f < n; f++ {
		fn(idx, f)
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// broadcastOffset maps an index of the broadcast output to the flat offset
// of an input of shape s (right-aligned; size-1 dimensions repeat).
func broadcastOffset(s Shape, idx []int) int {
	off, stride := 0, 1
	for d := len(s) - 1; d >= 0; d-- {
		i := idx[len(idx)-len(s)+d]
		if s[d] == 1 {
			i = 0
		}
		off += i * stride
		stride *= s[d]
	}
	return off
}

func flatOffset(s Shape, idx []int) int {
	off := 0
	for d := range s {
		off = off*s[d] + idx[d]
	}
	return off
}
