// Elementwise fusion. At compile time, trees of elementwise nodes (unary
// maps, casts, binary ops, Where) whose intermediate values are read by one
// node only become one step: it walks the result in blocks of fuseBlock
// elements and evaluates the whole tree on each block in small per-thread
// scratch registers, so every input is read once, only the result is
// written, and the float32 vector kernels still run on each block. Leaves
// are read in place: same-shaped ones at the block's range, scalars as
// scalars, other broadcast ones run by run along a collapsed plan.

package cpu

import (
	"math"
	"slices"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// fuseBlock is the number of elements a fused step evaluates at a time: a
// register is fuseBlock elements, so a handful of them stay in L1.
const fuseBlock = 512

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
// materialised anyway. Fused values get kind kFused and no buffer.
// c.group[i] is the node whose step computes value i (i itself when it is
// not fused, -1 when several steps recompute it; c.recompute lists them).
func (c *compiler) fuse() {
	g, p := c.g, c.p
	n := c.n
	c.group = make([]int, n)
	c.members = make([]int, n)
	c.recompute = map[int][]int{}
	readers := make([][]int, n) // distinct nodes reading each buffer
	pinned := make([]bool, n)
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
		ok := !pinned[i] && v.kind == kArena && v.size > 0 && len(rs) > 0 && c.fusible(i)
		steps = steps[:0]
		for _, j := range rs {
			if !c.canRead(j, v.size) {
				ok = false
				break
			}
			if !slices.Contains(steps, c.group[j]) {
				steps = append(steps, c.group[j])
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

// isReduce reports a reduction node, which a fused tree can feed.
func (c *compiler) isReduce(j int) bool {
	op := c.g.Nodes[j].Op
	return op == graph.OpReduceSum || op == graph.OpReduceMax
}

// canRead reports whether node j's step can compute a fused value of size
// elements that j reads: j is elementwise (computed in a step of its own or
// fused into another) with as many elements, or a reduction of it.
func (c *compiler) canRead(j, size int) bool {
	vj := &c.p.vals[j]
	if c.isReduce(j) {
		return vj.kind == kArena
	}
	return (vj.kind == kArena || vj.kind == kFused) && c.group[j] >= 0 && vj.size == size && c.fusible(j)
}

// readTimes returns the times (node indices) at which the inputs of node i
// are read: when the steps computing it run.
func (c *compiler) readTimes(i int) []int {
	if c.group[i] >= 0 {
		return []int{c.group[i]}
	}
	return c.recompute[i]
}

// fscratch is one thread's registers for fused steps: fuseBlock elements
// each, per dtype.
type fscratch struct {
	f32 []float32
	f64 []float64
	i32 []int32
}

func regsOf[T elem](s *fscratch) []T {
	var z T
	switch any(z).(type) {
	case float32:
		return any(s.f32).([]T)
	case float64:
		return any(s.f64).([]T)
	}
	return any(s.i32).([]T)
}

// dtIndex numbers the dtypes for per-dtype register files.
func dtIndex(dt graph.DType) int {
	switch dt {
	case graph.F32:
		return 0
	case graph.F64:
		return 1
	}
	return 2
}

// fArg is an operand of a fused instruction: a register, or a leaf value
// read in place.
type fArg struct {
	reg  int // register (virtual while planning); -1 for a leaf
	leaf *value
}

// fInstr computes one node of the group for one block.
type fInstr struct {
	node int
	dt   graph.DType
	dst  int // register; -1 for the group's output
	args []fArg
	// plan walks the node's shape with the destination (operand 0) and the
	// arguments' strides, when a leaf is broadcast other than as a scalar;
	// nil when every argument is read at the block's flat range or is one
	// element.
	plan *ndPlan
}

// fusePlan turns the group rooted at node root into instructions in
// evaluation order, with registers assigned.
type fusePlan struct {
	c      *compiler
	root   int
	toReg  bool // the root's value goes to a register, not to its buffer
	instrs []fInstr
	regOf  map[int]int   // fused node -> virtual register
	vdt    []graph.DType // dtype of each virtual register
	nregs  [3]int        // physical registers needed per dtype
}

func (f *fusePlan) newReg(dt graph.DType) int {
	f.vdt = append(f.vdt, dt)
	return len(f.vdt) - 1
}

// node emits the instructions computing node i and returns its register.
func (f *fusePlan) node(i int) int {
	if r, ok := f.regOf[i]; ok {
		return r
	}
	p := f.c.p
	n := &f.c.g.Nodes[i]
	shape, size := p.vals[i].shape, p.vals[i].size
	args := make([]fArg, len(n.Inputs))
	strs := [][]int{strides(shape)}
	bcast := false
	for k, in := range n.Inputs {
		v := &p.vals[in]
		if r := v.root; p.vals[r].kind == kFused {
			// Computed in this step (each step that reads a fused value
			// computes it).
			args[k] = fArg{reg: f.node(r)}
		} else {
			args[k] = fArg{reg: -1, leaf: v}
		}
		strs = append(strs, bcastStrides(v.shape, shape))
		bcast = bcast || (v.size != size && v.size != 1)
	}
	var plan *ndPlan
	if bcast {
		plan = newPlan(shape, strs...)
	}
	dst := -1
	if i != f.root || f.toReg {
		dst = f.newReg(n.Type.DType)
		f.regOf[i] = dst
	}
	f.instrs = append(f.instrs, fInstr{node: i, dt: n.Type.DType, dst: dst, args: args, plan: plan})
	return dst
}

// assign maps virtual registers to physical ones per dtype, reusing a
// register after its last read. An instruction may write a register it
// reads: every kernel reads element k before writing element k.
func (f *fusePlan) assign() {
	last := make([]int, len(f.vdt))
	for k, in := range f.instrs {
		for _, a := range in.args {
			if a.reg >= 0 {
				last[a.reg] = k
			}
		}
	}
	phys := make([]int, len(f.vdt))
	var free [3][]int
	for k := range f.instrs {
		in := &f.instrs[k]
		for a := range in.args {
			r := in.args[a].reg
			if r < 0 {
				continue
			}
			if last[r] == k {
				d := dtIndex(f.vdt[r])
				free[d] = append(free[d], phys[r])
				last[r] = -1 // released once even when read twice
			}
			in.args[a].reg = phys[r]
		}
		if r := in.dst; r >= 0 {
			d := dtIndex(f.vdt[r])
			if m := len(free[d]); m > 0 {
				phys[r] = free[d][m-1]
				free[d] = free[d][:m-1]
			} else {
				phys[r] = f.nregs[d]
				f.nregs[d]++
			}
			in.dst = phys[r]
		}
	}
}

// blockFunc runs one instruction on the block of n elements at flat index lo.
type blockFunc func(sc *fscratch, lo, n int)

// fusedTree compiles the tree of fused values rooted at node root into
// instructions for one block; the last one leaves root's value in register
// reg when toReg, else writes it to root's buffer (reg is then -1).
func (c *compiler) fusedTree(root int, toReg bool) (fns []blockFunc, reg int) {
	f := &fusePlan{c: c, root: root, toReg: toReg, regOf: map[int]int{}}
	f.node(root)
	f.assign()
	for d, n := range f.nregs {
		c.fregs[d] = max(c.fregs[d], n)
	}
	out := &c.p.vals[root]
	fns = make([]blockFunc, len(f.instrs))
	for k := range f.instrs {
		fns[k] = c.fusedInstr(&f.instrs[k], out)
	}
	return fns, f.instrs[len(f.instrs)-1].dst
}

// buildFused returns the step of the elementwise group rooted at node root.
func (c *compiler) buildFused(root int) func() error {
	fns, _ := c.fusedTree(root, false)
	p := c.p
	body := func(w, lo, hi int) {
		sc := &p.scratch[w]
		for b := lo; b < hi; b += fuseBlock {
			n := min(fuseBlock, hi-b)
			for _, fn := range fns {
				fn(sc, b, n)
			}
		}
	}
	pool, size := p.b.pool, p.vals[root].size
	return func() error {
		pool.parallelForW(size, minParallel, body)
		return nil
	}
}

// reduceStep returns the step of reduction node i, whose input x is read
// in place or, when it is fused into the reduction, computed by its tree
// block by block.
func reduceStep[T elem](c *compiler, i int, op graph.Op, out, x *value, axes []int) func() error {
	r := x.root
	if c.p.vals[r].kind != kFused {
		return buildReduce[T](c, op, out, x, axes, directRead(slotOf[T](x)), math.MaxInt)
	}
	fns, reg := c.fusedTree(r, true)
	read := func(sc *fscratch, lo, n int) []T {
		for _, fn := range fns {
			fn(sc, lo, n)
		}
		b := reg * fuseBlock
		return regsOf[T](sc)[b : b+n]
	}
	return buildReduce[T](c, op, out, x, axes, read, fuseBlock)
}

// fsrc reads an operand of dtype T.
type fsrc[T elem] struct {
	reg    int
	s      *slot[T] // leaf; nil for a register
	scalar bool     // a leaf of one element
}

func srcOf[T elem](a fArg) fsrc[T] {
	if a.reg >= 0 {
		return fsrc[T]{reg: a.reg}
	}
	return fsrc[T]{reg: -1, s: slotOf[T](a.leaf), scalar: a.leaf.size == 1}
}

// get returns the operand's data, offset and stride (0 for a broadcast
// scalar) for the block [lo, lo+n), when it is not broadcast otherwise.
func (o *fsrc[T]) get(sc *fscratch, lo, n int) ([]T, int, int) {
	switch {
	case o.s == nil:
		b := o.reg * fuseBlock
		return regsOf[T](sc)[b : b+n], 0, 1
	case o.scalar:
		return o.s.d, 0, 0
	}
	return o.s.d, lo, 1
}

// data returns what a plan's offsets index for the block at lo: a leaf's
// whole buffer, or a register, whose element 0 is flat index lo.
func (o *fsrc[T]) data(sc *fscratch, lo, n int) ([]T, int) {
	if o.s != nil {
		return o.s.d, 0
	}
	b := o.reg * fuseBlock
	return regsOf[T](sc)[b : b+n], lo
}

// fdst is where an instruction writes: a register, or the output value.
type fdst[T elem] struct {
	reg int
	s   *slot[T]
}

func dstOf[T elem](r int, out *value) fdst[T] {
	if r >= 0 {
		return fdst[T]{reg: r}
	}
	return fdst[T]{reg: -1, s: slotOf[T](out)}
}

func (o *fdst[T]) get(sc *fscratch, lo, n int) []T {
	if o.s != nil {
		return o.s.d[lo : lo+n]
	}
	b := o.reg * fuseBlock
	return regsOf[T](sc)[b : b+n]
}

// fusedInstr instantiates the kernel of one instruction.
func (c *compiler) fusedInstr(in *fInstr, out *value) blockFunc {
	n := &c.g.Nodes[in.node]
	op := n.Op
	switch {
	case op == graph.OpCast:
		src := c.p.vals[n.Inputs[0]].dt
		return byDT(src,
			func() blockFunc { return castFrom[float32](in, out) },
			func() blockFunc { return castFrom[float64](in, out) },
			func() blockFunc { return castFrom[int32](in, out) })
	case op.IsUnary():
		return byDT(in.dt,
			func() blockFunc { return fusedUnary[float32](op, in, out) },
			func() blockFunc { return fusedUnary[float64](op, in, out) },
			func() blockFunc { return fusedUnary[int32](op, in, out) })
	case op.IsBinary():
		return byDT(in.dt,
			func() blockFunc { return fusedBinary[float32](op, in, out) },
			func() blockFunc { return fusedBinary[float64](op, in, out) },
			func() blockFunc { return fusedBinary[int32](op, in, out) })
	}
	cond := c.p.vals[n.Inputs[0]].dt
	return byDT(cond,
		func() blockFunc { return whereCond[float32](in, out) },
		func() blockFunc { return whereCond[float64](in, out) },
		func() blockFunc { return whereCond[int32](in, out) })
}

func byDT[R any](dt graph.DType, f32, f64, i32 func() R) R {
	switch dt {
	case graph.F32:
		return f32()
	case graph.F64:
		return f64()
	}
	return i32()
}

func fusedUnary[T elem](op graph.Op, in *fInstr, out *value) blockFunc {
	f := unaryLoop[T](op)
	d, x := dstOf[T](in.dst, out), srcOf[T](in.args[0])
	return func(sc *fscratch, lo, n int) {
		xs, o, _ := x.get(sc, lo, n)
		f(d.get(sc, lo, n), xs[o:o+n])
	}
}

func castFrom[S elem](in *fInstr, out *value) blockFunc {
	return byDT(in.dt,
		func() blockFunc { return fusedCast[S, float32](in, out) },
		func() blockFunc { return fusedCast[S, float64](in, out) },
		func() blockFunc { return fusedCast[S, int32](in, out) })
}

func fusedCast[S, D elem](in *fInstr, out *value) blockFunc {
	d, x := dstOf[D](in.dst, out), srcOf[S](in.args[0])
	return func(sc *fscratch, lo, n int) {
		xs, o, _ := x.get(sc, lo, n)
		castLoop(d.get(sc, lo, n), xs[o:o+n])
	}
}

func fusedBinary[T elem](op graph.Op, in *fInstr, out *value) blockFunc {
	var seg binFunc[T] = binSeg[T]
	if f, ok := any(binSegF32).(func(graph.Op, []T, []T, int, int, []T, int, int)); ok {
		seg = f
	}
	d, x, y := dstOf[T](in.dst, out), srcOf[T](in.args[0]), srcOf[T](in.args[1])
	if plan := in.plan; plan != nil {
		// A broadcast operand: one kernel call per run of the plan.
		sa, sb := plan.innerStride(1), plan.innerStride(2)
		return func(sc *fscratch, lo, n int) {
			dst := d.get(sc, lo, n)
			a, ba := x.data(sc, lo, n)
			b, bb := y.data(sc, lo, n)
			var it ndIter
			it.start(plan, lo)
			for pos := 0; ; {
				m := min(it.run(), n-pos)
				seg(op, dst[pos:pos+m], a, it.off[1]-ba, sa, b, it.off[2]-bb, sb)
				pos += m
				if pos >= n {
					return
				}
				it.nextRow()
			}
		}
	}
	return func(sc *fscratch, lo, n int) {
		a, oa, sa := x.get(sc, lo, n)
		b, ob, sb := y.get(sc, lo, n)
		seg(op, d.get(sc, lo, n), a, oa, sa, b, ob, sb)
	}
}

func whereCond[C elem](in *fInstr, out *value) blockFunc {
	return byDT(in.dt,
		func() blockFunc { return fusedWhere[C, float32](in, out) },
		func() blockFunc { return fusedWhere[C, float64](in, out) },
		func() blockFunc { return fusedWhere[C, int32](in, out) })
}

func fusedWhere[C, T elem](in *fInstr, out *value) blockFunc {
	d, cs := dstOf[T](in.dst, out), srcOf[C](in.args[0])
	x, y := srcOf[T](in.args[1]), srcOf[T](in.args[2])
	if plan := in.plan; plan != nil {
		sc, sa, sb := plan.innerStride(1), plan.innerStride(2), plan.innerStride(3)
		return func(s *fscratch, lo, n int) {
			dst := d.get(s, lo, n)
			c, bc := cs.data(s, lo, n)
			a, ba := x.data(s, lo, n)
			b, bb := y.data(s, lo, n)
			var it ndIter
			it.start(plan, lo)
			for pos := 0; ; {
				m := min(it.run(), n-pos)
				whereSeg(dst[pos:pos+m], c, it.off[1]-bc, sc, a, it.off[2]-ba, sa, b, it.off[3]-bb, sb)
				pos += m
				if pos >= n {
					return
				}
				it.nextRow()
			}
		}
	}
	return func(sc *fscratch, lo, n int) {
		cd, oc, scd := cs.get(sc, lo, n)
		a, oa, sa := x.get(sc, lo, n)
		b, ob, sb := y.get(sc, lo, n)
		whereSeg(d.get(sc, lo, n), cd, oc, scd, a, oa, sa, b, ob, sb)
	}
}
