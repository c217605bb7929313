// Elementwise fusion. At compile time, trees of elementwise nodes (unary
// maps, casts, binary ops, Where) whose intermediate values are read by one
// node only become one step: it walks the result in blocks of fuseBlock
// elements and evaluates the whole tree on each block in small per-thread
// scratch registers, so every input is read once, only the result is
// written, and the float32 vector kernels still run on each block. Leaves
// are read in place: same-shaped ones at the block's range, scalars as
// scalars, other broadcast ones run by run along a collapsed plan, and
// movements read in place through their composed strides (fusemove.go).
// This file decides what is fused; fusekern.go evaluates it.

package cpu

import (
	"slices"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// fuseBlock is the number of elements a fused step evaluates at a time: a
// register is fuseBlock elements, so a handful of them stay in L1 and L2,
// and each kernel call (some tens of nanoseconds of overhead) does enough
// work; 512 measured about 20% slower on chains of cheap ops.
const fuseBlock = 1024

// fusible reports whether node i is an elementwise node the fused evaluator
// runs (the same ops and dtypes the single-node kernels accept).
func (c *compiler) fusible(i int) bool {
	n := &c.g.Nodes[i]
	op, dt := n.Op, n.Type.DType
	switch {
	case op == graph.OpWhere:
		return true
	case op.IsBinary():
		return !(dt == graph.I32 && (op == graph.OpDiv || op == graph.OpPow))
	case op.IsUnary():
		if dt != graph.I32 {
			return true
		}
		switch op {
		case graph.OpNeg, graph.OpAbs, graph.OpSign, graph.OpStopGradient, graph.OpCast:
			return true
		}
	}
	return false
}

// cheap reports an op that costs less to recompute in every step that reads
// its value than to write the value and read it back.
func cheap(op graph.Op) bool {
	switch op {
	case graph.OpAdd, graph.OpSub, graph.OpMul, graph.OpMax, graph.OpMin, graph.OpLess, graph.OpEqual,
		graph.OpNeg, graph.OpAbs, graph.OpSign, graph.OpStopGradient, graph.OpCast, graph.OpWhere:
		return true
	}
	return false
}

// maxRecompute is the most fused steps that may each recompute one value.
// One op on a block costs about as much as reading an array back from
// memory (recomputing gelu's tanh and the polynomial under it in two steps
// measured slower than storing tanh), so only single cheap ops on values
// that are materialised anyway are recomputed.
const maxRecompute = 3

// fuse decides which elementwise values are computed inside the steps of
// later nodes instead of into buffers of their own. Every node that reads
// such a value (directly or through views of its whole buffer, such as
// reshapes) must be elementwise with the same number of elements (so they
// share the flat index), and the value must be no output, update value or
// update target and not be read through a partial view (a slice). Then the
// value is fused when its readers all belong to one step (the usual case:
// one reader), and recomputed in each reading step when they belong to a few
// (at most maxRecompute) and it is one cheap op whose inputs are
// materialised anyway. A reduction or a softmax (canRead) may read the value
// too, and a slice, pad or transpose read in place by one step may
// (readerSteps): the value is then evaluated under the movement. Fused
// values get kind kFused and no buffer.
// c.group[i] is the node whose step computes value i (i itself when it is
// not fused, -1 when several steps recompute it; c.recompute lists them).
//
// A movement (slice, pad, broadcast, or a transpose that keeps the last
// axis) whose readers are all such elementwise nodes, or movements read in
// the same way, gets no buffer either (c.virtual): the steps reading it read
// its source through the composed strides, offsets and zero-padding bounds.
func (c *compiler) fuse() {
	g, p := c.g, c.p
	n := c.n
	c.group = make([]int, n)
	c.members = make([]int, n)
	c.recompute = map[int][]int{}
	c.virtual = make([]bool, n)
	readers := make([][]int, n) // distinct nodes reading each buffer
	pinned := make([]bool, n)
	viaView := make([]bool, n) // read through a view
	pin := func(v graph.Value) { pinned[p.vals[v].root] = true }
	for _, o := range g.Outputs {
		pin(o.Value)
	}
	for _, u := range g.Updates {
		pin(u.Value)
		pin(u.Target)
	}
	for j := range n {
		c.group[j] = j
		if k := p.vals[j].kind; k == kDead || k == kView {
			continue
		}
		for _, in := range g.Nodes[j].Inputs {
			v := &p.vals[in]
			r := v.root
			viaView[r] = viaView[r] || int(in) != r
			if v.off != 0 || v.size != p.vals[r].size {
				pinned[r] = true // read through a partial view
			} else if k := len(readers[r]); k == 0 || readers[r][k-1] != j {
				readers[r] = append(readers[r], j)
			}
		}
	}
	// materialised reports whether value r keeps a buffer whatever its
	// readers' steps become (r is not fusible into them).
	materialised := func(r, size int) bool {
		return pinned[r] || p.vals[r].kind != kArena || !c.fusible(r) || p.vals[r].size != size || len(readers[r]) > 1
	}
	var steps []int
	for i := n - 1; i >= 0; i-- {
		v := &p.vals[i]
		rs := readers[i]
		if !pinned[i] && !viaView[i] && v.kind == kArena && v.size > 0 && len(rs) > 0 && c.movable(i) && c.moveRun(i) >= minMoveRun {
			if steps, ok := c.moveReaders(rs); ok {
				// Read in place by every step that reads it.
				v.kind = kFused
				c.virtual[i] = true
				c.group[i] = -1
				c.recompute[i] = steps
				for _, s := range steps {
					c.members[s]++
				}
				continue
			}
		}
		ok := !pinned[i] && v.kind == kArena && v.size > 0 && len(rs) > 0 && c.fusible(i)
		steps = steps[:0]
		for _, j := range rs {
			js, can := c.readerSteps(j, v.size, readers)
			if !can {
				ok = false
				break
			}
			for _, s := range js {
				if !slices.Contains(steps, s) {
					steps = append(steps, s)
				}
			}
		}
		if ok && len(steps) > 1 {
			ok = cheap(g.Nodes[i].Op) && len(steps) <= maxRecompute
			for _, in := range g.Nodes[i].Inputs {
				ok = ok && materialised(p.vals[in].root, v.size)
			}
		}
		if !ok {
			c.members[i]++
			continue
		}
		v.kind = kFused
		for _, s := range steps {
			c.members[s]++
		}
		if len(steps) == 1 {
			c.group[i] = steps[0]
			continue
		}
		c.group[i] = -1
		c.recompute[i] = slices.Clone(steps)
		for _, in := range g.Nodes[i].Inputs {
			pinned[p.vals[in].root] = true // so no input is fused into several steps
		}
	}
	for i := range n {
		if v := &p.vals[i]; v.kind == kView && p.vals[v.root].kind == kFused {
			v.kind = kFused // a reshape of a fused value, read only by fused steps
		}
	}
}

// movable reports a movement node that fused steps can read in place of
// its value: a slice, pad, broadcast, or a transpose that keeps the last
// axis last (so runs of the source stay contiguous).
func (c *compiler) movable(i int) bool {
	n := &c.g.Nodes[i]
	switch n.Op {
	case graph.OpSlice, graph.OpPad, graph.OpBroadcast:
		return true
	case graph.OpTranspose:
		return n.Attrs.Perm[len(n.Attrs.Perm)-1] == len(n.Attrs.Perm)-1
	}
	return false
}

// minMoveRun is the shortest average contiguous run for which reading a
// movement in place beats copying it once: each run costs a kernel call.
const minMoveRun = 64

// moveRun is the average length of the contiguous pieces in which a step
// reads movement i in place (its source's runs, cut by its padding).
func (c *compiler) moveRun(i int) int {
	c.virtual[i] = true // compose with i itself
	m := c.moveOf(i)
	c.virtual[i] = false
	flat := strides(m.shape)
	p := newBPlan(m.shape, [][]int{flat, m.str}, [][]int{nil, m.lo}, [][]int{nil, m.hi}, []int{0, 0})
	last := p.rank - 1
	d, pieces := p.dims[last], 1
	if p.lo[1][last] > 0 {
		pieces++
	}
	if p.hi[1][last] < d {
		pieces++
	}
	return d / pieces
}

// moveReaders returns the steps that read a movement value whose readers
// are rs, when each reader is elementwise (in a fused step or its own) or a
// movement read in place itself.
func (c *compiler) moveReaders(rs []int) ([]int, bool) {
	var steps []int
	for _, j := range rs {
		var js []int
		vj := &c.p.vals[j]
		switch {
		case c.virtual[j]:
			js = c.recompute[j]
		case (vj.kind == kArena || vj.kind == kFused) && c.group[j] >= 0 && c.fusible(j):
			js = []int{c.group[j]}
		default:
			return nil, false
		}
		for _, s := range js {
			if !slices.Contains(steps, s) {
				steps = append(steps, s)
			}
		}
	}
	return steps, true
}

// isReduce reports a reduction node, which a fused tree can feed.
func (c *compiler) isReduce(j int) bool {
	op := c.g.Nodes[j].Op
	return op == graph.OpReduceSum || op == graph.OpReduceMax
}

// canRead reports whether node j's step can compute a fused value of size
// elements that j reads: j is elementwise (computed in a step of its own or
// fused into another) with as many elements, a reduction of it, or a
// softmax of it whose rows fit in a register.
func (c *compiler) canRead(j, size int) bool {
	vj := &c.p.vals[j]
	switch c.g.Nodes[j].Op {
	case graph.OpReduceSum, graph.OpReduceMax:
		return vj.kind == kArena
	case graph.OpSoftmax, graph.OpLogSoftmax:
		return vj.kind == kArena && lastDim(vj) <= fuseBlock
	}
	return (vj.kind == kArena || vj.kind == kFused) && c.group[j] >= 0 && vj.size == size && c.fusible(j)
}

// readerSteps returns the steps in which node j reads a fused value of size
// elements: j's own step when canRead, or the one step reading movement j
// in place when j is a slice, pad or transpose read contiguously and
// without broadcasting (the value is then evaluated under the movement,
// piece by piece, at the positions the movement reads).
func (c *compiler) readerSteps(j, size int, readers [][]int) ([]int, bool) {
	if !c.virtual[j] {
		if !c.canRead(j, size) {
			return nil, false
		}
		return []int{c.group[j]}, true
	}
	switch c.g.Nodes[j].Op {
	case graph.OpSlice, graph.OpPad, graph.OpTranspose:
	default:
		return nil, false
	}
	vj := &c.p.vals[j]
	if len(c.recompute[j]) != 1 {
		return nil, false
	}
	for _, k := range readers[j] {
		if c.virtual[k] || c.p.vals[k].size != vj.size {
			return nil, false
		}
	}
	m := c.moveOf(j)
	pl := newBPlan(m.shape, [][]int{strides(m.shape), m.str}, [][]int{nil, m.lo}, [][]int{nil, m.hi}, []int{0, 0})
	if pl.innerStride(1) != 1 {
		return nil, false
	}
	return c.recompute[j], true
}

// readTimes returns the times (node indices) at which the inputs of node i
// are read: when the steps computing it run.
func (c *compiler) readTimes(i int) []int {
	if c.group[i] >= 0 {
		return []int{c.group[i]}
	}
	return c.recompute[i]
}
