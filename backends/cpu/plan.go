// The compile step's planning: merging of repeated computations,
// dead-node elimination, views (reshape and other movements that leave the
// bytes in place), buffer lifetimes, and the greedy offset assignment that
// packs every computed value into one arena per dtype, reusing a buffer once
// its last reader has run.

package cpu

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

type compiler struct {
	g *graph.Graph
	p *Program
	n int // number of nodes

	inPlace   []bool        // update values computed straight into their target
	group     []int         // the node whose step computes each value (fuse.go)
	recompute map[int][]int // values computed (or read in place) by several steps: those steps
	virtual   []bool        // movements that fused steps read in place
	members   []int         // per step: the number of nodes it computes
	fregs     [3]int        // registers per dtype the fused steps need
}

func (c *compiler) compile() error {
	c.g = dedupe(c.g)
	g, p := c.g, c.p
	c.n = len(g.Nodes)
	p.vals = make([]value, c.n, c.n+len(g.Outputs)+len(g.Updates))
	for i := range g.Nodes {
		t := g.Nodes[i].Type
		p.vals[i] = value{dt: t.DType, shape: slices.Clone(t.Shape), size: t.Shape.Size(), root: i}
	}
	live := c.liveness()
	c.classify(live)
	c.fuse()
	c.inPlaceUpdates()
	c.extras()
	if err := c.allocate(); err != nil {
		return err
	}
	c.bindings(live)
	for i := range g.Nodes {
		v := &p.vals[i]
		if (v.kind != kArena && !c.inPlace[i]) || g.Nodes[i].Op == graph.OpInput {
			continue
		}
		var run func() error
		if c.members[i] > 1 && c.fusible(i) {
			run = c.buildFused(i)
		} else {
			var err error
			if run, err = c.kernel(i); err != nil {
				return fmt.Errorf("cpu: node %d (%s): %w", i, g.Nodes[i].Op, err)
			}
		}
		if run != nil {
			p.steps = append(p.steps, step{node: i, op: g.Nodes[i].Op, nodes: c.members[i], run: run})
		}
	}
	p.scratch = make([]fscratch, p.b.pool.threads)
	for w := range p.scratch {
		s := &p.scratch[w]
		s.f32 = make([]float32, c.fregs[0]*fuseBlock)
		s.f64 = make([]float64, c.fregs[1]*fuseBlock)
		s.i32 = make([]int32, c.fregs[2]*fuseBlock)
	}
	return nil
}

// dedupe returns g with every node that repeats an earlier one (same op,
// type, attributes and inputs, after merging) replaced by that one, so it is
// computed once (autodiff repeats products such as x·x); the repeats are
// left unread, for liveness to drop. Inputs, params and state are never
// merged. Node indices do not change.
func dedupe(g *graph.Graph) *graph.Graph {
	out := &graph.Graph{Nodes: slices.Clone(g.Nodes), Outputs: slices.Clone(g.Outputs), Updates: slices.Clone(g.Updates)}
	canon := make([]graph.Value, len(g.Nodes))
	seen := map[string]graph.Value{}
	var key strings.Builder
	for i := range out.Nodes {
		n := &out.Nodes[i]
		canon[i] = graph.Value(i)
		if len(n.Inputs) > 0 {
			n.Inputs = slices.Clone(n.Inputs)
			for k, in := range n.Inputs {
				n.Inputs[k] = canon[in]
			}
		}
		switch n.Op {
		case graph.OpInput, graph.OpParam, graph.OpState:
			continue
		}
		key.Reset()
		fmt.Fprintf(&key, "%d %v %v %v", n.Op, n.Type, n.Inputs, n.Attrs)
		if j, ok := seen[key.String()]; ok {
			canon[i] = j
			continue
		}
		seen[key.String()] = graph.Value(i)
	}
	for k := range out.Outputs {
		out.Outputs[k].Value = canon[out.Outputs[k].Value]
	}
	for k := range out.Updates {
		out.Updates[k].Value = canon[out.Updates[k].Value]
	}
	return out
}

// liveness marks the nodes that an output or an update needs.
func (c *compiler) liveness() []bool {
	g := c.g
	live := make([]bool, c.n)
	for _, o := range g.Outputs {
		live[o.Value] = true
	}
	for _, u := range g.Updates {
		live[u.Value] = true
		live[u.Target] = true
	}
	for i := c.n - 1; i >= 0; i-- {
		if live[i] {
			for _, in := range g.Nodes[i].Inputs {
				live[in] = true
			}
		}
	}
	return live
}

// viewOf reports whether node i only reinterprets its first input's buffer,
// and at which element offset.
func (c *compiler) viewOf(i int) (off int, ok bool) {
	n := &c.g.Nodes[i]
	if len(n.Inputs) == 0 {
		return 0, false
	}
	in := c.g.Nodes[n.Inputs[0]].Type
	if in.DType != n.Type.DType {
		return 0, false
	}
	switch n.Op {
	case graph.OpReshape, graph.OpStopGradient, graph.OpCast:
		return 0, true
	case graph.OpBroadcast:
		return 0, in.Shape.Size() == n.Type.Shape.Size()
	case graph.OpConcat:
		return 0, len(n.Inputs) == 1
	case graph.OpPad:
		for d := range n.Attrs.Lo {
			if n.Attrs.Lo[d] != 0 || n.Attrs.Hi[d] != 0 {
				return 0, false
			}
		}
		return 0, true
	case graph.OpReduceSum, graph.OpReduceMax:
		for _, ax := range n.Attrs.Axes {
			if in.Shape[ax] != 1 {
				return 0, false
			}
		}
		return 0, true
	case graph.OpTranspose:
		prev := -1
		for _, ax := range n.Attrs.Perm {
			if in.Shape[ax] == 1 {
				continue
			}
			if ax < prev {
				return 0, false
			}
			prev = ax
		}
		return 0, true
	case graph.OpSlice:
		out := n.Type.Shape
		if out.Size() == 0 {
			return 0, true
		}
		k := 0
		for k < len(out) && out[k] == 1 {
			k++
		}
		for d := k + 1; d < len(out); d++ {
			if out[d] != in.Shape[d] {
				return 0, false
			}
		}
		st := strides(in.Shape)
		for d, b := range n.Attrs.Begin {
			off += b * st[d]
		}
		return off, true
	}
	return 0, false
}

// classify decides where every live value's buffer lives.
func (c *compiler) classify(live []bool) {
	g, p := c.g, c.p
	for i := range g.Nodes {
		v := &p.vals[i]
		if !live[i] {
			v.kind = kDead
			continue
		}
		n := &g.Nodes[i]
		switch n.Op {
		case graph.OpInput:
			v.kind = kArena
			continue
		case graph.OpParam, graph.OpState:
			v.kind = kResident
			continue
		case graph.OpConst, graph.OpIota:
			v.kind = kConst
			continue
		}
		if off, ok := c.viewOf(i); ok {
			src := &p.vals[n.Inputs[0]]
			v.kind = kView
			v.root = src.root
			v.off = src.off + off
			continue
		}
		v.kind = kArena
	}
}

// inPlaceUpdates lets the step computing an update's value write it
// straight into the target's buffer, instead of into the arena and then
// copied at the end of the run, when that is invisible: the value is
// computed by an elementwise step (which reads element k of its inputs
// before writing element k of its result), every other read of the target
// happens earlier (and none at the end: the target is no output and no
// other update's value), that step reads the target only at the same flat
// index (in place of a leaf of its size, not through a movement), and no
// step that can fail (a gather, a scatter or a cross-entropy with a bad id
// or label) runs after it, so a failed run still writes no update. AdamW's
// parameter and moment updates all qualify.
func (c *compiler) inPlaceUpdates() {
	g, p := c.g, c.p
	c.inPlace = make([]bool, c.n)
	final := c.n + 1
	lastRead := make([]int, c.n) // per buffer (root), the last time it is read
	lastFallible := -1
	for j := range g.Nodes {
		k := p.vals[j].kind
		if k == kDead || k == kView || p.vals[j].root != j {
			continue
		}
		switch g.Nodes[j].Op {
		case graph.OpGather, graph.OpScatterAdd, graph.OpCrossEntropy:
			lastFallible = j
		}
		for _, in := range g.Nodes[j].Inputs {
			r := p.vals[in].root
			for _, t := range c.readTimes(j) {
				lastRead[r] = max(lastRead[r], t)
			}
		}
	}
	for _, o := range g.Outputs {
		lastRead[p.vals[o.Value].root] = final
	}
	for _, u := range g.Updates {
		lastRead[p.vals[u.Value].root] = final
	}
	for _, u := range g.Updates {
		v, t := int(u.Value), int(u.Target)
		vv := &p.vals[v]
		if vv.kind != kArena || vv.root != v || !c.fusible(v) || v <= lastFallible || lastRead[t] > v {
			continue
		}
		// Every read of t at time v must be a leaf of the step's size: a
		// node of the step reading t (or a full view of it) directly.
		ok := true
		for j := range g.Nodes {
			k := p.vals[j].kind
			if k == kDead || k == kView || p.vals[j].root != j || !slices.Contains(c.readTimes(j), v) {
				continue
			}
			for _, in := range g.Nodes[j].Inputs {
				if p.vals[in].root == t && (c.virtual[j] || !c.fusible(j) || p.vals[in].size != vv.size || p.vals[j].size != vv.size) {
					ok = false
				}
			}
		}
		if !ok {
			continue
		}
		c.inPlace[v] = true
		for i := range p.vals {
			if p.vals[i].root == v {
				p.vals[i].kind, p.vals[i].root = kView, t
			}
		}
	}
}

// rootKind is the kind of the buffer that v lives in.
func (c *compiler) rootKind(v int) valKind { return c.p.vals[c.p.vals[v].root].kind }

// newExtra appends an arena value of v's type that is written after the last
// node and read by the final copies.
func (c *compiler) newExtra(v int) int {
	p := c.p
	src := &p.vals[v]
	p.vals = append(p.vals, value{dt: src.dt, shape: src.shape, size: src.size, kind: kArena, root: len(p.vals)})
	return len(p.vals) - 1
}

// extras adds a copy for every output that lives outside the arena (a
// param, state, constant, or a view of one), so the caller never receives a
// resident or constant buffer, and a staging copy for every update whose
// value lives in another update's target.
func (c *compiler) extras() {
	g, p := c.g, c.p
	targets := map[int]bool{}
	for _, u := range g.Updates {
		targets[int(u.Target)] = true
	}
	type fin struct{ dst, src int }
	var finals, updates []fin
	outVal := make([]int, len(g.Outputs))
	for k, o := range g.Outputs {
		v := int(o.Value)
		outVal[k] = v
		if c.rootKind(v) != kArena {
			e := c.newExtra(v)
			finals = append(finals, fin{e, v})
			outVal[k] = e
		}
	}
	for _, u := range g.Updates {
		v, t := int(u.Value), int(u.Target)
		r := p.vals[v].root
		if r == t {
			continue // w <- w
		}
		if p.vals[r].kind == kResident && targets[r] {
			e := c.newExtra(v)
			finals = append(finals, fin{e, v})
			v = e
		}
		updates = append(updates, fin{t, v})
	}
	// Pointers into p.vals are taken only now that it has stopped growing.
	for _, f := range finals {
		p.finals = append(p.finals, copyPair{&p.vals[f.dst], &p.vals[f.src]})
	}
	for _, f := range updates {
		p.updates = append(p.updates, copyPair{&p.vals[f.dst], &p.vals[f.src]})
	}
	p.outMap = make(map[string]*graph.Tensor, len(g.Outputs))
	for k, o := range g.Outputs {
		v := &p.vals[outVal[k]]
		t := &graph.Tensor{Type: graph.Type{DType: v.dt, Shape: slices.Clone(v.shape)}}
		p.outs = append(p.outs, outputBind{name: o.Name, typ: t.Type, v: v, t: t, shape: slices.Clone(v.shape)})
		p.outMap[o.Name] = t
	}
}

// allocate computes lifetimes and arena offsets, makes the arenas and the
// constants, and points every slot at its buffer.
func (c *compiler) allocate() error {
	g, p := c.g, c.p
	n := c.n
	final := n + 1 // the time of the final copies and updates
	for i := range p.vals {
		v := &p.vals[i]
		v.start, v.end = i, i
		if i >= n {
			v.start, v.end = n, final
		} else if v.kind == kArena && g.Nodes[i].Op == graph.OpInput {
			v.start, v.end = -1, -1 // copied in before the first node
		}
	}
	use := func(v, t int) {
		r := &p.vals[p.vals[v].root]
		r.end = max(r.end, t)
	}
	for i := range g.Nodes {
		v := &p.vals[i]
		if (v.kind == kDead || v.kind == kView || v.root != i) && !c.inPlace[i] {
			continue
		}
		// A fused node's inputs are read when the steps computing it run.
		for _, t := range c.readTimes(i) {
			for _, in := range g.Nodes[i].Inputs {
				use(int(in), t)
			}
		}
	}
	for _, o := range g.Outputs {
		use(int(o.Value), final)
	}
	for _, u := range g.Updates {
		use(int(u.Value), final)
	}
	for _, f := range p.finals {
		use(f.src.root, final)
	}

	// Greedy assignment in time order: allocate what starts, then free what
	// ended, so a node's output never overlaps its inputs.
	var lists [3]freeList
	li := func(dt graph.DType) *freeList {
		switch dt {
		case graph.F32:
			return &lists[0]
		case graph.F64:
			return &lists[1]
		}
		return &lists[2]
	}
	order := make([]int, 0, len(p.vals))
	for i := range p.vals {
		if p.vals[i].kind == kArena {
			order = append(order, i)
		}
	}
	byStart := slices.Clone(order)
	slices.SortStableFunc(byStart, func(a, b int) int { return p.vals[a].start - p.vals[b].start })
	byEnd := slices.Clone(order)
	slices.SortStableFunc(byEnd, func(a, b int) int { return p.vals[a].end - p.vals[b].end })
	si, ei := 0, 0
	for si < len(byStart) || ei < len(byEnd) {
		t := p.vals[byEnd[ei]].end
		if si < len(byStart) {
			t = min(t, p.vals[byStart[si]].start)
		}
		for si < len(byStart) && p.vals[byStart[si]].start == t {
			v := &p.vals[byStart[si]]
			v.aoff = li(v.dt).alloc(v.size)
			si++
		}
		for ei < len(byEnd) && p.vals[byEnd[ei]].end == t {
			v := &p.vals[byEnd[ei]]
			li(v.dt).free(v.aoff, v.size)
			ei++
		}
	}
	p.arena32 = make([]float32, lists[0].high)
	p.arena64 = make([]float64, lists[1].high)
	p.arenaI = make([]int32, lists[2].high)

	for i := range p.vals {
		v := &p.vals[i]
		switch v.dt {
		case graph.F32:
			v.ptr = &slot[float32]{}
		case graph.F64:
			v.ptr = &slot[float64]{}
		case graph.I32:
			v.ptr = &slot[int32]{}
		}
		switch v.kind {
		case kArena:
			switch v.dt {
			case graph.F32:
				slotOf[float32](v).d = p.arena32[v.aoff : v.aoff+v.size : v.aoff+v.size]
			case graph.F64:
				slotOf[float64](v).d = p.arena64[v.aoff : v.aoff+v.size : v.aoff+v.size]
			case graph.I32:
				slotOf[int32](v).d = p.arenaI[v.aoff : v.aoff+v.size : v.aoff+v.size]
			}
		case kConst:
			if err := c.constant(i); err != nil {
				return err
			}
		}
	}
	for i := range p.vals {
		v := &p.vals[i]
		if v.kind != kView {
			continue
		}
		root := &p.vals[v.root]
		if root.kind == kResident {
			p.views = append(p.views, copyPair{v, root})
		} else {
			bindView(v, root)
		}
	}
	return nil
}

// bindings records the inputs and residents Run must bind.
func (c *compiler) bindings(live []bool) {
	g, p := c.g, c.p
	for i := range g.Nodes {
		nd := &g.Nodes[i]
		switch nd.Op {
		case graph.OpInput:
			p.inputs = append(p.inputs, inputBind{name: nd.Name, typ: nd.Type, v: &p.vals[i], live: live[i]})
		case graph.OpParam, graph.OpState:
			p.residents = append(p.residents, residentBind{name: nd.Name, typ: nd.Type, v: &p.vals[i]})
		}
	}
}

// arenaAlign is the alignment of every buffer, in elements (64 bytes for
// 4-byte elements), so buffers start on cache lines.
const arenaAlign = 16

// freeList is a first-fit-on-best-size allocator over one arena: free blocks
// sorted by offset, coalesced on free; high is the arena's high-water mark.
type freeList struct {
	blocks []block
	top    int // end of the used part
	high   int
}

type block struct{ off, size int }

func (f *freeList) alloc(n int) int {
	if n == 0 {
		return 0
	}
	n = (n + arenaAlign - 1) / arenaAlign * arenaAlign
	best := -1
	for i, b := range f.blocks {
		if b.size >= n && (best < 0 || b.size < f.blocks[best].size) {
			best = i
		}
	}
	if best >= 0 {
		b := &f.blocks[best]
		off := b.off
		b.off += n
		b.size -= n
		if b.size == 0 {
			f.blocks = slices.Delete(f.blocks, best, best+1)
		}
		return off
	}
	// Grow at the top, absorbing a free block that ends there.
	off := f.top
	if k := len(f.blocks) - 1; k >= 0 && f.blocks[k].off+f.blocks[k].size == f.top {
		off = f.blocks[k].off
		f.blocks = f.blocks[:k]
	}
	f.top = off + n
	f.high = max(f.high, f.top)
	return off
}

func (f *freeList) free(off, n int) {
	if n == 0 {
		return
	}
	n = (n + arenaAlign - 1) / arenaAlign * arenaAlign
	i, _ := slices.BinarySearchFunc(f.blocks, off, func(b block, o int) int { return b.off - o })
	f.blocks = slices.Insert(f.blocks, i, block{off, n})
	if i+1 < len(f.blocks) && f.blocks[i].off+f.blocks[i].size == f.blocks[i+1].off {
		f.blocks[i].size += f.blocks[i+1].size
		f.blocks = slices.Delete(f.blocks, i+1, i+2)
	}
	if i > 0 && f.blocks[i-1].off+f.blocks[i-1].size == f.blocks[i].off {
		f.blocks[i-1].size += f.blocks[i].size
		f.blocks = slices.Delete(f.blocks, i, i+1)
		i--
	}
	if b := f.blocks[len(f.blocks)-1]; b.off+b.size == f.top {
		f.top = b.off
		f.blocks = f.blocks[:len(f.blocks)-1]
	}
}
