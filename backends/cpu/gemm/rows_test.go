package gemm

import (
	"math/rand/v2"
	"testing"
)

// TestRowsTightStrides checks the few-row path on products whose operands
// have no padding, where a slice one row too long would run past the end
// (op(A) stored transposed with k = 1, say), in both element types and
// with every transpose, against the float64 reference.
func TestRowsTightStrides(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for m := 1; m <= smallRows; m++ {
		for _, nk := range [][2]int{{1, 1}, {3, 1}, {5, 2}, {17, 33}} {
			for tr := 0; tr < 4; tr++ {
				tc := caseDesc{transA: tr&1 != 0, transB: tr&2 != 0, m: m, n: nk[0], k: nk[1], alpha: 1.5, beta: 0.5}
				a, lda, b, ldb, c, ldc := operands(rng, tc)
				a32, b32, c32 := to32(a), to32(b), to32(c)
				want, scale := ref(tc.transA, tc.transB, m, tc.n, tc.k, tc.alpha, to64(a32), lda, to64(b32), ldb, tc.beta, to64(c32), ldc)
				SGEMMSerial(tc.transA, tc.transB, m, tc.n, tc.k, float32(tc.alpha), a32, lda, b32, ldb, float32(tc.beta), c32, ldc)
				if msg := check(tc, to64(c32), ldc, want, scale, tol32); msg != "" {
					t.Errorf("float32 %v: %s", tc, msg)
				}
				want, scale = ref(tc.transA, tc.transB, m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
				DGEMMSerial(tc.transA, tc.transB, m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
				if msg := check(tc, c, ldc, want, scale, tol64); msg != "" {
					t.Errorf("float64 %v: %s", tc, msg)
				}
			}
		}
	}
}
