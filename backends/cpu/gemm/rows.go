// Products of a few rows (m ≤ smallRows), as in one-token decoding: packing
// B would cost as much as the product itself and the 6-row micro-kernel
// would mostly multiply padding, so each row of C is computed straight from
// B, by dot products (transB: rows of B are contiguous) or by scaled row
// sums (B as stored). Large ones are split by columns (or depth) across
// goroutines first, each part taking this path (parallel.go, runStatic).

package gemm

import "github.com/mohawk-distill/mohawk/backends/cpu/vec"

// smallRows is the largest m that takes the row path.
const smallRows = 4

// rowOps are the vector operations of the row path for one element type.
type rowOps[T float] struct {
	dot  func(a, b []T) T
	axpy func(dst []T, alpha T, x []T)
}

var sRowOps = rowOps[float32]{dot: vec.Dot, axpy: vec.Axpy}

var dRowOps = rowOps[float64]{
	dot: func(a, b []float64) float64 {
		var s float64
		for i, v := range a {
			s += v * b[i]
		}
		return s
	},
	axpy: func(dst []float64, alpha float64, x []float64) {
		for i := range dst {
			dst[i] += alpha * x[i]
		}
	},
}

// gemmRows computes C = alpha*op(A)*op(B) + beta*C row by row; the caller
// has validated the arguments and m ≤ smallRows.
func gemmRows[T float](p *params[T], transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	ops := p.rows
	ws := p.getWorkspace()
	ws.a = grow(ws.a, k)
	ws.b = grow(ws.b, n)
	for i := 0; i < m; i++ {
		var row []T
		if transA { // op(A)(i, p) = a[p*lda + i]
			row = ws.a[:k]
			for q := range row {
				row[q] = a[q*lda+i]
			}
		} else {
			row = a[i*lda : i*lda+k]
		}
		out := c[i*ldc : i*ldc+n]
		if transB {
			for j := range out {
				v := alpha * ops.dot(row, b[j*ldb:j*ldb+k])
				if beta != 0 {
					v += beta * out[j]
				}
				out[j] = v
			}
			continue
		}
		acc := ws.b[:n]
		clear(acc)
		for q, av := range row { // no skipping of zeros: 0·Inf must stay NaN
			ops.axpy(acc, av, b[q*ldb:q*ldb+n])
		}
		for j, v := range acc {
			v *= alpha
			if beta != 0 {
				v += beta * out[j]
			}
			out[j] = v
		}
	}
	p.putWorkspace(ws)
}
