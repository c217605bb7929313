package graph

import "fmt"

// Decompose returns a copy of g in which every fused op for which keep
// returns false (every fused op when keep is nil) is replaced by its
// definition in core ops. A backend that lacks a fused op runs this; tests
// check each fused op against it.
func Decompose(g *Graph, keep func(Op) bool) (*Graph, error) {
	b := NewBuilder()
	remap := make([]Value, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		in := make([]Value, len(n.Inputs))
		for j, v := range n.Inputs {
			in[j] = remap[v]
		}
		if n.Op.Fused() && (keep == nil || !keep(n.Op)) {
			remap[i] = decomposeNode(b, n, in)
		} else {
			b.g.Nodes = append(b.g.Nodes, Node{Op: n.Op, Name: n.Name, Inputs: in, Type: n.Type, Attrs: n.Attrs})
			remap[i] = Value(len(b.g.Nodes) - 1)
		}
		if b.err != nil {
			return nil, fmt.Errorf("decompose node %d (%s): %w", i, n.Op, b.err)
		}
	}
	for _, o := range g.Outputs {
		b.Output(o.Name, remap[o.Value])
	}
	for _, u := range g.Updates {
		b.Update(remap[u.Target], remap[u.Value])
	}
	return b.Build()
}

// decomposeNode writes the core-op definition of a fused node.
func decomposeNode(b *Builder, n *Node, in []Value) Value {
	x := in[0]
	switch n.Op {
	case OpSoftmax:
		e := b.Exp(b.Sub(x, b.StopGradient(b.ReduceMax(x, -1))))
		return b.Div(e, b.ReduceSum(e, -1))
	case OpLogSoftmax:
		return logSoftmaxCore(b, x)
	case OpLayerNorm:
		xc := b.Sub(x, b.Mean(x, -1))
		r := b.Rsqrt(b.AddScalar(b.Mean(b.Square(xc), -1), n.Attrs.Eps))
		return b.Add(b.Mul(b.Mul(xc, r), in[1]), in[2])
	case OpRMSNorm:
		r := b.Rsqrt(b.AddScalar(b.Mean(b.Square(x), -1), n.Attrs.Eps))
		return b.Mul(b.Mul(x, r), in[1])
	case OpCrossEntropy:
		labels := in[1]
		ls := b.Shape(labels)
		v := b.Dim(x, -1)
		onehot := b.Cast(b.Equal(b.Iota(I32, len(ls), append(ls.Clone(), v)...), b.Reshape(labels, append(ls.Clone(), 1)...)), n.Type.DType)
		picked := b.ReduceSum(b.Mul(logSoftmaxCore(b, x), onehot), -1)
		return b.Neg(b.Reshape(picked, ls...))
	}
	b.Fail(fmt.Errorf("no decomposition for %s", n.Op))
	return NoValue
}

// logSoftmaxCore is x − max − log Σ exp(x − max) over the last axis.
func logSoftmaxCore(b *Builder, x Value) Value {
	s := b.Sub(x, b.StopGradient(b.ReduceMax(x, -1)))
	return b.Sub(s, b.Log(b.ReduceSum(b.Exp(s), -1)))
}
