// Movement kernels: transpose (tiled when the last two axes swap), slice,
// pad, concat and broadcast, all as strided copies over a collapsed plan;
// plus the constants and iotas computed once at compile time.

package cpu

import (
	"fmt"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// stridedCopy returns a step copying src (read at srcStr from srcBase, per
// output dim) into the contiguous output of shape dims.
func stridedCopy[T elem](c *compiler, out, x *value, dims, srcStr []int, srcBase int) func() error {
	if out.size == 0 {
		return nil
	}
	plan := newPlan(dims, strides(dims), srcStr)
	plan.base[1] = srcBase
	ds, xs := slotOf[T](out), slotOf[T](x)
	pool := c.p.b.pool
	ss := plan.innerStride(1)
	// The last two dims swap: copy in tiles so both sides stay in cache.
	if plan.rank >= 2 && ss != 1 && plan.str[1][plan.rank-2] == 1 && plan.rank <= 3 {
		return tiledTranspose[T](c, plan, ds, xs)
	}
	body := func(lo, hi int) {
		d, s := ds.d, xs.d
		var it ndIter
		it.start(plan, lo)
		for pos := lo; ; {
			n := min(it.run(), hi-pos)
			dst := d[it.off[0] : it.off[0]+n]
			o := it.off[1]
			switch ss {
			case 1:
				copy(dst, s[o:o+n])
			case 0:
				v := s[o]
				for i := range dst {
					dst[i] = v
				}
			default:
				for i := range dst {
					dst[i] = s[o+i*ss]
				}
			}
			pos += n
			if pos >= hi {
				return
			}
			it.nextRow()
		}
	}
	return func() error { pool.parallelFor(out.size, minParallel, body); return nil }
}

const tile = 32

// tiledTranspose handles plans [nb?, A, B] whose source reads dim A with
// stride 1 and dim B with stride sB: out[b, i, j] = src[b*s0 + i + j*sB].
func tiledTranspose[T elem](c *compiler, plan *ndPlan, ds, xs *slot[T]) func() error {
	r := plan.rank
	a, bn := plan.dims[r-2], plan.dims[r-1]
	sB := plan.str[1][r-1]
	nb, s0 := 1, 0
	if r == 3 {
		nb, s0 = plan.dims[0], plan.str[1][0]
	}
	base := plan.base[1]
	tilesA := (a + tile - 1) / tile
	pool := c.p.b.pool
	body := func(lo, hi int) {
		d, s := ds.d, xs.d
		for t := lo; t < hi; t++ {
			b, ti := t/tilesA, t%tilesA
			i0, i1 := ti*tile, min(ti*tile+tile, a)
			db := b * a * bn
			sb := base + b*s0
			for j0 := 0; j0 < bn; j0 += tile {
				j1 := min(j0+tile, bn)
				i := i0
				// Four output rows at a time: each source read is four
				// contiguous values.
				for ; i+4 <= i1; i += 4 {
					r0 := d[db+i*bn+j0 : db+i*bn+j1]
					r1 := d[db+(i+1)*bn+j0 : db+(i+1)*bn+j1]
					r2 := d[db+(i+2)*bn+j0 : db+(i+2)*bn+j1]
					r3 := d[db+(i+3)*bn+j0 : db+(i+3)*bn+j1]
					r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
					o := sb + i + j0*sB
					for j := range r0 {
						q := s[o : o+4 : o+4]
						r0[j], r1[j], r2[j], r3[j] = q[0], q[1], q[2], q[3]
						o += sB
					}
				}
				for ; i < i1; i++ {
					row := d[db+i*bn+j0 : db+i*bn+j1]
					o := sb + i + j0*sB
					for j := range row {
						row[j] = s[o]
						o += sB
					}
				}
			}
		}
	}
	return func() error { pool.parallelFor(nb*tilesA, grainFor(tile*bn), body); return nil }
}

func buildTranspose[T elem](c *compiler, out, x *value, perm []int) func() error {
	xst := strides(x.shape)
	src := make([]int, len(perm))
	for i, p := range perm {
		src[i] = xst[p]
	}
	return stridedCopy[T](c, out, x, out.shape, src, 0)
}

func buildSlice[T elem](c *compiler, out, x *value, begin []int) func() error {
	xst := strides(x.shape)
	base := 0
	for d, b := range begin {
		base += b * xst[d]
	}
	return stridedCopy[T](c, out, x, out.shape, xst, base)
}

func buildBroadcast[T elem](c *compiler, out, x *value) func() error {
	return stridedCopy[T](c, out, x, out.shape, bcastStrides(x.shape, out.shape), 0)
}

// buildPad writes every output element once: the output is a stack of rows
// spanning the last padded axis and everything after it; a row whose outer
// index lies in the padding is zeroed, any other is zeros, one contiguous
// block of x, zeros.
func buildPad[T elem](c *compiler, out, x *value, lo []int) func() error {
	if out.size == 0 {
		return nil
	}
	last := len(lo) - 1
	for last > 0 && out.shape[last] == x.shape[last] {
		last--
	}
	inner := 1
	for d := last + 1; d < len(out.shape); d++ {
		inner *= out.shape[d]
	}
	w := out.shape[last] * inner
	zlo, n := lo[last]*inner, x.shape[last]*inner
	oshape, xshape, xst := out.shape[:last], x.shape[:last], strides(x.shape)
	ds, xs := slotOf[T](out), slotOf[T](x)
	body := func(r0, r1 int) {
		d, s := ds.d, xs.d
		for r := r0; r < r1; r++ {
			dst := d[r*w : r*w+w]
			src, in := 0, true
			for k, rem := last-1, r; k >= 0; k-- {
				j := rem%oshape[k] - lo[k]
				rem /= oshape[k]
				if j < 0 || j >= xshape[k] {
					in = false
					break
				}
				src += j * xst[k]
			}
			if !in {
				clear(dst)
				continue
			}
			clear(dst[:zlo])
			copy(dst[zlo:zlo+n], s[src:src+n])
			clear(dst[zlo+n:])
		}
	}
	pool := c.p.b.pool
	rows := out.size / w
	return func() error { pool.parallelFor(rows, grainFor(w), body); return nil }
}

// buildConcat copies, for each outer index, every input's contiguous block.
func buildConcat[T elem](c *compiler, out *value, xs []*value, axis int) func() error {
	if out.size == 0 {
		return nil
	}
	outer, inner := 1, 1
	for d := 0; d < axis; d++ {
		outer *= out.shape[d]
	}
	for d := axis + 1; d < len(out.shape); d++ {
		inner *= out.shape[d]
	}
	row := out.shape[axis] * inner
	ds := slotOf[T](out)
	srcs := make([]*slot[T], len(xs))
	widths := make([]int, len(xs))
	for k, x := range xs {
		srcs[k] = slotOf[T](x)
		widths[k] = x.shape[axis] * inner
	}
	pool := c.p.b.pool
	body := func(lo, hi int) {
		d := ds.d
		for o := lo; o < hi; o++ {
			at := o * row
			for k, s := range srcs {
				w := widths[k]
				copy(d[at:at+w], s.d[o*w:o*w+w])
				at += w
			}
		}
	}
	return func() error { pool.parallelFor(outer, grainFor(row), body); return nil }
}

// constant fills value i (a Const or an Iota) once, at compile time.
func (c *compiler) constant(i int) error {
	n := &c.g.Nodes[i]
	v := &c.p.vals[i]
	data := make([]float64, v.size)
	switch n.Op {
	case graph.OpConst:
		switch len(n.Attrs.Values) {
		case 1:
			for k := range data {
				data[k] = n.Attrs.Values[0]
			}
		case v.size:
			copy(data, n.Attrs.Values)
		default:
			return fmt.Errorf("cpu: node %d (const): %d values for %d elements", i, len(n.Attrs.Values), v.size)
		}
	case graph.OpIota:
		st := strides(v.shape)
		ax := n.Attrs.Axis
		for k := range data {
			data[k] = float64(k / st[ax] % v.shape[ax])
		}
	}
	switch v.dt {
	case graph.F32:
		d := make([]float32, v.size)
		for k, x := range data {
			d[k] = float32(x)
		}
		slotOf[float32](v).d = d
	case graph.F64:
		slotOf[float64](v).d = data
	case graph.I32:
		d := make([]int32, v.size)
		for k, x := range data {
			d[k] = int32(x)
		}
		slotOf[int32](v).d = d
	}
	return nil
}
