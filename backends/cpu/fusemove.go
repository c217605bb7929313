// Movements read in place by fused steps: a chain of slices, pads,
// broadcasts and last-axis-keeping transposes over a buffer composes into
// one affine read (an offset and a stride per dim) with bounds per dim
// outside which the value is zero. A fused instruction walks such operands
// along a bounded plan and splits each run into pieces where every operand
// is wholly inside or outside its bounds.

package cpu

import "github.com/mohawk-distill/mohawk/sdk/graph"

// moved describes how to read a movement's value of the given shape: element
// i is src[base + Σ i_d·str_d] when lo_d ≤ i_d < hi_d for every d, else 0.
type moved struct {
	src    *value
	shape  []int
	base   int
	str    []int
	lo, hi []int
}

// moveOf composes the movements from value i down to the buffer they read.
func (c *compiler) moveOf(i int) *moved {
	v := &c.p.vals[i]
	if !c.virtual[i] {
		return &moved{src: v, shape: v.shape, str: strides(v.shape), lo: make([]int, len(v.shape)), hi: append([]int(nil), v.shape...)}
	}
	n := &c.g.Nodes[i]
	u := c.moveOf(int(n.Inputs[0]))
	rank := len(v.shape)
	m := &moved{src: u.src, shape: v.shape, base: u.base, str: make([]int, rank), lo: make([]int, rank), hi: make([]int, rank)}
	switch n.Op {
	case graph.OpSlice:
		for d, b := range n.Attrs.Begin {
			m.base += b * u.str[d]
			m.str[d], m.lo[d], m.hi[d] = u.str[d], u.lo[d]-b, u.hi[d]-b
		}
	case graph.OpPad:
		for d, l := range n.Attrs.Lo {
			m.base -= l * u.str[d]
			m.str[d], m.lo[d], m.hi[d] = u.str[d], u.lo[d]+l, u.hi[d]+l
		}
	case graph.OpTranspose:
		for d, e := range n.Attrs.Perm {
			m.str[d], m.lo[d], m.hi[d] = u.str[e], u.lo[e], u.hi[e]
		}
	case graph.OpBroadcast:
		m.readAs(u, v.shape)
	}
	// Indices outside the value's own shape are never read, so its bounds
	// are clipped to it: a pad of a slice must not see past the slice.
	for d := range m.lo {
		m.lo[d], m.hi[d] = max(m.lo[d], 0), min(m.hi[d], v.shape[d])
	}
	return m
}

// readAs sets m (of shape out) to u read with numpy broadcasting: dims
// that u lacks or has as 1 are read with stride 0; such a dim of u whose
// bounds exclude its one index makes every element zero (an empty bound).
func (m *moved) readAs(u *moved, out []int) {
	off := len(out) - len(u.shape)
	for d := range out {
		m.lo[d], m.hi[d] = 0, out[d]
		if d < off {
			continue
		}
		e := d - off
		if u.shape[e] == 1 && out[d] != 1 {
			if u.lo[e] > 0 || u.hi[e] < 1 {
				m.hi[d] = 0
			}
			continue
		}
		m.str[d], m.lo[d], m.hi[d] = u.str[e], u.lo[e], u.hi[e]
	}
}

// in returns m read in a reader of shape out (broadcast), with its bounds
// clipped to out; zero reports that every element is zero.
func (m *moved) in(out []int) (r *moved, zero bool) {
	r = &moved{src: m.src, shape: out, base: m.base, str: make([]int, len(out)), lo: make([]int, len(out)), hi: make([]int, len(out))}
	r.readAs(m, out)
	for d := range out {
		r.lo[d], r.hi[d] = max(r.lo[d], 0), min(r.hi[d], out[d])
		if r.lo[d] >= r.hi[d] && out[d] > 0 {
			zero = true
		}
	}
	return r, zero
}

// bounded reports whether some bound cuts into the shape.
func (m *moved) bounded() bool {
	for d := range m.shape {
		if m.lo[d] > 0 || m.hi[d] < m.shape[d] {
			return true
		}
	}
	return false
}

// bplan is an ndPlan whose operands may be bounded: operand k reads zero
// where an index lies outside [lo[k][d], hi[k][d]).
type bplan struct {
	ndPlan
	bounded [maxOperands]bool
	any     bool
	lo, hi  [maxOperands][graph.MaxRank]int
}

// newBPlan collapses dims like newPlan, but never merges a dim into the one
// outside it when an operand's bounds cut into the inner dim (the merged
// bound would not be one range). los[k] and his[k] are nil for an operand
// without bounds; bases are the operands' starting offsets.
func newBPlan(dims []int, strs, los, his [][]int, bases []int) *bplan {
	p := &bplan{}
	p.nops, p.total = len(strs), 1
	for _, d := range dims {
		p.total *= d
	}
	cuts := func(k, i int) bool { return los[k] != nil && (los[k][i] > 0 || his[k][i] < dims[i]) }
	for i, d := range dims {
		if d == 1 {
			continue
		}
		if p.rank > 0 {
			last := p.rank - 1
			ok := true
			for k, s := range strs {
				if p.str[k][last] != s[i]*d || cuts(k, i) {
					ok = false
					break
				}
			}
			if ok {
				p.dims[last] *= d
				for k, s := range strs {
					p.str[k][last] = s[i]
					p.lo[k][last] *= d
					p.hi[k][last] *= d
				}
				continue
			}
		}
		p.dims[p.rank] = d
		for k, s := range strs {
			p.str[k][p.rank] = s[i]
			p.lo[k][p.rank], p.hi[k][p.rank] = 0, d
			if los[k] != nil {
				p.lo[k][p.rank], p.hi[k][p.rank] = los[k][i], his[k][i]
			}
		}
		p.rank++
	}
	if p.rank == 0 {
		p.rank, p.dims[0] = 1, 1
		for k := range strs {
			p.hi[k][0] = 1
		}
	}
	for k := range strs {
		p.base[k] = bases[k]
		for d := 0; d < p.rank; d++ {
			if p.lo[k][d] > 0 || p.hi[k][d] < p.dims[d] {
				p.bounded[k], p.any = true, true
			}
		}
	}
	return p
}

// runCuts splits one run of a bplan into pieces [at[q], at[q+1]) for q < n
// over which every bounded operand is wholly inside or outside its bounds.
type runCuts struct {
	n      int
	at     [2*maxOperands + 2]int
	in     [maxOperands]bool // inside along the outer dims
	lo, hi [maxOperands]int  // the inside part of the run
}

// cut splits the run of m elements at the iterator's position.
func (p *bplan) cut(it *ndIter, m int, rc *runCuts) {
	last := p.rank - 1
	i0 := it.idx[last]
	rc.at[0], rc.at[1], rc.n = 0, m, 1
	for k := 1; k < p.nops; k++ {
		if !p.bounded[k] {
			continue
		}
		in := true
		for d := 0; d < last; d++ {
			if it.idx[d] < p.lo[k][d] || it.idx[d] >= p.hi[k][d] {
				in = false
				break
			}
		}
		lo := min(max(p.lo[k][last]-i0, 0), m)
		hi := min(max(p.hi[k][last]-i0, lo), m)
		rc.in[k], rc.lo[k], rc.hi[k] = in, lo, hi
		if in {
			rc.add(lo)
			rc.add(hi)
		}
	}
}

// add inserts cut point x, keeping at sorted and without duplicates.
func (rc *runCuts) add(x int) {
	i := 0
	for i <= rc.n && rc.at[i] < x {
		i++
	}
	if i <= rc.n && rc.at[i] == x {
		return
	}
	copy(rc.at[i+1:rc.n+2], rc.at[i:rc.n+1])
	rc.at[i] = x
	rc.n++
}

// inside reports whether operand k is inside its bounds on the piece that
// starts at s.
func (rc *runCuts) inside(p *bplan, k, s int) bool {
	return !p.bounded[k] || (rc.in[k] && rc.lo[k] <= s && s < rc.hi[k])
}
