// Reductions (sum, max over any set of axes, keeping them as size 1) and
// cumulative sums. The axes are collapsed first: reducing the last run of
// dims is a row reduction (parallel over rows), reducing a middle or leading
// run accumulates whole rows (parallel over output columns), and any other
// pattern falls back to one strided pass.

package cpu

import (
	"math"

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

func buildReduce[T elem](c *compiler, op graph.Op, out, x *value, axes []int) func() error {
	isMax := op == graph.OpReduceMax
	ds, xs := slotOf[T](out), slotOf[T](x)
	pool := c.p.b.pool
	if x.size == 0 {
		id := T(0)
		if isMax {
			id = lowest[T]()
		}
		return func() error {
			for i := range ds.d {
				ds.d[i] = id
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
	rowSum := sumRow[T]
	rowMax := maxRow[T]
	if f, ok := any(vSum).(func([]T) T); ok {
		rowSum = f
		rowMax = any(vMax).(func([]T) T)
	}
	acc := accumulate[T]
	if f, ok := any(accumulateF32).(func(bool, []T, []T)); ok {
		acc = f
	}
	switch {
	case len(sizes) >= 1 && flags[len(flags)-1] && len(sizes) <= 2:
		// [K, R] or [R]: reduce rows.
		r := sizes[len(sizes)-1]
		rows := out.size
		f := rowSum
		if isMax {
			f = rowMax
		}
		body := func(lo, hi int) {
			d, s := ds.d, xs.d
			for i := lo; i < hi; i++ {
				d[i] = f(s[i*r : (i+1)*r])
			}
		}
		return func() error { pool.parallelFor(rows, grainFor(r), body); return nil }
	case len(sizes) >= 2 && !flags[len(flags)-1] && flags[len(flags)-2] && len(sizes) <= 3:
		// [K1, R, K2] or [R, K2]: accumulate rows of K2.
		k2 := sizes[len(sizes)-1]
		r := sizes[len(sizes)-2]
		body := func(lo, hi int) {
			d, s := ds.d, xs.d
			for pos := lo; pos < hi; {
				o, j := pos/k2, pos%k2
				n := min(k2-j, hi-pos)
				dst := d[pos : pos+n]
				base := o*r*k2 + j
				copy(dst, s[base:base+n])
				for t := 1; t < r; t++ {
					acc(isMax, dst, s[base+t*k2:base+t*k2+n])
				}
				pos += n
			}
		}
		// Chunks of at least 16 columns keep whole cache lines per thread.
		grain := max(grainFor(r), 16)
		return func() error { pool.parallelFor(out.size, grain, body); return nil }
	}
	// General: one strided pass over x, folding into out.
	ost := strides(out.shape)
	for _, a := range axes {
		ost[a] = 0
	}
	plan := newPlan(x.shape, strides(x.shape), ost)
	so := plan.innerStride(1)
	id := T(0)
	if isMax {
		id = lowest[T]()
	}
	return func() error {
		d, s := ds.d, xs.d
		for i := range d {
			d[i] = id
		}
		var it ndIter
		it.start(plan, 0)
		for pos := 0; ; {
			n := it.run()
			xo, oo := it.off[0], it.off[1]
			if isMax {
				for i := 0; i < n; i++ {
					d[oo+i*so] = maxOf(d[oo+i*so], s[xo+i])
				}
			} else {
				for i := 0; i < n; i++ {
					d[oo+i*so] += s[xo+i]
				}
			}
			pos += n
			if pos >= x.size {
				return nil
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
				for i := range dst {
					dst[i] = p[i] + src[i]
				}
			}
			pos += w
		}
	}
	return func() error { pool.parallelFor(outer*inner, grainFor(n), body); return nil }
}
