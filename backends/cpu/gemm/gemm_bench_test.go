// Throughput benchmarks over the shapes the CPU backend multiplies most:
// a square 1024³ product and transformer-shaped products for 4096 tokens
// (batch 16 × sequence 256) at d_model 256 and 1024, including the weight-
// gradient (transA) and input-gradient (transB) forms, and one-token
// products as decoding runs them. Other
// implementations (OpenBLAS, with -tags openblas) register themselves in
// sgemmImpls so they run beside this one as sub-benchmarks.

package gemm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

type benchShape struct {
	transA, transB bool
	m, n, k        int
}

func (s benchShape) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_%dx%dx%d", t(s.transA), t(s.transB), s.m, s.n, s.k)
}

var benchShapes = []benchShape{
	{false, false, 1024, 1024, 1024},
	{false, false, 4096, 256, 256},  // tokens × d_model × d_model
	{false, false, 4096, 1024, 256}, // up-projection d_model 256 → 1024
	{false, false, 4096, 256, 1024}, // down-projection 1024 → 256
	{true, false, 256, 256, 4096},   // weight gradient Xᵀ·dY
	{true, false, 256, 1024, 4096},  // weight gradient of the up-projection
	{false, true, 4096, 256, 1024},  // input gradient dY·Wᵀ
	{false, true, 1, 8192, 2048},    // one decoded token through a Linear (weights stored [out, in])
	{false, true, 1, 51200, 2048},   // ... through Phi-1.5's LM head
}

type sgemmImpl struct {
	name string
	// setup is called before timing with the thread count to use.
	setup func(threads int)
	f     func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
}

var sgemmImpls = []sgemmImpl{
	{name: "mohawk", setup: SetThreads, f: SGEMM},
}

func randSlice32(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// BenchmarkSGEMM runs every registered implementation on each shape with the
// same thread count: Threads() (GOMAXPROCS), or $GEMM_BENCH_THREADS if set.
func BenchmarkSGEMM(b *testing.B) {
	threads := Threads()
	defer SetThreads(threads)
	if v, err := strconv.Atoi(os.Getenv("GEMM_BENCH_THREADS")); err == nil && v > 0 {
		threads = v
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, s := range benchShapes {
		a := randSlice32(rng, s.m*s.k)
		bb := randSlice32(rng, s.k*s.n)
		c := make([]float32, s.m*s.n)
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		for _, impl := range sgemmImpls {
			b.Run(s.String()+"/"+impl.name, func(b *testing.B) {
				impl.setup(threads)
				impl.f(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					impl.f(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkSGEMMSerial measures the single-goroutine path.
func BenchmarkSGEMMSerial(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, s := range benchShapes[:2] {
		a := randSlice32(rng, s.m*s.k)
		bb := randSlice32(rng, s.k*s.n)
		c := make([]float32, s.m*s.n)
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		b.Run(s.String(), func(b *testing.B) {
			SGEMMSerial(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				SGEMMSerial(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkDGEMM measures the float64 path on the square shape.
func BenchmarkDGEMM(b *testing.B) {
	const m, n, k = 1024, 1024, 1024
	rng := rand.New(rand.NewPCG(9, 10))
	a := make([]float64, m*k)
	bb := make([]float64, k*n)
	for i := range a {
		a[i] = rng.Float64()
		bb[i] = rng.Float64()
	}
	c := make([]float64, m*n)
	DGEMM(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		DGEMM(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
	}
	b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkKernel measures the float32 micro-kernel alone with its operands
// in L1: the ceiling for the whole GEMM.
func BenchmarkKernel(b *testing.B) {
	const kc = 256
	a := make([]float32, kc*mr)
	bb := make([]float32, kc*sParams.nr)
	c := make([]float32, mr*sParams.nr)
	for b.Loop() {
		sParams.kernel(kc, a, bb, c, sParams.nr, 1, 0)
	}
	b.ReportMetric(2*mr*float64(sParams.nr)*kc*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
