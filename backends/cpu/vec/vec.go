// Exported kernels of package vec: length checks, then dispatch to the AVX2
// assembly (vec_amd64.s) or the portable Go code (vec_generic.go).

package vec

import "math"

// useAVX2 selects the assembly kernels. It starts as haveAVX2 (amd64 with
// AVX2 and FMA, see vec_amd64.go); tests set it to false to run the portable
// code on the same machine.
var useAVX2 = haveAVX2

// blockLen is the number of elements one reduction kernel call accumulates
// (in 32 lanes) before partial results are combined pairwise; it bounds the
// rounding error growth of Sum, Dot, SoftmaxRow and LogSumExp on long inputs.
const blockLen = 2048

// Exp sets dst[i] = e^x[i] for i < len(dst).
//
// AVX2 path: max error 1 ulp against the correctly rounded result over the
// whole float32 range (measured exhaustively, see TestExpExhaustive); +Inf
// above ~88.7228, gradual underflow to subnormals and 0 below ~-87.34, NaN in
// gives NaN out.
func Exp(dst, x []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_ = x[n-1]
	if useAVX2 {
		expAVX2(&dst[0], &x[0], n)
		return
	}
	expGeneric(dst, x[:n])
}

// Sigmoid sets dst[i] = 1/(1+e^-x[i]). It is computed from e = e^-|x| (which
// never overflows) as 1/(1+e) or e/(1+e), so it keeps relative accuracy for
// large negative x too (down to the subnormal range).
func Sigmoid(dst, x []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_ = x[n-1]
	if useAVX2 {
		sigmoidAVX2(&dst[0], &x[0], n)
		return
	}
	sigmoidGeneric(dst, x[:n])
}

// Tanh sets dst[i] = tanh(x[i]): an odd polynomial for |x| < 0.625 (so small
// inputs keep relative accuracy and tanh(±0) = ±0), sign(x)*(1-e)/(1+e) with
// e = e^(-2|x|) otherwise.
func Tanh(dst, x []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_ = x[n-1]
	if useAVX2 {
		tanhAVX2(&dst[0], &x[0], n)
		return
	}
	tanhGeneric(dst, x[:n])
}

// Softplus sets dst[i] = log(1+e^x[i]), computed as max(x,0) + log1p(e^-|x|).
func Softplus(dst, x []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_ = x[n-1]
	if useAVX2 {
		softplusAVX2(&dst[0], &x[0], n)
		return
	}
	softplusGeneric(dst, x[:n])
}

// Log sets dst[i] = ln(x[i]), with log(±0) = -Inf, log(x<0) = NaN,
// log(+Inf) = +Inf; subnormal inputs are handled exactly.
func Log(dst, x []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_ = x[n-1]
	if useAVX2 {
		logAVX2(&dst[0], &x[0], n)
		return
	}
	logGeneric(dst, x[:n])
}

// Add sets dst[i] = a[i] + b[i].
func Add(dst, a, b []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_, _ = a[n-1], b[n-1]
	if useAVX2 {
		addAVX2(&dst[0], &a[0], &b[0], n)
		return
	}
	addGeneric(dst, a[:n], b[:n])
}

// Sub sets dst[i] = a[i] - b[i].
func Sub(dst, a, b []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_, _ = a[n-1], b[n-1]
	if useAVX2 {
		subAVX2(&dst[0], &a[0], &b[0], n)
		return
	}
	subGeneric(dst, a[:n], b[:n])
}

// Mul sets dst[i] = a[i] * b[i].
func Mul(dst, a, b []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_, _ = a[n-1], b[n-1]
	if useAVX2 {
		mulAVX2(&dst[0], &a[0], &b[0], n)
		return
	}
	mulGeneric(dst, a[:n], b[:n])
}

// Div sets dst[i] = a[i] / b[i].
func Div(dst, a, b []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_, _ = a[n-1], b[n-1]
	if useAVX2 {
		divAVX2(&dst[0], &a[0], &b[0], n)
		return
	}
	divGeneric(dst, a[:n], b[:n])
}

// AddScalar sets dst[i] = a[i] + s.
func AddScalar(dst, a []float32, s float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_ = a[n-1]
	if useAVX2 {
		addScalarAVX2(&dst[0], &a[0], s, n)
		return
	}
	addScalarGeneric(dst, a[:n], s)
}

// MulScalar sets dst[i] = a[i] * s.
func MulScalar(dst, a []float32, s float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_ = a[n-1]
	if useAVX2 {
		mulScalarAVX2(&dst[0], &a[0], s, n)
		return
	}
	mulScalarGeneric(dst, a[:n], s)
}

// Axpy sets dst[i] += alpha*x[i] for i < len(dst). The AVX2 path uses a fused
// multiply-add (one rounding).
func Axpy(dst []float32, alpha float32, x []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_ = x[n-1]
	if useAVX2 {
		axpyAVX2(&dst[0], alpha, &x[0], n)
		return
	}
	axpyGeneric(dst, alpha, x[:n])
}

// Sum returns the sum of x (0 for an empty slice). The AVX2 path keeps 32
// partial sums per block of blockLen elements and adds block results
// pairwise; the portable path accumulates in float64.
func Sum(x []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	if useAVX2 {
		return sumBlocks(x)
	}
	return sumGeneric(x)
}

func sumBlocks(x []float32) float32 {
	if len(x) <= blockLen {
		return sumAVX2(&x[0], len(x))
	}
	h := len(x) / 2 &^ 31
	return sumBlocks(x[:h]) + sumBlocks(x[h:])
}

// Max returns the largest element of x, -Inf for an empty slice and NaN if
// any element is NaN. The sign of a zero result is unspecified.
func Max(x []float32) float32 {
	if len(x) == 0 {
		return float32(math.Inf(-1))
	}
	if useAVX2 {
		return maxAVX2(&x[0], len(x))
	}
	return maxGeneric(x)
}

// Dot returns sum(a[i]*b[i]) for i < len(a); b must be at least as long as
// a. Accumulation is blocked like Sum.
func Dot(a, b []float32) float32 {
	n := len(a)
	if n == 0 {
		return 0
	}
	_ = b[n-1]
	if useAVX2 {
		return dotBlocks(a, b[:n])
	}
	return dotGeneric(a, b[:n])
}

func dotBlocks(a, b []float32) float32 {
	if len(a) <= blockLen {
		return dotAVX2(&a[0], &b[0], len(a))
	}
	h := len(a) / 2 &^ 31
	return dotBlocks(a[:h], b[:h]) + dotBlocks(a[h:], b[h:])
}

// SoftmaxRow sets dst = exp(x - max(x)) / sum(exp(x - max(x))) over
// i < len(dst). dst may be x. -Inf entries get 0 (masking); a row that is all
// -Inf, or that holds +Inf or NaN, yields NaN (as 0/0 or Inf-Inf would).
// Length 0 is a no-op.
func SoftmaxRow(dst, x []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_ = x[n-1]
	x = x[:n]
	m := Max(x)
	if !useAVX2 {
		softmaxGeneric(dst, x, m)
		return
	}
	s := expSubSumBlocks(dst, x, m)
	mulScalarAVX2(&dst[0], &dst[0], 1/s, n)
}

func expSubSumBlocks(dst, x []float32, m float32) float32 {
	if len(x) <= blockLen {
		return expSubSumAVX2(&dst[0], &x[0], len(x), m)
	}
	h := len(x) / 2 &^ 31
	return expSubSumBlocks(dst[:h], x[:h], m) + expSubSumBlocks(dst[h:], x[h:], m)
}

// LogSumExp returns log(sum(exp(x))) computed as m + log(sum(exp(x - m)))
// with m = max(x). It returns -Inf for an empty or all -Inf row, +Inf if any
// element is +Inf and NaN if any is NaN.
func LogSumExp(x []float32) float32 {
	if len(x) == 0 {
		return float32(math.Inf(-1))
	}
	m := Max(x)
	if m != m || math.IsInf(float64(m), 0) {
		return m
	}
	var s float64
	if useAVX2 {
		s = float64(sumExpSubBlocks(x, m))
	} else {
		s = sumExpSubGeneric(x, m)
	}
	return float32(float64(m) + math.Log(s))
}

func sumExpSubBlocks(x []float32, m float32) float32 {
	if len(x) <= blockLen {
		return sumExpSubAVX2(&x[0], len(x), m)
	}
	h := len(x) / 2 &^ 31
	return sumExpSubBlocks(x[:h], m) + sumExpSubBlocks(x[h:], m)
}
