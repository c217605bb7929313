// Public entry points (SGEMM, DGEMM and their serial variants), argument
// validation, the trivial cases (empty sizes, k == 0, alpha == 0) and the
// per-type configuration.

package gemm

import "fmt"

// Default cache blocking, chosen by measurement on an AVX2 Zen 3 core
// (32 KiB L1d, 512 KiB L2, shared L3). The A block (mc×kc) stays in L2, one
// B micro-panel (kc×nr) in L1 and the B panel (kc×nc) in L3.
var sParams = params[float32]{
	name:   "go-6x16",
	nr:     16,
	mc:     144,
	kc:     256,
	nc:     4096,
	kernel: sKernelGo,
	packA:  packA[float32],
	packB:  packB[float32],
	rows:   sRowOps,
}

var dParams = params[float64]{
	name:   "go-6x8",
	nr:     8,
	mc:     96,
	kc:     256,
	nc:     4096,
	kernel: dKernelGo,
	packA:  packA[float64],
	packB:  packB[float64],
	rows:   dRowOps,
}

// SGEMM computes C = alpha*op(A)*op(B) + beta*C for row-major float32
// matrices, where op(X) is X or Xᵀ. op(A) is m×k (A is stored k×m when
// transA), op(B) is k×n (B is stored n×k when transB) and C is m×n. lda, ldb
// and ldc are the row strides. When beta == 0, C is overwritten and its old
// contents (even NaN) are ignored. It may use up to Threads() goroutines.
//
// It panics if a stride is smaller than its row length or a slice is too
// short for the sizes given.
func SGEMM(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(&sParams, "SGEMM", Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// DGEMM is the float64 analogue of SGEMM.
func DGEMM(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemm(&dParams, "DGEMM", Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SGEMMSerial is SGEMM restricted to the calling goroutine, for callers that
// parallelise over a batch themselves. It is safe for concurrent use.
func SGEMMSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(&sParams, "SGEMMSerial", 1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// DGEMMSerial is DGEMM restricted to the calling goroutine.
func DGEMMSerial(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemm(&dParams, "DGEMMSerial", 1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkMatrix panics unless s can hold a rows×cols row-major matrix with
// row stride ld.
func checkMatrix(fn, name string, rows, cols, ld, length int) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("gemm: %s: negative dimension for %s: %d×%d", fn, name, rows, cols))
	}
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: %s: ld%s=%d is less than max(1, %d), the row length of the %d×%d matrix %s", fn, name, ld, cols, rows, cols, name))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; length < need {
		panic(fmt.Sprintf("gemm: %s: len(%s)=%d is too short for a %d×%d matrix with ld%s=%d (need %d)", fn, name, length, rows, cols, name, ld, need))
	}
}

func gemm[T float](p *params[T], fn string, threads int, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: %s: negative size m=%d n=%d k=%d", fn, m, n, k))
	}
	if transA {
		checkMatrix(fn, "a", k, m, lda, len(a))
	} else {
		checkMatrix(fn, "a", m, k, lda, len(a))
	}
	if transB {
		checkMatrix(fn, "b", n, k, ldb, len(b))
	} else {
		checkMatrix(fn, "b", k, n, ldb, len(b))
	}
	checkMatrix(fn, "c", m, n, ldc, len(c))

	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if threads > 1 && 2*float64(m)*float64(n)*float64(k) >= minParallelFlops {
		if gemmParallel(p, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
			return
		}
	}
	serialPart(p, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// serialPart runs a whole call, or one part of a split one, on this
// goroutine: a few rows by the row path, anything taller packed.
func serialPart[T float](p *params[T], transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m <= smallRows {
		gemmRows(p, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmSerial(p, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// scaleC sets C = beta*C, writing zeros when beta == 0.
func scaleC[T float](m, n int, beta T, c []T, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
