// Tests of package vec against float64 references. Every test runs once on
// the AVX2 kernels (when the CPU has them) and once on the portable Go code,
// by toggling useAVX2. Tolerances are stated next to each check.

package vec

import (
	"flag"
	"math"
	"math/bits"
	"math/rand"
	"runtime"
	"sync"
	"testing"
)

var exhaustive = flag.Bool("exhaustive", false, "check the unary kernels on every float32 input (takes minutes)")

// lengths exercise the empty case, the scalar/masked tails, the 8- and
// 32-element loops, and (4099, 10007) more than one reduction block.
var lengths = []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 4099, 10007}

// forEachImpl runs f as a subtest for each implementation available here.
func forEachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := useAVX2
	defer func() { useAVX2 = saved }()
	if haveAVX2 {
		useAVX2 = true
		t.Run("avx2", f)
	} else {
		t.Log("AVX2/FMA not available: testing the generic path only")
	}
	useAVX2 = false
	t.Run("generic", f)
}

var (
	inf    = float32(math.Inf(1))
	nan    = float32(math.NaN())
	maxF32 = float32(math.MaxFloat32)
	minSub = math.Float32frombits(1)          // smallest subnormal
	minNrm = math.Float32frombits(0x00800000) // smallest normal
)

// ord maps a float32 onto a signed integer line on which adjacent floats
// differ by 1 (±0 both map to 0), so the ulp distance is |ord(a)-ord(b)|.
func ord(f float32) int64 {
	b := math.Float32bits(f)
	if b&0x80000000 != 0 {
		return -int64(b & 0x7fffffff)
	}
	return int64(b)
}

// ulpDist is the distance in float32 ulps between got and the float32
// rounding of want (NaN vs NaN is 0, NaN vs number is huge).
func ulpDist(got float32, want float64) int64 {
	w := float32(want)
	if got != got || w != w {
		if got != got && w != w {
			return 0
		}
		return math.MaxInt64
	}
	d := ord(got) - ord(w)
	if d < 0 {
		d = -d
	}
	return d
}

// ulpErr is |got-want| in units of the float32 spacing at want (finite want).
func ulpErr(got float32, want float64) float64 {
	w := float32(want)
	if math.IsInf(float64(w), 0) || got != got {
		return 0
	}
	a := math.Abs(float64(w))
	var ulp float64
	if a < float64(minNrm) {
		ulp = float64(minSub)
	} else {
		e := math.Float32bits(float32(a)) >> 23
		ulp = math.Ldexp(1, int(e)-127-23)
	}
	return math.Abs(float64(got)-want) / ulp
}

type unaryFunc struct {
	name string
	f    func(dst, x []float32)
	ref  func(float64) float64
	// maxULP is the allowed distance from the correctly rounded result, on
	// both paths. maxAbs, if non-zero, additionally bounds |got-want|.
	maxULP int64
	maxAbs float64
	gen    func(r *rand.Rand) float32
}

func sigmoidRef(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
func softplusRef(x float64) float64 {
	return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

func uniform(r *rand.Rand, lo, hi float64) float32 { return float32(lo + (hi-lo)*r.Float64()) }

// anyFloat draws a float32 from random bits (all exponents equally likely).
func anyFloat(r *rand.Rand) float32 { return math.Float32frombits(r.Uint32()) }

// The tolerances below hold for every float32 input (TestUnaryExhaustive
// checks them on all 2^32 inputs; TestUnarySampled on a 1-in-4099 grid).
var unaryFuncs = []unaryFunc{
	// Exp: ≤ 1 ulp everywhere, including the subnormal range and the
	// overflow boundary.
	{"Exp", Exp, math.Exp, 1, 0, func(r *rand.Rand) float32 {
		if r.Intn(2) == 0 {
			return uniform(r, -110, 95)
		}
		return uniform(r, -5, 5)
	}},
	// Sigmoid: ≤ 2 ulp (e^-|x|, one add, one divide).
	{"Sigmoid", Sigmoid, sigmoidRef, 2, 0, func(r *rand.Rand) float32 {
		if r.Intn(2) == 0 {
			return uniform(r, -120, 120)
		}
		return uniform(r, -10, 10)
	}},
	// Tanh: ≤ 2 ulp, hence also ≤ 1.2e-7 absolute (spec: ~1e-6).
	{"Tanh", Tanh, math.Tanh, 2, 1.2e-7, func(r *rand.Rand) float32 {
		switch r.Intn(3) {
		case 0:
			return uniform(r, -20, 20)
		case 1:
			return uniform(r, -1, 1)
		}
		return anyFloat(r)
	}},
	// Softplus: ≤ 2 ulp.
	{"Softplus", Softplus, softplusRef, 2, 0, func(r *rand.Rand) float32 {
		if r.Intn(2) == 0 {
			return uniform(r, -120, 120)
		}
		return uniform(r, -20, 20)
	}},
	// Log: ≤ 1 ulp.
	{"Log", Log, math.Log, 1, 0, func(r *rand.Rand) float32 {
		switch r.Intn(3) {
		case 0:
			return uniform(r, 0, 3)
		case 1:
			return uniform(r, 0.9, 1.1)
		}
		return anyFloat(r) // half of these are negative: NaN expected
	}},
}

var unarySpecials = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 0.625, -0.625,
	inf, -inf, nan, maxF32, -maxF32, minSub, -minSub, minNrm, -minNrm,
	1e-30, -1e-30, 1e30, -1e30, 88.72283, 88.72284, 88.8, 89, -87.33654,
	-87.3, -103.97, -103.98, -104, -105, 0.41421357, 0.70710677, 1.4142135,
}

// fillInput draws n inputs, with the special values spread over the slice.
func fillInput(r *rand.Rand, n int, gen func(*rand.Rand) float32, specials []float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = gen(r)
	}
	for i := 0; i < n && i < len(specials)*3; i += 1 + r.Intn(3) {
		x[r.Intn(n)] = specials[r.Intn(len(specials))]
	}
	return x
}

func checkUnary(t *testing.T, u unaryFunc, x, got []float32) {
	t.Helper()
	fails := 0
	for i, v := range x {
		want := u.ref(float64(v))
		d := ulpDist(got[i], want)
		bad := d > u.maxULP
		if u.maxAbs != 0 && !math.IsNaN(want) && !math.IsInf(want, 0) && math.Abs(float64(got[i])-want) > u.maxAbs {
			bad = true
		}
		if bad {
			t.Errorf("%s(%v) [i=%d] = %v, want %v (%d ulp)", u.name, v, i, got[i], float32(want), d)
			if fails++; fails > 10 {
				t.FailNow()
			}
		}
	}
}

const sentinel = float32(-12345.678)

func TestUnary(t *testing.T) {
	for _, u := range unaryFuncs {
		t.Run(u.name, func(t *testing.T) {
			forEachImpl(t, func(t *testing.T) {
				r := rand.New(rand.NewSource(1))
				for _, n := range lengths {
					// The source is longer than dst; dst is followed by
					// sentinels that must survive.
					x := fillInput(r, n+5, u.gen, unarySpecials)
					buf := make([]float32, n+9)
					for i := range buf {
						buf[i] = sentinel
					}
					dst := buf[:n]
					u.f(dst, x)
					checkUnary(t, u, x[:n], dst)
					for i := n; i < len(buf); i++ {
						if buf[i] != sentinel {
							t.Fatalf("n=%d: wrote past dst at %d", n, i)
						}
					}
					// In place: identical bits to the out-of-place call.
					y := append([]float32(nil), x[:n]...)
					u.f(y, y)
					for i := range y {
						if math.Float32bits(y[i]) != math.Float32bits(dst[i]) && !(y[i] != y[i] && dst[i] != dst[i]) {
							t.Fatalf("n=%d: in-place result differs at %d: %v vs %v", n, i, y[i], dst[i])
						}
					}
				}
			})
		})
	}
}

// unaryScan checks u on the float32 bit patterns 0, stride, 2*stride, ...
// in parallel and returns the largest ulp distance and fractional ulp error.
func unaryScan(t *testing.T, u unaryFunc, stride uint64) (maxDist int64, maxErr float64, worst, worstErr float32) {
	const chunk = 1 << 14
	workers := runtime.GOMAXPROCS(0)
	total := (uint64(1)<<32 + stride - 1) / stride
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			x := make([]float32, chunk)
			y := make([]float32, chunk)
			var md int64
			var me float64
			var wv, we float32
			for start := uint64(w) * chunk; start < total; start += uint64(workers) * chunk {
				n := uint64(chunk)
				if start+n > total {
					n = total - start
				}
				for i := uint64(0); i < n; i++ {
					x[i] = math.Float32frombits(uint32((start + i) * stride))
				}
				u.f(y[:n], x[:n])
				for i := uint64(0); i < n; i++ {
					want := u.ref(float64(x[i]))
					d := ulpDist(y[i], want)
					if d > md {
						md, wv = d, x[i]
					}
					if e := ulpErr(y[i], want); e > me {
						me, we = e, x[i]
					}
					if u.maxAbs != 0 && !math.IsNaN(want) && !math.IsInf(want, 0) && math.Abs(float64(y[i])-want) > u.maxAbs {
						md, wv = math.MaxInt64, x[i]
					}
				}
			}
			mu.Lock()
			if md > maxDist {
				maxDist, worst = md, wv
			}
			if me > maxErr {
				maxErr, worstErr = me, we
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	return maxDist, maxErr, worst, worstErr
}

func TestUnarySampled(t *testing.T) {
	stride := uint64(4099)
	if testing.Short() {
		stride = 65537
	}
	for _, u := range unaryFuncs {
		t.Run(u.name, func(t *testing.T) {
			forEachImpl(t, func(t *testing.T) {
				d, e, w, we := unaryScan(t, u, stride)
				t.Logf("max %d ulp distance (at x=%v), max error %.3f ulp (at x=%v)", d, w, e, we)
				if d > u.maxULP {
					t.Errorf("%s: %d ulp at %v, want ≤ %d", u.name, d, w, u.maxULP)
				}
			})
		})
	}
}

// TestUnaryExhaustive checks every float32 input; run with
//
//	go test ./backends/cpu/vec -run UnaryExhaustive -v -timeout 60m -args -exhaustive
func TestUnaryExhaustive(t *testing.T) {
	if !*exhaustive {
		t.Skip("needs -exhaustive")
	}
	for _, u := range unaryFuncs {
		t.Run(u.name, func(t *testing.T) {
			forEachImpl(t, func(t *testing.T) {
				d, e, w, we := unaryScan(t, u, 1)
				t.Logf("max %d ulp distance (at x=%v), max error %.3f ulp (at x=%v)", d, w, e, we)
				if d > u.maxULP {
					t.Errorf("%s: %d ulp at %v, want ≤ %d", u.name, d, w, u.maxULP)
				}
			})
		})
	}
}

func TestExpSaturation(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		x := []float32{88.72284, 88.8, 89, 100, 1e10, inf, -103.98, -104, -110, -1e10, -inf, nan}
		want := []float32{inf, inf, inf, inf, inf, inf, 0, 0, 0, 0, 0, nan}
		got := make([]float32, len(x))
		Exp(got, x)
		for i := range x {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Errorf("Exp(%v) = %v, want %v", x[i], got[i], want[i])
			}
		}
		// Largest finite result and a subnormal one.
		in := []float32{88.72283, -100}
		Exp(got[:2], in)
		for i, v := range in {
			if w := float32(math.Exp(float64(v))); got[i] != w {
				t.Errorf("Exp(%v) = %v, want %v", v, got[i], w)
			}
		}
	})
}

type binaryFunc struct {
	name string
	f    func(dst, a, b []float32)
	ref  func(a, b float32) float32 // exact float32 arithmetic
}

var binaryFuncs = []binaryFunc{
	{"Add", Add, func(a, b float32) float32 { return a + b }},
	{"Sub", Sub, func(a, b float32) float32 { return a - b }},
	{"Mul", Mul, func(a, b float32) float32 { return a * b }},
	{"Div", Div, func(a, b float32) float32 { return a / b }},
}

var arithSpecials = []float32{0, float32(math.Copysign(0, -1)), inf, -inf, nan, maxF32, -maxF32, minSub, 1e30, -1e-30}

func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// Elementwise arithmetic is IEEE single precision on both paths, so results
// must be bit-identical to Go's float32 operators (tolerance 0).
func TestBinary(t *testing.T) {
	gen := func(r *rand.Rand) float32 { return uniform(r, -100, 100) }
	for _, bf := range binaryFuncs {
		t.Run(bf.name, func(t *testing.T) {
			forEachImpl(t, func(t *testing.T) {
				r := rand.New(rand.NewSource(2))
				for _, n := range lengths {
					a := fillInput(r, n+3, gen, arithSpecials)
					b := fillInput(r, n+4, gen, arithSpecials)
					buf := make([]float32, n+9)
					for i := range buf {
						buf[i] = sentinel
					}
					dst := buf[:n]
					bf.f(dst, a, b)
					for i := 0; i < n; i++ {
						if w := bf.ref(a[i], b[i]); !sameBits(dst[i], w) {
							t.Fatalf("n=%d: %s(%v, %v) = %v, want %v", n, bf.name, a[i], b[i], dst[i], w)
						}
					}
					for i := n; i < len(buf); i++ {
						if buf[i] != sentinel {
							t.Fatalf("n=%d: wrote past dst at %d", n, i)
						}
					}
					// dst aliasing a, then b.
					a2 := append([]float32(nil), a[:n]...)
					bf.f(a2, a2, b)
					b2 := append([]float32(nil), b[:n]...)
					bf.f(b2, a, b2)
					for i := 0; i < n; i++ {
						if !sameBits(a2[i], dst[i]) || !sameBits(b2[i], dst[i]) {
							t.Fatalf("n=%d: in-place result differs at %d", n, i)
						}
					}
				}
			})
		})
	}
}

func TestScalarOps(t *testing.T) {
	gen := func(r *rand.Rand) float32 { return uniform(r, -100, 100) }
	ops := []struct {
		name string
		f    func(dst, a []float32, s float32)
		ref  func(a, s float32) float32
	}{
		{"AddScalar", AddScalar, func(a, s float32) float32 { return a + s }},
		{"MulScalar", MulScalar, func(a, s float32) float32 { return a * s }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			forEachImpl(t, func(t *testing.T) {
				r := rand.New(rand.NewSource(3))
				for _, n := range lengths {
					for _, s := range []float32{0, -1.5, 3.25, inf, nan} {
						a := fillInput(r, n+2, gen, arithSpecials)
						dst := make([]float32, n)
						op.f(dst, a, s)
						for i := range dst {
							if w := op.ref(a[i], s); !sameBits(dst[i], w) {
								t.Fatalf("n=%d: %s(%v, %v) = %v, want %v", n, op.name, a[i], s, dst[i], w)
							}
						}
						op.f(a[:n], a, s) // in place
						for i := range dst {
							if !sameBits(a[i], dst[i]) {
								t.Fatalf("n=%d: in-place result differs at %d", n, i)
							}
						}
					}
				}
			})
		})
	}
}

// Axpy: the AVX2 path rounds once (FMA), the Go path up to twice, so the
// tolerance is 2^-23 * (|dst| + |alpha*x|).
func TestAxpy(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(4))
		for _, n := range lengths {
			for _, alpha := range []float32{0, 1, -0.37, 12.5} {
				d := fillInput(r, n, func(r *rand.Rand) float32 { return uniform(r, -10, 10) }, nil)
				x := fillInput(r, n+3, func(r *rand.Rand) float32 { return uniform(r, -10, 10) }, nil)
				orig := append([]float32(nil), d...)
				Axpy(d, alpha, x)
				for i := range d {
					p := float64(alpha) * float64(x[i])
					want := float64(orig[i]) + p
					tol := 0x1p-23 * (math.Abs(float64(orig[i])) + math.Abs(p))
					if math.Abs(float64(d[i])-want) > tol {
						t.Fatalf("n=%d alpha=%v: Axpy[%d] = %v, want %v", n, alpha, i, d[i], want)
					}
				}
			}
			// Specials propagate.
			if n > 0 {
				d := make([]float32, n)
				x := make([]float32, n)
				x[n-1] = nan
				Axpy(d, 1, x)
				if d[n-1] == d[n-1] {
					t.Fatalf("n=%d: NaN did not propagate", n)
				}
			}
		}
		// dst aliasing x: dst += alpha*dst.
		x := fillInput(r, 100, func(r *rand.Rand) float32 { return uniform(r, -10, 10) }, nil)
		want := make([]float32, len(x))
		for i, v := range x {
			want[i] = float32(float64(v) * 3)
		}
		Axpy(x, 2, x)
		for i := range x {
			if x[i] != want[i] {
				t.Fatalf("aliased Axpy[%d] = %v, want %v", i, x[i], want[i])
			}
		}
	})
}

// reductionTol returns a bound on the rounding error of a float32 reduction
// of n terms as done by the kernels: each lane adds at most blockLen/32
// terms, lanes and blocks are then combined in a tree, so the relative error
// (w.r.t. sum |terms|) is at most (terms per lane + tree depth + 2) * 2^-24.
func reductionTol(n int) float64 {
	perLane := min(n, blockLen)/32 + 1
	return float64(perLane+bits.Len(uint(n))+8) * 0x1p-24
}

func TestSum(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(5))
		for _, n := range append(lengths, 1<<17+13) {
			x := fillInput(r, n, func(r *rand.Rand) float32 { return uniform(r, -1, 3) }, nil)
			var want, abs float64
			for _, v := range x {
				want += float64(v)
				abs += math.Abs(float64(v))
			}
			got := Sum(x)
			if math.Abs(float64(got)-want) > reductionTol(n)*abs {
				t.Errorf("n=%d: Sum = %v, want %v (err %.3g, tol %.3g)", n, got, want, math.Abs(float64(got)-want), reductionTol(n)*abs)
			}
			if n > 0 {
				x[r.Intn(n)] = nan
				if s := Sum(x); s == s {
					t.Errorf("n=%d: Sum with NaN = %v", n, s)
				}
				x[r.Intn(n)] = inf
			}
		}
		if s := Sum([]float32{inf, 1, 2}); s != inf {
			t.Errorf("Sum(+Inf,1,2) = %v", s)
		}
	})
}

func TestDot(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(6))
		for _, n := range append(lengths, 1<<17+13) {
			a := fillInput(r, n, func(r *rand.Rand) float32 { return uniform(r, -2, 2) }, nil)
			b := fillInput(r, n+5, func(r *rand.Rand) float32 { return uniform(r, -2, 2) }, nil)
			var want, abs float64
			for i := range a {
				p := float64(a[i]) * float64(b[i])
				want += p
				abs += math.Abs(p)
			}
			got := Dot(a, b)
			if math.Abs(float64(got)-want) > reductionTol(n)*abs {
				t.Errorf("n=%d: Dot = %v, want %v", n, got, want)
			}
			if n > 0 {
				if got := Dot(a, a); got < 0 {
					t.Errorf("n=%d: Dot(a,a) = %v < 0", n, got)
				}
				a[n-1] = nan
				if d := Dot(a, b); d == d {
					t.Errorf("n=%d: Dot with NaN = %v", n, d)
				}
			}
		}
	})
}

// Max is exact: the result must equal the float64 reference.
func TestMax(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		if m := Max(nil); !math.IsInf(float64(m), -1) {
			t.Errorf("Max(empty) = %v, want -Inf", m)
		}
		r := rand.New(rand.NewSource(7))
		for _, n := range lengths[1:] {
			x := fillInput(r, n, func(r *rand.Rand) float32 { return uniform(r, -1000, 1000) }, nil)
			want := float32(math.Inf(-1))
			for _, v := range x {
				want = max(want, v)
			}
			if got := Max(x); got != want {
				t.Errorf("n=%d: Max = %v, want %v", n, got, want)
			}
			// Maximum at each end, all -Inf, NaN at every position class.
			x[0] = 2000
			if got := Max(x); got != 2000 {
				t.Errorf("n=%d: Max (first) = %v", n, got)
			}
			x[n-1] = 3000
			if got := Max(x); got != 3000 {
				t.Errorf("n=%d: Max (last) = %v", n, got)
			}
			for _, pos := range []int{0, n / 2, n - 1} {
				y := append([]float32(nil), x...)
				y[pos] = nan
				if got := Max(y); got == got {
					t.Errorf("n=%d: Max with NaN at %d = %v, want NaN", n, pos, got)
				}
			}
			for i := range x {
				x[i] = -inf
			}
			if got := Max(x); got != -inf {
				t.Errorf("n=%d: Max(all -Inf) = %v", n, got)
			}
			x[n/2] = inf
			if got := Max(x); got != inf {
				t.Errorf("n=%d: Max with +Inf = %v", n, got)
			}
		}
	})
}

func softmaxRef(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	out := make([]float64, len(x))
	var s float64
	for i, v := range x {
		out[i] = math.Exp(float64(v) - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// SoftmaxRow: each output has relative error at most
// 4*2^-24 + reductionTol(n) (exp error, 1/sum, scale, sum rounding) plus
// |x[i]-max|*2^-24 on the AVX2 path, where x[i]-max is rounded to float32
// before the exp, plus 1e-38 absolute; masked (-Inf) entries are exactly 0.
func TestSoftmaxRow(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(8))
		for _, n := range append(lengths, 70001) {
			x := fillInput(r, n+3, func(r *rand.Rand) float32 { return uniform(r, -30, 30) }, nil)
			for i := 0; i < n; i += 3 {
				if i%7 == 1 {
					x[i] = -inf // causal-mask style entries
				}
			}
			want := softmaxRef(x[:n])
			dst := make([]float32, n)
			SoftmaxRow(dst, x)
			tol := 4*0x1p-24 + reductionTol(n)
			m := Max(x[:n])
			var total float64
			for i := range dst {
				total += float64(dst[i])
				d := math.Abs(float64(x[i]) - float64(m))
				if math.Abs(float64(dst[i])-want[i]) > (tol+d*0x1p-24)*want[i]+1e-38 {
					t.Fatalf("n=%d: softmax[%d] = %v, want %v", n, i, dst[i], want[i])
				}
				if x[i] == -inf && dst[i] != 0 {
					t.Fatalf("n=%d: masked entry %d = %v", n, i, dst[i])
				}
			}
			if n > 0 && math.Abs(total-1) > tol*2 {
				t.Errorf("n=%d: softmax sums to %v", n, total)
			}
			y := append([]float32(nil), x[:n]...)
			SoftmaxRow(y, y)
			for i := range y {
				if y[i] != dst[i] {
					t.Fatalf("n=%d: in-place softmax differs at %d", n, i)
				}
			}
		}
		// Large values do not overflow.
		x := []float32{1000, 999, -1000, 1000}
		dst := make([]float32, 4)
		SoftmaxRow(dst, x)
		for i, w := range softmaxRef(x) {
			if math.Abs(float64(dst[i])-w) > 1e-6 {
				t.Errorf("softmax large %v, want %v", dst, softmaxRef(x))
				break
			}
		}
		// A NaN anywhere, or an all -Inf row, gives NaN.
		for _, row := range [][]float32{{1, nan, 2}, {-inf, -inf}} {
			dst := make([]float32, len(row))
			SoftmaxRow(dst, row)
			for _, v := range dst {
				if v == v {
					t.Errorf("SoftmaxRow(%v) = %v, want NaN", row, dst)
					break
				}
			}
		}
		SoftmaxRow(nil, nil) // no-op
	})
}

// LogSumExp: absolute error ≤ 2^-23*|lse| + reductionTol(n) (the relative
// error of the sum becomes an absolute error after the log).
func TestLogSumExp(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(9))
		for _, n := range append(lengths[1:], 70001) {
			x := fillInput(r, n, func(r *rand.Rand) float32 { return uniform(r, -50, 50) }, nil)
			if n > 2 {
				x[1] = -inf
			}
			m := math.Inf(-1)
			for _, v := range x {
				m = math.Max(m, float64(v))
			}
			var s float64
			for _, v := range x {
				s += math.Exp(float64(v) - m)
			}
			want := m + math.Log(s)
			got := LogSumExp(x)
			if math.Abs(float64(got)-want) > 0x1p-23*math.Abs(want)+reductionTol(n) {
				t.Errorf("n=%d: LogSumExp = %v, want %v", n, got, want)
			}
		}
		cases := []struct {
			x    []float32
			want float32
		}{
			{nil, -inf},
			{[]float32{-inf, -inf}, -inf},
			{[]float32{1, inf}, inf},
			{[]float32{1, nan, 3}, nan},
			{[]float32{0}, 0},
			{[]float32{1e30, 1e30}, 1e30},
			{[]float32{-1e30, 0}, 0},
		}
		for _, c := range cases {
			if got := LogSumExp(c.x); !sameBits(got, c.want) {
				t.Errorf("LogSumExp(%v) = %v, want %v", c.x, got, c.want)
			}
		}
	})
}

func TestShortSourcePanics(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		dst := make([]float32, 10)
		short := make([]float32, 9, 20) // capacity is not length
		calls := map[string]func(){
			"Exp":        func() { Exp(dst, short) },
			"Add":        func() { Add(dst, dst, short) },
			"AddScalar":  func() { AddScalar(dst, short, 1) },
			"Axpy":       func() { Axpy(dst, 1, short) },
			"Dot":        func() { Dot(dst, short) },
			"SoftmaxRow": func() { SoftmaxRow(dst, short) },
		}
		for name, f := range calls {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s with a short source did not panic", name)
					}
				}()
				f()
			}()
		}
	})
}

func TestNoAllocs(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		const n = 10007
		a := make([]float32, n)
		b := make([]float32, n)
		dst := make([]float32, n)
		for i := range a {
			a[i] = float32(i%13) * 0.25
			b[i] = 1 + float32(i%7)
		}
		var sink float32
		allocs := testing.AllocsPerRun(5, func() {
			Exp(dst, a)
			Sigmoid(dst, a)
			Tanh(dst, a)
			Softplus(dst, a)
			Log(dst, b)
			Add(dst, a, b)
			Sub(dst, a, b)
			Mul(dst, a, b)
			Div(dst, a, b)
			AddScalar(dst, a, 1)
			MulScalar(dst, a, 2)
			Axpy(dst, 0.5, a)
			sink += Sum(a) + Max(a) + Dot(a, b) + LogSumExp(a)
			SoftmaxRow(dst, a)
		})
		if allocs != 0 {
			t.Errorf("%v allocations per run, want 0", allocs)
		}
		_ = sink
	})
}
