// Correctness tests: SGEMM/DGEMM (parallel and serial, assembly and portable
// kernels) against a naive float64 reference over many shapes, transposes,
// alpha/beta values and padded leading dimensions; argument checks; and
// allocation counts.

package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Tolerances: |c - ref| ≤ tol·(1 + |beta·c0| + Σ_p |alpha·a_ip·b_pj|).
// The float32 bound is about 60 float32 ulps of the absolute-value sum,
// which covers the k·eps worst case for the k used here with random signs.
const (
	tol32 = 1e-5
	tol64 = 1e-12
)

type shape struct{ m, n, k int }

func testShapes(rng *rand.Rand) []shape {
	var s []shape
	for _, d := range []int{1, 2, 3, 5, 6, 7, 13, 16, 17, 31, 48, 70} {
		s = append(s, shape{d, d, d})
	}
	random := 60
	if testing.Short() || raceEnabled {
		random = 12
	}
	for i := 0; i < random; i++ {
		s = append(s, shape{1 + rng.IntN(70), 1 + rng.IntN(70), 1 + rng.IntN(70)})
	}
	s = append(s, shape{1, 70, 33}, shape{70, 1, 33}, shape{33, 65, 1})
	if testing.Short() || raceEnabled {
		// Still large enough for the parallel paths (several row blocks).
		// {40, 200, 300} has too few rows and is split along N.
		return append(s, shape{130, 70, 140}, shape{100, 40, 300}, shape{40, 200, 300})
	}
	return append(s,
		shape{257, 129, 300}, shape{300, 257, 129}, shape{129, 300, 520},
		shape{200, 40, 1100}, shape{40, 300, 200},
	)
}

// ref computes alpha*op(A)*op(B) + beta*C0 in float64 and the error scale.
func ref(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) (out, scale []float64) {
	out = make([]float64, m*n)
	scale = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				var av, bv float64
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
				abs += math.Abs(alpha * av * bv)
			}
			v := alpha * s
			if beta != 0 {
				v += beta * c[i*ldc+j]
				abs += math.Abs(beta * c[i*ldc+j])
			}
			out[i*n+j] = v
			scale[i*n+j] = 1 + abs
		}
	}
	return out, scale
}

type caseDesc struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float64
	pad            int
}

func (c caseDesc) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%g beta=%g pad=%d", c.transA, c.transB, c.m, c.n, c.k, c.alpha, c.beta, c.pad)
}

// operands builds random A, B and C (with strides padded by tc.pad) in
// float64; C is NaN-filled when beta == 0 to check it is ignored. Padding
// elements are filled with a sentinel so out-of-tile writes are caught.
func operands(rng *rand.Rand, tc caseDesc) (a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc = ac+tc.pad, bc+tc.pad, tc.n+tc.pad
	a = make([]float64, max(0, (ar-1)*lda+ac))
	b = make([]float64, max(0, (br-1)*ldb+bc))
	c = make([]float64, max(0, (tc.m-1)*ldc+tc.n))
	for i := range a {
		a[i] = rng.Float64()*2 - 1
	}
	for i := range b {
		b[i] = rng.Float64()*2 - 1
	}
	for i := range c {
		if tc.beta == 0 {
			c[i] = math.NaN()
		} else {
			c[i] = rng.Float64()*2 - 1
		}
		if i%ldc >= tc.n {
			c[i] = 12345
		}
	}
	return
}

func to32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// check compares got (stride ldc) with want (stride n) and verifies that
// padding was left untouched. It returns a description of the first error.
func check(tc caseDesc, got []float64, ldc int, want, scale []float64, tol float64) string {
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc && i*ldc+j < len(got); j++ {
			g := got[i*ldc+j]
			if j >= tc.n {
				if g != 12345 {
					return fmt.Sprintf("padding C[%d][%d] overwritten: %g", i, j, g)
				}
				continue
			}
			w := want[i*tc.n+j]
			if !(math.Abs(g-w) <= tol*scale[i*tc.n+j]) {
				return fmt.Sprintf("C[%d][%d]=%g want %g (diff %g, bound %g)", i, j, g, w, math.Abs(g-w), tol*scale[i*tc.n+j])
			}
		}
	}
	return ""
}

func allCases(rng *rand.Rand) []caseDesc {
	var cases []caseDesc
	ab := [][2]float64{{1, 0}, {1, 1}, {-0.75, 0.5}, {2, 0}}
	for si, s := range testShapes(rng) {
		for t := 0; t < 4; t++ {
			v := ab[(si+t)%len(ab)]
			cases = append(cases, caseDesc{
				transA: t&1 != 0, transB: t&2 != 0,
				m: s.m, n: s.n, k: s.k,
				alpha: v[0], beta: v[1],
				pad: []int{0, 3, 17}[(si+t)%3],
			})
		}
	}
	return cases
}

type impl32 func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
type impl64 func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)

func run32(t *testing.T, f impl32, threads int) {
	t.Helper()
	defer SetThreads(Threads())
	SetThreads(threads)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range allCases(rng) {
		a, lda, b, ldb, c, ldc := operands(rng, tc)
		a32, b32, c32 := to32(a), to32(b), to32(c)
		// The reference uses the float32-rounded inputs.
		want, scale := ref(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, to64(a32), lda, to64(b32), ldb, tc.beta, to64(c32), ldc)
		f(tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(tc.alpha), a32, lda, b32, ldb, float32(tc.beta), c32, ldc)
		if msg := check(tc, to64(c32), ldc, want, scale, tol32); msg != "" {
			t.Fatalf("%v: %s", tc, msg)
		}
	}
}

func run64(t *testing.T, f impl64, threads int) {
	t.Helper()
	defer SetThreads(Threads())
	SetThreads(threads)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range allCases(rng) {
		a, lda, b, ldb, c, ldc := operands(rng, tc)
		want, scale := ref(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
		f(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
		if msg := check(tc, c, ldc, want, scale, tol64); msg != "" {
			t.Fatalf("%v: %s", tc, msg)
		}
	}
}

// withGoKernels runs f with the portable kernels and packing selected.
func withGoKernels(f func()) {
	sk, dk := sParams.kernel, dParams.kernel
	spa, spb := sParams.packA, sParams.packB
	sParams.kernel, dParams.kernel = sKernelGo, dKernelGo
	sParams.packA, sParams.packB = packA[float32], packB[float32]
	defer func() {
		sParams.kernel, dParams.kernel = sk, dk
		sParams.packA, sParams.packB = spa, spb
	}()
	f()
}

func TestSGEMM(t *testing.T) {
	t.Logf("kernels: %s, %s", sParams.name, dParams.name)
	for _, th := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("threads=%d", th), func(t *testing.T) { run32(t, SGEMM, th) })
	}
	t.Run("serial", func(t *testing.T) { run32(t, SGEMMSerial, 2) })
}

func TestDGEMM(t *testing.T) {
	for _, th := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("threads=%d", th), func(t *testing.T) { run64(t, DGEMM, th) })
	}
	t.Run("serial", func(t *testing.T) { run64(t, DGEMMSerial, 2) })
}

func TestGoKernels(t *testing.T) {
	withGoKernels(func() {
		t.Run("SGEMM", func(t *testing.T) { run32(t, SGEMM, 2) })
		t.Run("DGEMM", func(t *testing.T) { run64(t, DGEMM, 2) })
	})
}

// TestParallelModes runs every parallel scheme on every shape (also the
// small ones, which normally stay serial).
func TestParallelModes(t *testing.T) {
	defer func(f float64) { minParallelFlops, forceMode = f, -1 }(minParallelFlops)
	minParallelFlops = 0
	for _, mode := range []splitMode{modeShared, modeSplitM, modeSplitN, modeSplitK} {
		forceMode = int(mode)
		for _, th := range []int{2, 3} {
			t.Run(fmt.Sprintf("mode=%d/threads=%d", mode, th), func(t *testing.T) {
				run32(t, SGEMM, th)
				run64(t, DGEMM, th)
			})
		}
	}
}

// TestSmallBlocks forces tiny cache blocks so every blocking loop (several
// jc, pc and ic blocks, uneven remainders) is exercised.
func TestSmallBlocks(t *testing.T) {
	s, d := sParams.mc, sParams.kc
	sn, dmc, dkc, dnc := sParams.nc, dParams.mc, dParams.kc, dParams.nc
	sParams.mc, sParams.kc, sParams.nc = 12, 7, 32
	dParams.mc, dParams.kc, dParams.nc = 12, 5, 16
	defer func() {
		sParams.mc, sParams.kc, sParams.nc = s, d, sn
		dParams.mc, dParams.kc, dParams.nc = dmc, dkc, dnc
	}()
	run32(t, SGEMM, 2)
	run64(t, DGEMM, 2)
}

func TestKZeroAndAlphaZero(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	SGEMM(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
	if fmt.Sprint(c) != "[0.5 1 1.5 2]" {
		t.Fatalf("k=0 beta=0.5: %v", c)
	}
	c = []float32{float32(math.NaN()), 2, 3, 4}
	SGEMM(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
	if fmt.Sprint(c) != "[0 0 0 0]" {
		t.Fatalf("k=0 beta=0: %v", c)
	}
	a := []float64{1, 2, 3, 4}
	cd := []float64{math.NaN(), 1, 1, 1}
	DGEMM(false, false, 2, 2, 2, 0, a, 2, a, 2, 0, cd, 2)
	if fmt.Sprint(cd) != "[0 0 0 0]" {
		t.Fatalf("alpha=0 beta=0: %v", cd)
	}
	// Empty outputs touch nothing, whatever the other arguments.
	SGEMM(false, false, 0, 5, 3, 1, nil, 3, make([]float32, 15), 5, 0, nil, 5)
	SGEMM(true, true, 4, 0, 3, 1, make([]float32, 12), 4, nil, 3, 0, nil, 1)
}

func TestPanics(t *testing.T) {
	cases := []struct {
		name string
		want string
		f    func()
	}{
		{"short a", "len(a)=5", func() {
			SGEMM(false, false, 2, 2, 3, 1, make([]float32, 5), 3, make([]float32, 6), 2, 0, make([]float32, 4), 2)
		}},
		{"short b transB", "len(b)=5", func() {
			SGEMM(false, true, 2, 2, 3, 1, make([]float32, 6), 3, make([]float32, 5), 3, 0, make([]float32, 4), 2)
		}},
		{"short c", "len(c)=3", func() {
			DGEMM(false, false, 2, 2, 3, 1, make([]float64, 6), 3, make([]float64, 6), 2, 0, make([]float64, 3), 2)
		}},
		{"small lda", "lda=2", func() {
			DGEMMSerial(false, false, 2, 2, 3, 1, make([]float64, 6), 2, make([]float64, 6), 2, 0, make([]float64, 4), 2)
		}},
		{"negative", "negative size", func() {
			SGEMMSerial(false, false, -1, 2, 3, 1, nil, 3, nil, 2, 0, nil, 2)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Fatalf("panic %q does not mention %q", r, tc.want)
				}
			}()
			tc.f()
		})
	}
}

func TestNoAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const m, n, k = 200, 150, 300
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	c := make([]float32, m*n)
	ad := make([]float64, m*k)
	bd := make([]float64, k*n)
	cd := make([]float64, m*n)
	defer SetThreads(Threads())
	SetThreads(2)
	for name, f := range map[string]func(){
		"SGEMMSerial": func() { SGEMMSerial(false, true, m, n, k, 1, a, k, b, k, 0, c, n) },
		"SGEMM":       func() { SGEMM(true, false, m, n, k, 1, a, m, b, n, 1, c, n) },
		"DGEMMSerial": func() { DGEMMSerial(false, false, m, n, k, 1, ad, k, bd, n, 0, cd, n) },
		"DGEMM":       func() { DGEMM(false, false, m, n, k, 1, ad, k, bd, n, 0, cd, n) },
		// Shared-B scheme (many rows) and split-K scheme (deep, narrow).
		"SGEMM/shared": func() { SGEMM(false, false, 600, 50, 100, 1, a, 100, b, 50, 0, c, 50) },
		"SGEMM/splitK": func() { SGEMM(true, false, 28, 20, 2048, 1, a, 28, b, 20, 0, c, 20) },
	} {
		f()
		if got := testing.AllocsPerRun(20, f); got != 0 {
			t.Errorf("%s: %v allocs per call", name, got)
		}
	}
}

// TestConcurrentCalls runs parallel and serial calls from several
// goroutines at once (meant for -race). The parallel calls use the shared-B
// scheme with 3 goroutines each, whose parts wait for each other at
// barriers: this would deadlock if queued parts could lack a worker.
func TestConcurrentCalls(t *testing.T) {
	defer SetThreads(Threads())
	defer func(f float64) { minParallelFlops, forceMode = f, -1 }(minParallelFlops)
	minParallelFlops, forceMode = 0, int(modeShared)
	SetThreads(3)
	const m, n, k = 67, 45, 130
	rng := rand.New(rand.NewPCG(5, 6))
	tc := caseDesc{m: m, n: n, k: k, alpha: 1, beta: 0}
	a, lda, b, ldb, _, _ := operands(rng, tc)
	a32, b32 := to32(a), to32(b)
	want, scale := ref(false, false, m, n, k, 1, to64(a32), lda, to64(b32), ldb, 0, nil, n)
	const goroutines = 6
	done := make(chan string)
	for g := 0; g < goroutines; g++ {
		go func() {
			c := make([]float32, m*n)
			msg := ""
			for it := 0; it < 20 && msg == ""; it++ {
				if g%2 == 0 {
					SGEMM(false, false, m, n, k, 1, a32, lda, b32, ldb, 0, c, n)
				} else {
					SGEMMSerial(false, false, m, n, k, 1, a32, lda, b32, ldb, 0, c, n)
				}
				msg = check(tc, to64(c), n, want, scale, tol32)
			}
			done <- msg
		}()
	}
	for g := 0; g < goroutines; g++ {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}
