// Thin shims over the shared float32/float64 GEMM (package gemm) and the
// float32 vector kernels (package vec), so every kernel calls one place.

package cpu

import (
	"github.com/mohawk-distill/mohawk/backends/cpu/gemm"
	"github.com/mohawk-distill/mohawk/backends/cpu/vec"
)

// sgemm computes C = alpha*op(A)*op(B) + beta*C (row-major); it uses up to
// gemm.Threads() goroutines. With beta == 0, C is never read.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm.SGEMM(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmSerial is sgemm on the calling goroutine only.
func sgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm.SGEMMSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// dgemm and dgemmSerial are the float64 analogues.
func dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemm.DGEMM(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func dgemmSerial(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemm.DGEMMSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func vExp(dst, x []float32)                           { vec.Exp(dst, x) }
func vSigmoid(dst, x []float32)                       { vec.Sigmoid(dst, x) }
func vTanh(dst, x []float32)                          { vec.Tanh(dst, x) }
func vSoftplus(dst, x []float32)                      { vec.Softplus(dst, x) }
func vLog(dst, x []float32)                           { vec.Log(dst, x) }
func vAdd(dst, a, b []float32)                        { vec.Add(dst, a, b) }
func vSub(dst, a, b []float32)                        { vec.Sub(dst, a, b) }
func vMul(dst, a, b []float32)                        { vec.Mul(dst, a, b) }
func vDiv(dst, a, b []float32)                        { vec.Div(dst, a, b) }
func vAddScalar(dst, a []float32, s float32)          { vec.AddScalar(dst, a, s) }
func vMulScalar(dst, a []float32, s float32)          { vec.MulScalar(dst, a, s) }
func vSum(x []float32) float32                        { return vec.Sum(x) }
func vMax(x []float32) float32                        { return vec.Max(x) }
func vDot(a, b []float32) float32                     { return vec.Dot(a, b) }
func vAxpy(dst []float32, alpha float32, x []float32) { vec.Axpy(dst, alpha, x) }
func vSoftmaxRow(dst, x []float32)                    { vec.SoftmaxRow(dst, x) }
func vLogSumExp(x []float32) float32                  { return vec.LogSumExp(x) }
