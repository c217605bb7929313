// The fused steps' evaluator: a group's tree becomes a list of
// instructions over fuseBlock-element registers (planned once, registers
// reused after their last read), each instantiated as a kernel closure for
// its dtypes and operand kinds; a step runs the list block by block over its
// share of the output, and a reduction runs it as it reads its input.

package cpu

import (
	"math"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

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
// read in place (a buffer, or the source of movements read in place).
type fArg struct {
	reg  int // register (virtual while planning); -1 for a leaf
	leaf *value
	zero bool      // a movement read entirely in its zero padding
	sub  *fusePlan // a movement of a fused value: its tree, run per piece
}

// fInstr computes one node of the group for one block, or (node < 0)
// gathers a movement read in place into register dst for a unary reader.
type fInstr struct {
	node int
	dt   graph.DType
	dst  int // register; -1 for the group's output
	args []fArg
	// plan walks the node's shape with the destination (operand 0) and the
	// arguments' strides, offsets and bounds, when a leaf is broadcast other
	// than as a scalar or read through movements; nil when every argument
	// is read at the block's flat range or is one element.
	plan *bplan
}

// fusePlan turns the group rooted at node root into instructions in
// evaluation order, with registers assigned.
type fusePlan struct {
	c      *compiler
	root   int
	toReg  bool        // the root's value goes to a register, not to its buffer
	subs   []*fusePlan // trees evaluated under movements, at their positions
	base   [3]int      // first register per dtype (sub-plans follow the plan's)
	fns    []blockFunc
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
	c, p := f.c, f.c.p
	n := &c.g.Nodes[i]
	shape, size := p.vals[i].shape, p.vals[i].size
	flat := strides(shape)
	args := make([]fArg, len(n.Inputs))
	strs, los, his, bases := [][]int{flat}, [][]int{nil}, [][]int{nil}, []int{0}
	walk := false
	for k, in := range n.Inputs {
		v := &p.vals[in]
		r := v.root
		st, lo, hi, base := flat, []int(nil), []int(nil), 0
		switch {
		case c.virtual[r]:
			m, zero := c.moveOf(r).in(shape)
			var sub *fusePlan
			if !zero && p.vals[m.src.root].kind == kFused {
				// The movement reads a fused value: evaluate its tree at the
				// positions read (see readerSteps).
				sub = &fusePlan{c: c, root: m.src.root, toReg: true, regOf: map[int]int{}}
				sub.node(sub.root)
				sub.assign()
				f.subs = append(f.subs, sub)
			}
			switch {
			case zero:
				args[k], st = fArg{reg: -1, zero: true}, make([]int, len(shape))
			case n.Op.IsUnary():
				// Unary kernels take contiguous input: gather it first.
				g := f.newReg(m.src.dt)
				plan := newBPlan(shape, [][]int{flat, m.str}, [][]int{nil, m.lo}, [][]int{nil, m.hi}, []int{0, m.base})
				f.instrs = append(f.instrs, fInstr{node: -1, dt: m.src.dt, dst: g, args: []fArg{{reg: -1, leaf: m.src, sub: sub}}, plan: plan})
				args[k] = fArg{reg: g}
			default:
				args[k], st, base, walk = fArg{reg: -1, leaf: m.src, sub: sub}, m.str, m.base, true
				if m.bounded() {
					lo, hi = m.lo, m.hi
				}
			}
		case p.vals[r].kind == kFused:
			// Computed in this step (each step that reads a fused value
			// computes it).
			args[k] = fArg{reg: f.node(r)}
		default:
			args[k], st = fArg{reg: -1, leaf: v}, bcastStrides(v.shape, shape)
			walk = walk || (v.size != size && v.size != 1)
		}
		strs, los, his, bases = append(strs, st), append(los, lo), append(his, hi), append(bases, base)
	}
	var plan *bplan
	if walk {
		plan = newBPlan(shape, strs, los, his, bases)
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
	// Sub-plans get registers after the plan's (and each other's): a
	// sub-plan's result lives while the instruction reading it runs.
	next := f.nregs
	var place func(q *fusePlan)
	place = func(q *fusePlan) {
		for _, s := range q.subs {
			s.base = next
			for d := range next {
				next[d] += s.nregs[d]
			}
			place(s)
		}
	}
	place(f)
	for d, n := range next {
		c.fregs[d] = max(c.fregs[d], n)
	}
	c.instantiate(f)
	return f.fns, f.result()
}

// result is the register holding a toReg plan's value, -1 otherwise.
func (f *fusePlan) result() int {
	in := &f.instrs[len(f.instrs)-1]
	if in.dst < 0 {
		return -1
	}
	return in.dst + f.base[dtIndex(in.dt)]
}

// instantiate builds the kernels of f's instructions (sub-plans first).
func (c *compiler) instantiate(f *fusePlan) {
	for _, s := range f.subs {
		c.instantiate(s)
	}
	out := &c.p.vals[f.root]
	f.fns = make([]blockFunc, len(f.instrs))
	for k := range f.instrs {
		f.fns[k] = c.fusedInstr(&f.instrs[k], out, f.base)
	}
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
	read, lim := inputReader[T](c, x)
	return buildReduce[T](c, op, out, x, axes, read, lim)
}

// inputReader returns how a step reads its input x: in place, in pieces of
// any length, or, when x is fused into the step, by evaluating its tree
// into a register, in pieces of at most fuseBlock elements.
func inputReader[T elem](c *compiler, x *value) (blockRead[T], int) {
	r := x.root
	if c.p.vals[r].kind != kFused {
		return directRead(slotOf[T](x)), math.MaxInt
	}
	fns, reg := c.fusedTree(r, true)
	read := func(sc *fscratch, lo, n int) []T {
		for _, fn := range fns {
			fn(sc, lo, n)
		}
		b := reg * fuseBlock
		return regsOf[T](sc)[b : b+n]
	}
	return read, fuseBlock
}

// fsrc reads an operand of dtype T.
type fsrc[T elem] struct {
	reg    int
	s      *slot[T] // leaf; nil for a register
	scalar bool     // a leaf of one element
	sub    []blockFunc
	subReg int // the register that sub leaves its value in
}

// dtIndexOf is dtIndex of T.
func dtIndexOf[T elem]() int {
	var z T
	switch any(z).(type) {
	case float32:
		return 0
	case float64:
		return 1
	}
	return 2
}

func srcOf[T elem](a fArg, base [3]int) fsrc[T] {
	switch {
	case a.reg >= 0:
		return fsrc[T]{reg: a.reg + base[dtIndexOf[T]()]}
	case a.zero:
		return fsrc[T]{reg: -1, s: &slot[T]{d: []T{0}}, scalar: true}
	case a.sub != nil:
		return fsrc[T]{reg: -1, s: &slot[T]{}, sub: a.sub.fns, subReg: a.sub.result()}
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

// at returns the data, offset and stride of a piece of m elements that the
// plan reads at offset off with stride st: for an operand under a
// movement, its tree is first evaluated there (st is 1, or 0 for one
// element read throughout).
func (o *fsrc[T]) at(sc *fscratch, d []T, off, st, m int) ([]T, int, int) {
	if o.sub == nil {
		return d, off, st
	}
	if st == 0 {
		m = 1
	}
	for _, fn := range o.sub {
		fn(sc, off, m)
	}
	b := o.subReg * fuseBlock
	return regsOf[T](sc)[b : b+m], 0, st
}

// fdst is where an instruction writes: a register, or the output value.
type fdst[T elem] struct {
	reg int
	s   *slot[T]
}

func dstOf[T elem](r int, out *value, base [3]int) fdst[T] {
	if r >= 0 {
		return fdst[T]{reg: r + base[dtIndexOf[T]()]}
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
func (c *compiler) fusedInstr(in *fInstr, out *value, base [3]int) blockFunc {
	if in.node < 0 {
		return byDT(in.dt,
			func() blockFunc { return fusedGather[float32](in, out, base) },
			func() blockFunc { return fusedGather[float64](in, out, base) },
			func() blockFunc { return fusedGather[int32](in, out, base) })
	}
	n := &c.g.Nodes[in.node]
	op := n.Op
	switch {
	case op == graph.OpCast:
		src := c.p.vals[n.Inputs[0]].dt
		return byDT(src,
			func() blockFunc { return castFrom[float32](in, out, base) },
			func() blockFunc { return castFrom[float64](in, out, base) },
			func() blockFunc { return castFrom[int32](in, out, base) })
	case op.IsUnary():
		return byDT(in.dt,
			func() blockFunc { return fusedUnary[float32](op, in, out, base) },
			func() blockFunc { return fusedUnary[float64](op, in, out, base) },
			func() blockFunc { return fusedUnary[int32](op, in, out, base) })
	case op.IsBinary():
		return byDT(in.dt,
			func() blockFunc { return fusedBinary[float32](op, in, out, base) },
			func() blockFunc { return fusedBinary[float64](op, in, out, base) },
			func() blockFunc { return fusedBinary[int32](op, in, out, base) })
	}
	cond := c.p.vals[n.Inputs[0]].dt
	return byDT(cond,
		func() blockFunc { return whereCond[float32](in, out, base) },
		func() blockFunc { return whereCond[float64](in, out, base) },
		func() blockFunc { return whereCond[int32](in, out, base) })
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

func fusedUnary[T elem](op graph.Op, in *fInstr, out *value, base [3]int) blockFunc {
	f := unaryLoop[T](op)
	d, x := dstOf[T](in.dst, out, base), srcOf[T](in.args[0], base)
	return func(sc *fscratch, lo, n int) {
		xs, o, _ := x.get(sc, lo, n)
		f(d.get(sc, lo, n), xs[o:o+n])
	}
}

func castFrom[S elem](in *fInstr, out *value, base [3]int) blockFunc {
	return byDT(in.dt,
		func() blockFunc { return fusedCast[S, float32](in, out, base) },
		func() blockFunc { return fusedCast[S, float64](in, out, base) },
		func() blockFunc { return fusedCast[S, int32](in, out, base) })
}

func fusedCast[S, D elem](in *fInstr, out *value, base [3]int) blockFunc {
	d, x := dstOf[D](in.dst, out, base), srcOf[S](in.args[0], base)
	return func(sc *fscratch, lo, n int) {
		xs, o, _ := x.get(sc, lo, n)
		castLoop(d.get(sc, lo, n), xs[o:o+n])
	}
}

func fusedBinary[T elem](op graph.Op, in *fInstr, out *value, base [3]int) blockFunc {
	var seg binFunc[T] = binSeg[T]
	if f, ok := any(binSegF32).(func(graph.Op, []T, []T, int, int, []T, int, int)); ok {
		seg = f
	}
	d, x, y := dstOf[T](in.dst, out, base), srcOf[T](in.args[0], base), srcOf[T](in.args[1], base)
	if plan := in.plan; plan != nil {
		// A broadcast or moved operand: one kernel call per run of the
		// plan (per piece of it, when an operand is zero-padded).
		sa, sb := plan.innerStride(1), plan.innerStride(2)
		zero := []T{0}
		return func(sc *fscratch, lo, n int) {
			dst := d.get(sc, lo, n)
			a, ba := x.data(sc, lo, n)
			b, bb := y.data(sc, lo, n)
			var it ndIter
			var rc runCuts
			it.start(&plan.ndPlan, lo)
			for pos := 0; ; {
				m := min(it.run(), n-pos)
				oa, ob := it.off[1]-ba, it.off[2]-bb
				rc.at[0], rc.at[1], rc.n = 0, m, 1
				if plan.any {
					plan.cut(&it, m, &rc)
				}
				for q := 0; q < rc.n; q++ {
					s, e := rc.at[q], rc.at[q+1]
					pa, qa, ta := zero, 0, 0
					if rc.inside(plan, 1, s) {
						pa, qa, ta = x.at(sc, a, oa+s*sa, sa, e-s)
					}
					pb, qb, tb := zero, 0, 0
					if rc.inside(plan, 2, s) {
						pb, qb, tb = y.at(sc, b, ob+s*sb, sb, e-s)
					}
					seg(op, dst[pos+s:pos+e], pa, qa, ta, pb, qb, tb)
				}
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

func whereCond[C elem](in *fInstr, out *value, base [3]int) blockFunc {
	return byDT(in.dt,
		func() blockFunc { return fusedWhere[C, float32](in, out, base) },
		func() blockFunc { return fusedWhere[C, float64](in, out, base) },
		func() blockFunc { return fusedWhere[C, int32](in, out, base) })
}

func fusedWhere[C, T elem](in *fInstr, out *value, base [3]int) blockFunc {
	d, cs := dstOf[T](in.dst, out, base), srcOf[C](in.args[0], base)
	x, y := srcOf[T](in.args[1], base), srcOf[T](in.args[2], base)
	if plan := in.plan; plan != nil {
		sc, sa, sb := plan.innerStride(1), plan.innerStride(2), plan.innerStride(3)
		zc, zt := []C{0}, []T{0}
		return func(s *fscratch, lo, n int) {
			dst := d.get(s, lo, n)
			c, bc := cs.data(s, lo, n)
			a, ba := x.data(s, lo, n)
			b, bb := y.data(s, lo, n)
			var it ndIter
			var rc runCuts
			it.start(&plan.ndPlan, lo)
			for pos := 0; ; {
				m := min(it.run(), n-pos)
				oc, oa, ob := it.off[1]-bc, it.off[2]-ba, it.off[3]-bb
				rc.at[0], rc.at[1], rc.n = 0, m, 1
				if plan.any {
					plan.cut(&it, m, &rc)
				}
				for q := 0; q < rc.n; q++ {
					p, e := rc.at[q], rc.at[q+1]
					pc, qc, tc := zc, 0, 0
					if rc.inside(plan, 1, p) {
						pc, qc, tc = cs.at(s, c, oc+p*sc, sc, e-p)
					}
					pa, qa, ta := zt, 0, 0
					if rc.inside(plan, 2, p) {
						pa, qa, ta = x.at(s, a, oa+p*sa, sa, e-p)
					}
					pb, qb, tb := zt, 0, 0
					if rc.inside(plan, 3, p) {
						pb, qb, tb = y.at(s, b, ob+p*sb, sb, e-p)
					}
					whereSeg(dst[pos+p:pos+e], pc, qc, tc, pa, qa, ta, pb, qb, tb)
				}
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

// fusedGather copies a movement read in place into a register, zero where
// it is padding.
func fusedGather[T elem](in *fInstr, out *value, base [3]int) blockFunc {
	d, x, plan := dstOf[T](in.dst, out, base), srcOf[T](in.args[0], base), in.plan
	ss := plan.innerStride(1)
	return func(sc *fscratch, lo, n int) {
		dst, s := d.get(sc, lo, n), x.s.d
		var it ndIter
		var rc runCuts
		it.start(&plan.ndPlan, lo)
		for pos := 0; ; {
			m := min(it.run(), n-pos)
			rc.at[0], rc.at[1], rc.n = 0, m, 1
			if plan.any {
				plan.cut(&it, m, &rc)
			}
			for q := 0; q < rc.n; q++ {
				a, e := rc.at[q], rc.at[q+1]
				run := dst[pos+a : pos+e]
				if !rc.inside(plan, 1, a) {
					clear(run)
					continue
				}
				src, o, st := x.at(sc, s, it.off[1]+a*ss, ss, e-a)
				switch st {
				case 1:
					copy(run, src[o:o+len(run)])
				case 0:
					v := src[o]
					for i := range run {
						run[i] = v
					}
				default:
					for i := range run {
						run[i] = src[o+i*st]
					}
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
