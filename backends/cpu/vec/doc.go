// Package vec provides vectorised float32 elementwise and row kernels for the
// CPU backend: Exp, Sigmoid, Tanh, Softplus, Log, Add/Sub/Mul/Div, AddScalar,
// MulScalar, Axpy, Sum, Max, Dot, SoftmaxRow and LogSumExp.
//
// # Contract
//
// Every kernel is single-threaded and allocation-free; callers split rows or
// ranges across cores. For functions with a dst, n = len(dst) and each source
// must hold at least n elements (a shorter one panics); for Dot n = len(a).
// dst may be exactly one of the sources (in-place use), but must not overlap
// a source at a different offset. Empty inputs are no-ops (Sum and Dot return
// 0, Max and LogSumExp -Inf).
//
// # Implementations
//
// On amd64 the kernels are Go assembly using AVX2 and FMA (vec_amd64.s),
// chosen at start-up when golang.org/x/sys/cpu reports both features
// (cpu.X86.HasAVX2 && cpu.X86.HasFMA). Everywhere else, on CPUs without
// them, or when built with the purego tag, portable Go code is used
// (vec_generic.go). The choice lives in the package variable useAVX2, which
// the tests flip to run every test on both paths.
//
// The assembly processes 8 float32 lanes per YMM register:
//
//   - Add, Sub, Mul, Div, AddScalar, MulScalar, Axpy, Sum, Max and Dot unroll
//     4 registers (32 elements) per iteration, then single registers, then
//     a scalar tail. Sum and Dot keep 32 independent partial sums; Max tracks
//     NaNs separately so a NaN anywhere yields NaN.
//   - Exp, Sigmoid, Tanh, Softplus and Log (and the exp passes of
//     SoftmaxRow and LogSumExp) run two registers (16 elements) per
//     iteration as two independent dependency chains, then one register,
//     and handle the last n%8 elements with a masked load/store
//     (VMASKMOVPS), so tail elements get bit-identical results and nothing
//     past n is touched.
//
// Exp: x is clamped to [-104, 88.8] (NaN passes through the clamp), then
// x = k*ln2 + r with k = round(x*log2(e)), r computed with a two-constant
// Cody-Waite split of ln2 (C1 = 0.693359375 has 9 significant bits, so
// k*C1 is exact, and the FMA applies C2 with one rounding), |r| <= ln2/2.
// e^r = 1 + r + r^2*P(r) with the Cephes expf minimax polynomial (P of
// degree 5, so degree 7 overall). 2^k is built in the exponent bits as
// 2^(k>>1) * 2^(k-(k>>1)) so that every k in [-150, 128] works without a
// special case: results above ln(MaxFloat32) overflow to +Inf, results below
// ln(smallest normal) round gradually into the subnormal range and to 0.
// Measured over all 2^32 float32 inputs: at most 1 ulp from the correctly
// rounded result (largest error 1.01 ulp of the exact value).
//
// Sigmoid uses e = Exp(-|x|), which never overflows: 1/(1+e) for x >= 0,
// e/(1+e) for x < 0. Tanh uses the Cephes odd polynomial for |x| < 0.625
// and sign(x)*(1-e)/(1+e), e = Exp(-2|x|), above. Softplus is
// max(x,0) + log1p(Exp(-|x|)) where log1p of t in [0,1] reuses the log
// polynomial on f = t (or (t-1)/2 with one ln2 added), so tiny t keeps full
// relative accuracy. Log splits x = m*2^k with m in [sqrt(1/2), sqrt(2)),
// evaluates the Cephes logf polynomial on m-1 and patches 0, negatives, +Inf
// and NaN; subnormal inputs are pre-scaled by 2^23.
//
// SoftmaxRow is three passes: Max, a fused exp(x-max) + store + sum kernel,
// and MulScalar by 1/sum. LogSumExp is Max plus a fused sum of exp(x-max)
// and one float64 log. Sum, Dot and the softmax/logsumexp sums run the
// kernel on blocks of at most 2048 elements and add block results pairwise,
// so the rounding error grows with log(n) beyond one block.
//
// Accuracy of the AVX2 path over every float32 input, as the distance from
// the correctly rounded result (and the largest error against the exact
// value), from TestUnaryExhaustive with -exhaustive:
//
//	Exp       ≤ 1 ulp  (1.01 ulp)
//	Log       ≤ 1 ulp  (0.83 ulp)
//	Sigmoid   ≤ 2 ulp  (2.40 ulp)
//	Tanh      ≤ 2 ulp  (1.51 ulp; ≤ 1.2e-7 absolute)
//	Softplus  ≤ 2 ulp  (1.67 ulp)
//
// The portable path computes these in float64 and rounds once (0 ulp
// distance in the sampled test). Elementwise arithmetic is exact IEEE
// single precision on both paths. SoftmaxRow and LogSumExp round x-max to
// float32 before the exp, which adds a relative error of up to
// |x-max|*2^-24 to each term on the AVX2 path.
package vec
