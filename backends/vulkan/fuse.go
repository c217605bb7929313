//go:build cgo

// Elementwise fusion: a chain of elementwise ops whose intermediate values
// each feed only the next op (of the same shape) runs as one dispatch of
// shaders/fused.comp, reading its inputs once and writing one result.
// Lowering keeps such a value as an expression instead of a buffer; its
// consumer inlines it, and any other use makes it a buffer first.

package vulkan

import "github.com/mohawk-distill/mohawk/sdk/graph"

// Limits of fused.comp.
const (
	maxFusedInputs = 6
	maxFusedOps    = 16
)

// exprLoad is an input of an expression, read with broadcasting.
type exprLoad struct {
	r     ref
	shape graph.Shape
}

// exprOp is one op; operands name slots: a load k is k, op j is -(j+1).
type exprOp struct {
	op, dt    uint32
	condFloat bool
	args      []int
}

// expr is a value not yet in memory: its result is the last op.
type expr struct {
	loads []exprLoad
	ops   []exprOp
}

// load returns the slot reading r with shape s, adding it once.
func (e *expr) load(r ref, s graph.Shape) int {
	for k, l := range e.loads {
		if l.r == r && l.shape.Equal(s) {
			return k
		}
	}
	e.loads = append(e.loads, exprLoad{r, s})
	return len(e.loads) - 1
}

// inline copies sub into e and returns the slot of its result.
func (e *expr) inline(sub *expr) int {
	loadAt := make([]int, len(sub.loads))
	for k, l := range sub.loads {
		loadAt[k] = e.load(l.r, l.shape)
	}
	base := len(e.ops)
	for _, o := range sub.ops {
		args := make([]int, len(o.args))
		for j, a := range o.args {
			if a >= 0 {
				args[j] = loadAt[a]
			} else {
				args[j] = a - base
			}
		}
		e.ops = append(e.ops, exprOp{op: o.op, dt: o.dt, condFloat: o.condFloat, args: args})
	}
	return -len(e.ops)
}

// fusible reports an elementwise node that computes (not a view).
func fusible(n *graph.Node, in []graph.Type) bool {
	switch {
	case n.Op == graph.OpStopGradient:
		return false
	case n.Op == graph.OpCast:
		return in[0].DType != n.Type.DType
	}
	return n.Op.IsUnary() || n.Op.IsBinary() || n.Op == graph.OpWhere
}

// deferrable finds the values that can stay expressions: computed
// elementwise, used once, by an elementwise op of the same shape, and
// neither an output nor an update.
func deferrable(g *graph.Graph) []bool {
	uses := make([]int, len(g.Nodes))
	consumer := make([]int, len(g.Nodes))
	for i := range g.Nodes {
		for _, v := range g.Nodes[i].Inputs {
			uses[v]++
			consumer[v] = i
		}
	}
	for _, o := range g.Outputs {
		uses[o.Value] += 2
	}
	for _, u := range g.Updates {
		uses[u.Value] += 2
	}
	types := func(n *graph.Node) []graph.Type {
		t := make([]graph.Type, len(n.Inputs))
		for j, v := range n.Inputs {
			t[j] = g.Nodes[v].Type
		}
		return t
	}
	out := make([]bool, len(g.Nodes))
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if uses[i] != 1 || n.Type.Shape.Size() == 0 || !fusible(n, types(n)) {
			continue
		}
		c := &g.Nodes[consumer[i]]
		out[i] = fusible(c, types(c)) && c.Type.Shape.Equal(n.Type.Shape)
	}
	return out
}

// opWord packs an op's code, dtype and where-condition kind for fused.comp.
func (o exprOp) word() uint32 {
	w := o.op | o.dt<<8
	if o.condFloat {
		w |= 1 << 9
	}
	return w
}
