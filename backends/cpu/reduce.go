// Reductions (sum, max over any set of axes, keeping them as size 1) and
// cumulative sums. The axes are collapsed first: reducing the last run of
// dims is a row reduction (parallel over rows), reducing a middle or leading
// run accumulates whole rows (parallel over output columns, or over blocks
// of rows when there are few columns), longer patterns go in two stages, and
// any other pattern falls back to one strided pass. A reduction's input may
// be a fused elementwise tree, evaluated block by block as it is read.

package cpu

import (
	"math"
	"slices"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// sumRow and maxRow reduce a contiguous row.
func sumRow[T elem](x []T) T {
	var s0, s1, s2, s3 T
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func maxRow[T elem](x []T) T {
	m := lowest[T]()
	for _, v := range x {
		m = maxOf(m, v)
	}
	return m
}

// lowest is the identity of max: -Inf, or the least int32.
func lowest[T elem]() T {
	var z T
	switch any(z).(type) {
	case int32:
		var m int32 = math.MinInt32
		return T(m)
	}
	return T(math.Inf(-1))
}

// accumulate folds a row into dst: dst = dst + x (sum) or max(dst, x).
func accumulate[T elem](isMax bool, dst, x []T) {
	x = x[:len(dst)]
	if isMax {
		for i := range dst {
			dst[i] = maxOf(dst[i], x[i])
		}
		return
	}
	for i := range dst {
		dst[i] += x[i]
	}
}

func accumulateF32(isMax bool, dst, x []float32) {
	if isMax {
		accumulate(true, dst, x)
		return
	}
	vAdd(dst, dst, x[:len(dst)])
}

// blockRead returns the input of a reduction at flat range [lo, lo+n): a
// slice of its buffer, or a register that a fused tree has just filled.
type blockRead[T elem] func(sc *fscratch, lo, n int) []T

// reduction is what the step of one reduction shares across its stages.
type reduction[T elem] struct {
	p      *Program
	isMax  bool
	row    func([]T) T          // reduces a contiguous run
	acc    func(bool, []T, []T) // folds a run into dst
	id     T                    // the identity: 0, or the lowest value
	tmpFor func(n int) *slot[T]
}

func (r *reduction[T]) combine(a, b T) T {
	if r.isMax {
		return maxOf(a, b)
	}
	return a + b
}

// buildReduce reduces x over axes. The axes are collapsed into runs of kept
// (K) and reduced (R) dims; then [K, R] reduces rows (parallel over rows),
// [K1, R, K2] accumulates whole rows (parallel over output columns, or over
// blocks of rows when the output is too small to split), a longer pattern
// ending in R first reduces its last run into a temporary and goes on with
// the rest, and any other pattern takes one strided pass. read gives the
// input (in place, or computed by a fused tree) in pieces of at most lim
// elements. Every element's summation order depends only on the shapes, so
// results do not depend on the number of threads.
func buildReduce[T elem](c *compiler, op graph.Op, out, x *value, axes []int, read blockRead[T], lim int) func() error {
	r := &reduction[T]{p: c.p, isMax: op == graph.OpReduceMax, row: sumRow[T], acc: accumulate[T]}
	if f, ok := any(vSum).(func([]T) T); ok {
		r.row = f
		if r.isMax {
			r.row = any(vMax).(func([]T) T)
		}
	} else if r.isMax {
		r.row = maxRow[T]
	}
	if f, ok := any(accumulateF32).(func(bool, []T, []T)); ok {
		r.acc = f
	}
	if r.isMax {
		r.id = lowest[T]()
	}
	r.tmpFor = func(n int) *slot[T] { return &slot[T]{d: make([]T, n)} }
	ds := slotOf[T](out)
	if x.size == 0 {
		return func() error {
			for i := range ds.d {
				ds.d[i] = r.id
			}
			return nil
		}
	}
	if out.size == 0 {
		return nil
	}
	// Collapse into runs of kept (false) and reduced (true) dims.
	red := make([]bool, len(x.shape))
	for _, a := range axes {
		red[a] = true
	}
	var sizes []int
	var flags []bool
	for d, n := range x.shape {
		if n == 1 {
			continue
		}
		if k := len(sizes) - 1; k >= 0 && flags[k] == red[d] {
			sizes[k] *= n
			continue
		}
		sizes = append(sizes, n)
		flags = append(flags, red[d])
	}
	run := r.plan(c.p.b.pool, sizes, flags, ds, read, lim)
	return func() error { run(); return nil }
}

// directRead reads a value in place.
func directRead[T elem](s *slot[T]) blockRead[T] {
	return func(_ *fscratch, lo, n int) []T { return s.d[lo : lo+n] }
}

// plan returns the work reducing the collapsed input (sizes, flags), read by
// read, into dst.
func (r *reduction[T]) plan(pool *pool, sizes []int, flags []bool, ds *slot[T], read blockRead[T], lim int) func() {
	n := len(sizes)
	reduced := slices.Contains(flags, true)
	switch {
	case !reduced:
		// Only unit axes are reduced: a copy.
		size := 1
		for _, s := range sizes {
			size *= s
		}
		return r.rows(pool, size, 1, ds, read, lim)
	case flags[n-1] && n <= 2:
		return r.rows(pool, ds.len(), sizes[n-1], ds, read, lim)
	case flags[n-1]:
		// Reduce the last run into a temporary, then reduce that.
		rows := 1
		for _, s := range sizes[:n-1] {
			rows *= s
		}
		tmp := r.tmpFor(rows)
		first := r.rows(pool, rows, sizes[n-1], tmp, read, lim)
		second := r.plan(pool, sizes[:n-1], flags[:n-1], ds, directRead(tmp), math.MaxInt)
		return func() { first(); second() }
	case flags[n-2] && n <= 3:
		k1, rr, k2 := 1, sizes[n-2], sizes[n-1]
		if n == 3 {
			k1 = sizes[0]
		}
		// Accumulate blocks of rows into a temporary [k1, nb, k2] first,
		// then reduce over the blocks: each thread streams whole rows.
		if nb := rowBlocks(rr); nb > 1 {
			tmp := r.tmpFor(k1 * nb * k2)
			first := r.columns(pool, k1*nb, rr/nb, k2, tmp, read, lim)
			second := r.columns(pool, k1, nb, k2, ds, directRead(tmp), math.MaxInt)
			return func() { first(); second() }
		}
		return r.columns(pool, k1, rr, k2, ds, read, lim)
	}
	return r.strided(sizes, flags, ds, read, lim)
}

// rowBlocks is the number of blocks (a divisor of rows, at most 32, of at
// least 32 rows each) that a column reduction of rows is split into; 1 when
// rows are too few to split.
func rowBlocks(rows int) int {
	for nb := 32; nb > 1; nb-- {
		if rows%nb == 0 && rows/nb >= 32 {
			return nb
		}
	}
	return 1
}

func (s *slot[T]) len() int { return len(s.d) }

// rows reduces rows of length cols: dst[i] = reduce(x[i*cols : (i+1)*cols]).
func (r *reduction[T]) rows(pool *pool, rows, cols int, ds *slot[T], read blockRead[T], lim int) func() {
	p := r.p
	body := func(w, lo, hi int) {
		sc, d := &p.scratch[w], ds.d
		for i := lo; i < hi; i++ {
			base := i * cols
			m := min(cols, lim)
			v := r.row(read(sc, base, m))
			for c0 := m; c0 < cols; c0 += lim {
				v = r.combine(v, r.row(read(sc, base+c0, min(lim, cols-c0))))
			}
			d[i] = v
		}
	}
	grain := grainFor(cols)
	return func() { pool.parallelForW(rows, grain, body) }
}

// columns reduces [k1, rr, k2] over its middle axis by accumulating whole
// rows of k2, split across the pool by output columns.
func (r *reduction[T]) columns(pool *pool, k1, rr, k2 int, ds *slot[T], read blockRead[T], lim int) func() {
	p := r.p
	body := func(w, lo, hi int) {
		sc, d := &p.scratch[w], ds.d
		for pos := lo; pos < hi; {
			o, j := pos/k2, pos%k2
			n := min(k2-j, hi-pos, lim)
			dst := d[pos : pos+n]
			base := o*rr*k2 + j
			copy(dst, read(sc, base, n))
			for t := 1; t < rr; t++ {
				r.acc(r.isMax, dst, read(sc, base+t*k2, n))
			}
			pos += n
		}
	}
	// Chunks of at least 16 columns keep whole cache lines per thread.
	grain := max(grainFor(rr), 16)
	return func() { pool.parallelForW(k1*k2, grain, body) }
}

// strided folds the input into dst in one pass on the calling goroutine.
func (r *reduction[T]) strided(sizes []int, flags []bool, ds *slot[T], read blockRead[T], lim int) func() {
	ost := make([]int, len(sizes))
	acc := 1
	for d := len(sizes) - 1; d >= 0; d-- {
		if !flags[d] {
			ost[d] = acc
			acc *= sizes[d]
		}
	}
	plan := newPlan(sizes, strides(sizes), ost)
	so := plan.innerStride(1)
	p := r.p
	return func() {
		d, sc := ds.d, &p.scratch[0]
		for i := range d {
			d[i] = r.id
		}
		var it ndIter
		it.start(plan, 0)
		for pos := 0; ; {
			n := it.run()
			oo := it.off[1]
			for c0 := 0; c0 < n; c0 += lim {
				m := min(lim, n-c0)
				s := read(sc, it.off[0]+c0, m)
				o := oo + c0*so
				for i, v := range s {
					d[o+i*so] = r.combine(d[o+i*so], v)
				}
			}
			pos += n
			if pos >= plan.total {
				return
			}
			it.nextRow()
		}
	}
}

// buildCumsum scans along axis: x is viewed as [outer, n, inner] and every
// (outer, inner-range) lane is scanned with whole-row additions.
func buildCumsum[T elem](c *compiler, out, x *value, axis int, exclusive, reverse bool) func() error {
	if out.size == 0 {
		return nil
	}
	ds, xs := slotOf[T](out), slotOf[T](x)
	pool := c.p.b.pool
	outer, inner := 1, 1
	for d := 0; d < axis; d++ {
		outer *= x.shape[d]
	}
	for d := axis + 1; d < len(x.shape); d++ {
		inner *= x.shape[d]
	}
	n := x.shape[axis]
	add := func(dst, a, b []T) {
		b = b[:len(dst)]
		for i := range dst {
			dst[i] = a[i] + b[i]
		}
	}
	if f, ok := any(vAdd).(func(dst, a, b []T)); ok {
		add = f
	}
	if inner == 1 {
		// Along the last axis: one contiguous scalar scan per row.
		scan := func(lo, hi int) {
			d, s := ds.d, xs.d
			for o := lo; o < hi; o++ {
				dst, src := d[o*n:o*n+n], s[o*n:o*n+n]
				var acc T
				if reverse {
					for i := n - 1; i >= 0; i-- {
						if exclusive {
							dst[i] = acc
							acc += src[i]
						} else {
							acc += src[i]
							dst[i] = acc
						}
					}
					continue
				}
				for i := range dst {
					if exclusive {
						dst[i] = acc
						acc += src[i]
					} else {
						acc += src[i]
						dst[i] = acc
					}
				}
			}
		}
		return func() error { pool.parallelFor(outer, grainFor(n), scan); return nil }
	}
	body := func(lo, hi int) {
		d, s := ds.d, xs.d
		for pos := lo; pos < hi; {
			o, j := pos/inner, pos%inner
			w := min(inner-j, hi-pos)
			base := o*n*inner + j
			row := func(t int) int { return base + t*inner }
			first, step := 0, 1
			if reverse {
				first, step = n-1, -1
			}
			t := first
			if exclusive {
				clear(d[row(t) : row(t)+w])
			} else {
				copy(d[row(t):row(t)+w], s[row(t):row(t)+w])
			}
			for k := 1; k < n; k++ {
				prev := t
				t += step
				dst, p := d[row(t):row(t)+w], d[row(prev):row(prev)+w]
				src := s[row(t) : row(t)+w]
				if exclusive {
					src = s[row(prev) : row(prev)+w]
				}
				add(dst, p, src)
			}
			pos += w
		}
	}
	return func() error { pool.parallelFor(outer*inner, grainFor(n), body); return nil }
}
