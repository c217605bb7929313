// Scalar math shared by the kernels: stable sigmoid and softplus, NaN-aware
// max/min, sign, and the exp/log of any float type.

package cpu

import "math"

func nan() float64 { return math.NaN() }

func exp[T float](x T) T { return T(math.Exp(float64(x))) }
func log[T float](x T) T { return T(math.Log(float64(x))) }

// maxOf and minOf propagate NaN like math.Max and math.Min.
func maxOf[T elem](a, b T) T {
	if a > b || a != a {
		return a
	}
	return b
}

func minOf[T elem](a, b T) T {
	if a < b || a != a {
		return a
	}
	return b
}

// sigmoid is 1/(1+exp(-x)) without overflow for large |x|.
func sigmoid[T float](x T) T {
	if x >= 0 {
		return T(1 / (1 + math.Exp(-float64(x))))
	}
	e := math.Exp(float64(x))
	return T(e / (1 + e))
}

// softplus is log(1+exp(x)) = max(x,0) + log1p(exp(-|x|)).
func softplus[T float](x T) T {
	f := float64(x)
	return T(math.Max(f, 0) + math.Log1p(math.Exp(-math.Abs(f))))
}

// sign is 1, -1 or 0 (and NaN for NaN).
func sign[T elem](x T) T {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return 0 - 1
	}
	return x
}
