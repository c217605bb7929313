// Kernel selection: for each node, the dtype instantiation of its kernel and
// the arguments fixed at compile time.

package cpu

import (
	"fmt"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// kernel returns the step of node i (nil when there is nothing to do, such as
// an empty output).
func (c *compiler) kernel(i int) (func() error, error) {
	n := &c.g.Nodes[i]
	p := c.p
	out := &p.vals[i]
	in := make([]*value, len(n.Inputs))
	for k, v := range n.Inputs {
		in[k] = &p.vals[v]
	}
	dt := out.dt
	unsupported := func() (func() error, error) {
		return nil, fmt.Errorf("not supported for %v", dt)
	}
	var run func() error
	switch op := n.Op; {
	case op == graph.OpCast:
		switch in[0].dt {
		case graph.F32:
			run = castTo[float32](c, out, in[0])
		case graph.F64:
			run = castTo[float64](c, out, in[0])
		default:
			run = castTo[int32](c, out, in[0])
		}
	case op.IsUnary():
		switch dt {
		case graph.F32:
			return buildUnary[float32](c, op, out, in[0])
		case graph.F64:
			return buildUnary[float64](c, op, out, in[0])
		default:
			return buildUnary[int32](c, op, out, in[0])
		}
	case op.IsBinary():
		switch dt {
		case graph.F32:
			run = buildBinary[float32](c, op, out, in[0], in[1])
		case graph.F64:
			run = buildBinary[float64](c, op, out, in[0], in[1])
		default:
			if op == graph.OpDiv || op == graph.OpPow {
				return unsupported()
			}
			run = buildBinary[int32](c, op, out, in[0], in[1])
		}
	case op == graph.OpWhere:
		switch in[0].dt {
		case graph.F32:
			run = whereFor[float32](c, out, in[0], in[1], in[2])
		case graph.F64:
			run = whereFor[float64](c, out, in[0], in[1], in[2])
		default:
			run = whereFor[int32](c, out, in[0], in[1], in[2])
		}
	case op == graph.OpReduceSum || op == graph.OpReduceMax:
		run = byType(dt,
			func() func() error { return reduceStep[float32](c, i, op, out, in[0], n.Attrs.Axes) },
			func() func() error { return reduceStep[float64](c, i, op, out, in[0], n.Attrs.Axes) },
			func() func() error { return reduceStep[int32](c, i, op, out, in[0], n.Attrs.Axes) })
	case op == graph.OpCumsum:
		a := n.Attrs
		run = byType(dt,
			func() func() error { return buildCumsum[float32](c, out, in[0], a.Axis, a.Exclusive, a.Reverse) },
			func() func() error { return buildCumsum[float64](c, out, in[0], a.Axis, a.Exclusive, a.Reverse) },
			func() func() error { return buildCumsum[int32](c, out, in[0], a.Axis, a.Exclusive, a.Reverse) })
	case op == graph.OpTranspose:
		run = byType(dt,
			func() func() error { return buildTranspose[float32](c, out, in[0], n.Attrs.Perm) },
			func() func() error { return buildTranspose[float64](c, out, in[0], n.Attrs.Perm) },
			func() func() error { return buildTranspose[int32](c, out, in[0], n.Attrs.Perm) })
	case op == graph.OpSlice:
		run = byType(dt,
			func() func() error { return buildSlice[float32](c, out, in[0], n.Attrs.Begin) },
			func() func() error { return buildSlice[float64](c, out, in[0], n.Attrs.Begin) },
			func() func() error { return buildSlice[int32](c, out, in[0], n.Attrs.Begin) })
	case op == graph.OpPad:
		run = byType(dt,
			func() func() error { return buildPad[float32](c, out, in[0], n.Attrs.Lo) },
			func() func() error { return buildPad[float64](c, out, in[0], n.Attrs.Lo) },
			func() func() error { return buildPad[int32](c, out, in[0], n.Attrs.Lo) })
	case op == graph.OpBroadcast:
		run = byType(dt,
			func() func() error { return buildBroadcast[float32](c, out, in[0]) },
			func() func() error { return buildBroadcast[float64](c, out, in[0]) },
			func() func() error { return buildBroadcast[int32](c, out, in[0]) })
	case op == graph.OpReshape:
		// Reshapes are always views; a copy keeps this total anyway.
		run = byType(dt,
			func() func() error { return buildCopy[float32](c, out, in[0]) },
			func() func() error { return buildCopy[float64](c, out, in[0]) },
			func() func() error { return buildCopy[int32](c, out, in[0]) })
	case op == graph.OpConcat:
		run = byType(dt,
			func() func() error { return buildConcat[float32](c, out, in, n.Attrs.Axis) },
			func() func() error { return buildConcat[float64](c, out, in, n.Attrs.Axis) },
			func() func() error { return buildConcat[int32](c, out, in, n.Attrs.Axis) })
	case op == graph.OpGather:
		run = byType(dt,
			func() func() error { return buildGather[float32](c, out, in[0], in[1]) },
			func() func() error { return buildGather[float64](c, out, in[0], in[1]) },
			func() func() error { return buildGather[int32](c, out, in[0], in[1]) })
	case op == graph.OpScatterAdd:
		run = byType(dt,
			func() func() error { return buildScatterAdd[float32](c, out, in[0], in[1]) },
			func() func() error { return buildScatterAdd[float64](c, out, in[0], in[1]) },
			func() func() error { return buildScatterAdd[int32](c, out, in[0], in[1]) })
	case op == graph.OpMatMul:
		switch dt {
		case graph.F32:
			run = buildMatMul[float32](c, out, in[0], in[1], n.Attrs.TransA, n.Attrs.TransB)
		case graph.F64:
			run = buildMatMul[float64](c, out, in[0], in[1], n.Attrs.TransA, n.Attrs.TransB)
		default:
			return unsupported()
		}
	case op == graph.OpSoftmax || op == graph.OpLogSoftmax:
		switch dt {
		case graph.F32:
			run = buildSoftmax[float32](c, out, in[0], op == graph.OpLogSoftmax)
		case graph.F64:
			run = buildSoftmax[float64](c, out, in[0], op == graph.OpLogSoftmax)
		default:
			return unsupported()
		}
	case op == graph.OpLayerNorm || op == graph.OpRMSNorm:
		var beta *value
		if op == graph.OpLayerNorm {
			beta = in[2]
		}
		switch dt {
		case graph.F32:
			run = buildNorm[float32](c, out, in[0], in[1], beta, n.Attrs.Eps)
		case graph.F64:
			run = buildNorm[float64](c, out, in[0], in[1], beta, n.Attrs.Eps)
		default:
			return unsupported()
		}
	case op == graph.OpCrossEntropy:
		switch dt {
		case graph.F32:
			run = buildCrossEntropy[float32](c, out, in[0], in[1])
		case graph.F64:
			run = buildCrossEntropy[float64](c, out, in[0], in[1])
		default:
			return unsupported()
		}
	default:
		return nil, fmt.Errorf("no kernel for op %v", op)
	}
	return run, nil
}

func byType(dt graph.DType, f32, f64, i32 func() func() error) func() error {
	switch dt {
	case graph.F32:
		return f32()
	case graph.F64:
		return f64()
	}
	return i32()
}

func buildCopy[T elem](c *compiler, out, x *value) func() error {
	ds, xs := slotOf[T](out), slotOf[T](x)
	return c.flat(out.size, func(lo, hi int) { copy(ds.d[lo:hi], xs.d[lo:hi]) })
}
