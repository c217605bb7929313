// Fused row kernels over the last axis: softmax and log-softmax (max
// shifted), layer norm (biased variance), RMS norm, and cross-entropy with a
// run-time check of every label. Rows are split across the pool.

package cpu

import (
	"fmt"
	"math"
)

// softmaxRow writes exp(x - max x) / sum into dst.
func softmaxRow[T float](dst, x []T) {
	m := T(math.Inf(-1))
	for _, v := range x {
		m = maxOf(m, v)
	}
	var s float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		dst[i] = T(e)
		s += e
	}
	inv := 1 / s
	for i := range dst {
		dst[i] = T(float64(dst[i]) * inv)
	}
}

// logSumExp is log(sum exp x), computed around the maximum.
func logSumExp[T float](x []T) T {
	m := T(math.Inf(-1))
	for _, v := range x {
		m = maxOf(m, v)
	}
	if math.IsInf(float64(m), 0) || m != m {
		return m
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v - m))
	}
	return T(float64(m) + math.Log(s))
}

type rowKernels[T float] struct {
	softmax func(dst, x []T)
	lse     func(x []T) T
}

func rowKernelsFor[T float]() rowKernels[T] {
	var z T
	if _, ok := any(z).(float32); ok {
		return any(rowKernels[float32]{vSoftmaxRow, vLogSumExp}).(rowKernels[T])
	}
	return rowKernels[T]{softmaxRow[T], logSumExp[T]}
}

// rowStep runs f over the rows of length cols of a value of size elements.
func (c *compiler) rowStep(size, cols int, f func(r int)) func() error {
	if size == 0 || cols == 0 {
		return nil
	}
	rows := size / cols
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			f(r)
		}
	}
	pool := c.p.b.pool
	return func() error { pool.parallelFor(rows, grainFor(cols), body); return nil }
}

func lastDim(v *value) int { return v.shape[len(v.shape)-1] }

// buildSoftmax computes softmax or log-softmax rows. Its input may be a
// fused tree (a masked, scaled score), evaluated one row at a time into a
// register; rows are then at most fuseBlock long (see canRead).
func buildSoftmax[T float](c *compiler, out, x *value, logarithm bool) func() error {
	C := lastDim(x)
	if x.size == 0 || C == 0 {
		return nil
	}
	ds := slotOf[T](out)
	read, _ := inputReader[T](c, x)
	k := rowKernelsFor[T]()
	p := c.p
	body := func(w, lo, hi int) {
		sc := &p.scratch[w]
		for r := lo; r < hi; r++ {
			src, dst := read(sc, r*C, C), ds.d[r*C:r*C+C]
			if !logarithm {
				k.softmax(dst, src)
				continue
			}
			l := k.lse(src)
			for i, v := range src {
				dst[i] = v - l
			}
		}
	}
	pool, rows := p.b.pool, x.size/C
	return func() error { pool.parallelForW(rows, grainFor(C), body); return nil }
}

// normRowF32 and normRow normalise one row in place of dst: layer norm when
// beta is not nil, RMS norm otherwise.
func normRowF32(dst, x, gamma, beta []float32, eps float64) {
	n := float32(len(x))
	if beta != nil {
		mean := vSum(x) / n
		vAddScalar(dst, x, -mean)
		v := float64(vDot(dst, dst) / n)
		vMulScalar(dst, dst, float32(1/math.Sqrt(v+eps)))
		vMul(dst, dst, gamma)
		vAdd(dst, dst, beta)
		return
	}
	ms := float64(vDot(x, x) / n)
	vMulScalar(dst, x, float32(1/math.Sqrt(ms+eps)))
	vMul(dst, dst, gamma)
}

func normRow[T float](dst, x, gamma, beta []T, eps float64) {
	n := float64(len(x))
	if beta != nil {
		var s float64
		for _, v := range x {
			s += float64(v)
		}
		mean := s / n
		var q float64
		for _, v := range x {
			d := float64(v) - mean
			q += d * d
		}
		r := 1 / math.Sqrt(q/n+eps)
		for i, v := range x {
			dst[i] = T((float64(v)-mean)*r)*gamma[i] + beta[i]
		}
		return
	}
	var q float64
	for _, v := range x {
		q += float64(v) * float64(v)
	}
	r := 1 / math.Sqrt(q/n+eps)
	for i, v := range x {
		dst[i] = T(float64(v)*r) * gamma[i]
	}
}

func buildNorm[T float](c *compiler, out, x, gamma, beta *value, eps float64) func() error {
	C := lastDim(x)
	ds, xs, gs := slotOf[T](out), slotOf[T](x), slotOf[T](gamma)
	var bs *slot[T]
	if beta != nil {
		bs = slotOf[T](beta)
	}
	f := normRow[T]
	if g, ok := any(normRowF32).(func(dst, x, gamma, beta []T, eps float64)); ok {
		f = g
	}
	return c.rowStep(x.size, C, func(r int) {
		var b []T
		if bs != nil {
			b = bs.d
		}
		f(ds.d[r*C:r*C+C], xs.d[r*C:r*C+C], gs.d, b, eps)
	})
}

// buildCrossEntropy checks every label, then computes logsumexp(row) -
// row[label] per position.
func buildCrossEntropy[T float](c *compiler, out, logits, labels *value) func() error {
	V := lastDim(logits)
	ds, xs, ls := slotOf[T](out), slotOf[T](logits), slotOf[int32](labels)
	k := rowKernelsFor[T]()
	rows := out.size
	body := func(lo, hi int) {
		d, x, l := ds.d, xs.d, ls.d
		for r := lo; r < hi; r++ {
			row := x[r*V : r*V+V]
			d[r] = k.lse(row) - row[l[r]]
		}
	}
	pool := c.p.b.pool
	return func() error {
		for i, l := range ls.d {
			if l < 0 || int(l) >= V {
				return fmt.Errorf("label %d at position %d is outside [0,%d)", l, i, V)
			}
		}
		pool.parallelFor(rows, grainFor(V), body)
		return nil
	}
}
