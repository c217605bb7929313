// Elementwise fusion. At compile time, trees of elementwise nodes (unary
// maps, casts, binary ops, Where) whose intermediate values are read by one
// node only become one step: it walks the result in blocks of fuseBlock
// elements and evaluates the whole tree on each block in small per-thread
// scratch registers, so every input is read once, only the result is
// written, and the float32 vector kernels still run on each block.

package cpu

import (
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

// fuse decides which elementwise values are computed inside the step of a
// later node instead of into a buffer of their own. A value is fused into
// its reader when that reader is the only node reading it (directly or
// through views that cover its whole buffer, such as reshapes), both are
// elementwise, they have the same number of elements (so they share the
// flat index), and the value is no output, update value or update target.
// Fused values get kind kFused and no buffer; c.group[i] is the node whose
// step computes value i (i itself when it is not fused).
func (c *compiler) fuse() {
	g, p := c.g, c.p
	n := c.n
	c.group = make([]int, n)
	c.members = make([]int, n)
	reader := make([]int, n) // the one node reading a buffer, -1 if none yet
	pinned := make([]bool, n)
	for i := range n {
		c.group[i] = i
		reader[i] = -1
	}
	pin := func(v graph.Value) { pinned[p.vals[v].root] = true }
	for _, o := range g.Outputs {
		pin(o.Value)
	}
	for _, u := range g.Updates {
		pin(u.Value)
		pin(u.Target)
	}
	for j := range n {
		if k := p.vals[j].kind; k == kDead || k == kView {
			continue
		}
		for _, in := range g.Nodes[j].Inputs {
			v := &p.vals[in]
			r := v.root
			switch {
			case v.off != 0 || v.size != p.vals[r].size:
				pinned[r] = true // read through a partial view
			case reader[r] < 0:
				reader[r] = j
			case reader[r] != j:
				pinned[r] = true // read by several nodes
			}
		}
	}
	for i := n - 1; i >= 0; i-- {
		v := &p.vals[i]
		c.members[c.group[i]]++
		j := reader[i]
		if pinned[i] || j < 0 || v.kind != kArena || v.size == 0 || v.size != p.vals[j].size {
			continue
		}
		if k := p.vals[j].kind; (k != kArena && k != kFused) || !c.fusible(i) || !c.fusible(j) {
			continue
		}
		c.members[i]--
		c.group[i] = c.group[j]
		c.members[c.group[i]]++
		v.kind = kFused
	}
	for i := range n {
		if v := &p.vals[i]; v.kind == kView && p.vals[v.root].kind == kFused {
			v.kind = kFused // a reshape of a fused value, read only by its group
		}
	}
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
// read in place (at the block's flat range, or its one element broadcast).
type fArg struct {
	reg    int // register (virtual while planning); -1 for a leaf
	leaf   *value
	scalar bool
}

// fInstr computes one node of the group (or, with node < 0, gathers a
// broadcast leaf into a register) for one block.
type fInstr struct {
	node int
	dt   graph.DType
	dst  int // register; -1 for the group's output
	args []fArg
	plan *ndPlan // gathers: the leaf's broadcast strides in its reader's shape
}

// fusePlan turns the group rooted at node root into instructions in
// evaluation order, with registers assigned.
type fusePlan struct {
	c      *compiler
	root   int
	instrs []fInstr
	regOf  map[int]int    // fused node -> virtual register
	gather map[[2]int]int // (leaf value, reading node) -> virtual register
	vdt    []graph.DType  // dtype of each virtual register
	nregs  [3]int         // physical registers needed per dtype
}

func (f *fusePlan) newReg(dt graph.DType) int {
	f.vdt = append(f.vdt, dt)
	return len(f.vdt) - 1
}

// arg returns the operand for value in as read by node reader.
func (f *fusePlan) arg(in, reader int) fArg {
	p := f.c.p
	v := &p.vals[in]
	if r := v.root; p.vals[r].kind == kFused && f.c.group[r] == f.root {
		return fArg{reg: f.node(r)}
	}
	rv := &p.vals[reader]
	switch {
	case v.size == rv.size:
		return fArg{reg: -1, leaf: v}
	case v.size == 1:
		return fArg{reg: -1, leaf: v, scalar: true}
	}
	key := [2]int{in, reader}
	if r, ok := f.gather[key]; ok {
		return fArg{reg: r}
	}
	plan := newPlan(rv.shape, strides(rv.shape), bcastStrides(v.shape, rv.shape))
	r := f.newReg(v.dt)
	f.instrs = append(f.instrs, fInstr{node: -1, dt: v.dt, dst: r, args: []fArg{{reg: -1, leaf: v}}, plan: plan})
	f.gather[key] = r
	return fArg{reg: r}
}

// node emits the instructions computing node i and returns its register.
func (f *fusePlan) node(i int) int {
	if r, ok := f.regOf[i]; ok {
		return r
	}
	n := &f.c.g.Nodes[i]
	args := make([]fArg, len(n.Inputs))
	for k, in := range n.Inputs {
		args[k] = f.arg(int(in), i)
	}
	dst := -1
	if i != f.root {
		dst = f.newReg(n.Type.DType)
		f.regOf[i] = dst
	}
	f.instrs = append(f.instrs, fInstr{node: i, dt: n.Type.DType, dst: dst, args: args})
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

// buildFused returns the step of the group rooted at node root.
func (c *compiler) buildFused(root int) func() error {
	f := &fusePlan{c: c, root: root, regOf: map[int]int{}, gather: map[[2]int]int{}}
	f.node(root)
	f.assign()
	for d, n := range f.nregs {
		c.fregs[d] = max(c.fregs[d], n)
	}
	out := &c.p.vals[root]
	fns := make([]blockFunc, len(f.instrs))
	for k := range f.instrs {
		fns[k] = c.fusedInstr(&f.instrs[k], out)
	}
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
	pool, size := p.b.pool, out.size
	return func() error {
		pool.parallelForW(size, minParallel, body)
		return nil
	}
}

// fsrc reads an operand of dtype T for a block.
type fsrc[T elem] struct {
	reg    int
	s      *slot[T] // leaf; nil for a register
	scalar bool
}

func srcOf[T elem](a fArg) fsrc[T] {
	if a.reg >= 0 {
		return fsrc[T]{reg: a.reg}
	}
	return fsrc[T]{reg: -1, s: slotOf[T](a.leaf), scalar: a.scalar}
}

// get returns the operand's data, offset and stride (0 for a broadcast
// scalar) for the block [lo, lo+n).
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
	if in.node < 0 {
		return byDT(in.dt,
			func() blockFunc { return fusedGather[float32](in, out) },
			func() blockFunc { return fusedGather[float64](in, out) },
			func() blockFunc { return fusedGather[int32](in, out) })
	}
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
	return func(sc *fscratch, lo, n int) {
		cd, oc, scd := cs.get(sc, lo, n)
		a, oa, sa := x.get(sc, lo, n)
		b, ob, sb := y.get(sc, lo, n)
		whereSeg(d.get(sc, lo, n), cd, oc, scd, a, oa, sa, b, ob, sb)
	}
}

// fusedGather copies a broadcast leaf's elements at the block's positions
// of its reader into a register.
func fusedGather[T elem](in *fInstr, out *value) blockFunc {
	d, leaf, plan := dstOf[T](in.dst, out), slotOf[T](in.args[0].leaf), in.plan
	ss := plan.innerStride(1)
	return func(sc *fscratch, lo, n int) {
		dst, s := d.get(sc, lo, n), leaf.d
		var it ndIter
		it.start(plan, lo)
		for pos := 0; ; {
			m := min(it.run(), n-pos)
			o, run := it.off[1], dst[pos:pos+m]
			switch ss {
			case 1:
				copy(run, s[o:o+m])
			case 0:
				v := s[o]
				for i := range run {
					run[i] = v
				}
			default:
				for i := range run {
					run[i] = s[o+i*ss]
				}
			}
			pos += m
			if pos >= n {
				return
			}
			it.nextRow()
		}
	}
}
