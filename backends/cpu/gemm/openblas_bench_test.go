// OpenBLAS comparison (build with -tags openblas and cgo): registers
// cblas_sgemm as a second implementation in BenchmarkSGEMM, so each shape
// prints .../mohawk and .../openblas from the same run, and checks that both
// agree within the test tolerance. The cgo binding lives in
// internal/openblas because cgo cannot be used in test files.

//go:build cgo && openblas

package gemm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/cpu/gemm/internal/openblas"
)

func init() {
	sgemmImpls = append(sgemmImpls, sgemmImpl{
		name:  "openblas",
		setup: openblas.SetThreads,
		f:     openblas.SGEMM,
	})
}

func TestMatchesOpenBLAS(t *testing.T) {
	t.Logf("OpenBLAS: %s", openblas.Config())
	rng := rand.New(rand.NewPCG(11, 12))
	for _, s := range []benchShape{
		{false, false, 1, 1, 1}, {false, false, 37, 53, 71},
		{true, false, 129, 67, 300}, {false, true, 300, 129, 67},
		{true, true, 70, 300, 129}, {false, false, 512, 256, 256},
	} {
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		a := randSlice32(rng, s.m*s.k)
		b := randSlice32(rng, s.k*s.n)
		c0 := randSlice32(rng, s.m*s.n)
		ours := append([]float32(nil), c0...)
		theirs := append([]float32(nil), c0...)
		SGEMM(s.transA, s.transB, s.m, s.n, s.k, 1.5, a, lda, b, ldb, 0.5, ours, s.n)
		openblas.SGEMM(s.transA, s.transB, s.m, s.n, s.k, 1.5, a, lda, b, ldb, 0.5, theirs, s.n)
		_, scale := ref(s.transA, s.transB, s.m, s.n, s.k, 1.5, to64(a), lda, to64(b), ldb, 0.5, to64(c0), s.n)
		for i := range ours {
			if d := math.Abs(float64(ours[i]) - float64(theirs[i])); !(d <= tol32*scale[i]) {
				t.Fatalf("%v: C[%d]: mohawk %g, openblas %g", s, i, ours[i], theirs[i])
			}
		}
	}
}
