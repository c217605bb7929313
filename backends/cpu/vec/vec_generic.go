// Portable Go implementations, used when the CPU lacks AVX2/FMA, on other
// architectures, or with the purego build tag. Transcendentals go through
// float64 math (correctly rounded or within 1 ulp in float32), reductions
// accumulate in float64. Slices are already trimmed to the same length.

package vec

import "math"

func expGeneric(dst, x []float32) {
	for i, v := range x {
		dst[i] = float32(math.Exp(float64(v)))
	}
}

func sigmoidGeneric(dst, x []float32) {
	for i, v := range x {
		// Same stable form as the AVX2 kernel: e = e^-|x| never overflows.
		e := math.Exp(-math.Abs(float64(v)))
		if v < 0 {
			dst[i] = float32(e / (1 + e))
		} else {
			dst[i] = float32(1 / (1 + e))
		}
	}
}

func tanhGeneric(dst, x []float32) {
	for i, v := range x {
		dst[i] = float32(math.Tanh(float64(v)))
	}
}

func softplusGeneric(dst, x []float32) {
	for i, v := range x {
		f := float64(v)
		dst[i] = float32(math.Max(f, 0) + math.Log1p(math.Exp(-math.Abs(f))))
	}
}

func logGeneric(dst, x []float32) {
	for i, v := range x {
		dst[i] = float32(math.Log(float64(v)))
	}
}

func addGeneric(dst, a, b []float32) {
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

func subGeneric(dst, a, b []float32) {
	for i := range dst {
		dst[i] = a[i] - b[i]
	}
}

func mulGeneric(dst, a, b []float32) {
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

func divGeneric(dst, a, b []float32) {
	for i := range dst {
		dst[i] = a[i] / b[i]
	}
}

func addScalarGeneric(dst, a []float32, s float32) {
	for i := range dst {
		dst[i] = a[i] + s
	}
}

func mulScalarGeneric(dst, a []float32, s float32) {
	for i := range dst {
		dst[i] = a[i] * s
	}
}

func axpyGeneric(dst []float32, alpha float32, x []float32) {
	for i := range dst {
		dst[i] += alpha * x[i]
	}
}

func sumGeneric(x []float32) float32 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return float32(s)
}

func maxGeneric(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v != v {
			return v
		}
		if v > m {
			m = v
		}
	}
	return m
}

func dotGeneric(a, b []float32) float32 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return float32(s)
}

func softmaxGeneric(dst, x []float32, m float32) {
	var s float64
	for i, v := range x {
		e := math.Exp(float64(v) - float64(m))
		dst[i] = float32(e)
		s += e
	}
	inv := 1 / s
	for i := range dst {
		dst[i] = float32(float64(dst[i]) * inv)
	}
}

func sumExpSubGeneric(x []float32, m float32) float64 {
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - float64(m))
	}
	return s
}
