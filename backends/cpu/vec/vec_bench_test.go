// Benchmarks of every kernel at n = 4096 (L1/L2 resident) and n = 1<<20
// (4 MiB per operand), on the AVX2 path ("asm") and the portable path
// ("generic"), plus scalar Exp baselines. Besides ns/op each benchmark reports
// Gelem/s, GB/s (bytes read + written) and ns/elem.
//
//	go test -run '^$' -bench . -benchmem ./backends/cpu/vec
//	go test -run '^$' -bench '^BenchmarkExp$' -benchmem ./backends/cpu/vec

package vec

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/chewxy/math32"
)

var benchSizes = []int{4096, 1 << 20}

var benchSink float32

func benchData(n int, lo, hi float32, seed int64) []float32 {
	r := rand.New(rand.NewSource(seed))
	x := make([]float32, n)
	for i := range x {
		x[i] = lo + (hi-lo)*r.Float32()
	}
	return x
}

// report adds throughput metrics for n elements per op moving bytesPerElem
// bytes each.
func report(b *testing.B, n, bytesPerElem int) {
	sec := b.Elapsed().Seconds()
	if sec <= 0 || b.N == 0 {
		return
	}
	elems := float64(n) * float64(b.N)
	b.ReportMetric(elems/sec/1e9, "Gelem/s")
	b.ReportMetric(elems*float64(bytesPerElem)/sec/1e9, "GB/s")
	b.ReportMetric(sec*1e9/elems, "ns/elem")
}

// impls runs body under b.Run("asm") (when AVX2 is available) and
// b.Run("generic"), each with sub-benchmarks per size.
func impls(b *testing.B, body func(b *testing.B, n int)) {
	saved := useAVX2
	defer func() { useAVX2 = saved }()
	for _, impl := range []string{"asm", "generic"} {
		b.Run(impl, func(b *testing.B) {
			if impl == "asm" && !haveAVX2 {
				b.Skip("no AVX2/FMA")
			}
			useAVX2 = impl == "asm"
			for _, n := range benchSizes {
				b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
					b.ReportAllocs()
					body(b, n)
				})
			}
		})
	}
}

func benchUnary(b *testing.B, f func(dst, x []float32), lo, hi float32) {
	impls(b, func(b *testing.B, n int) {
		x := benchData(n, lo, hi, 1)
		dst := make([]float32, n)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			f(dst, x)
		}
		report(b, n, 8)
	})
}

// BenchmarkExp compares the vector Exp with scalar loops over math.Exp
// (float64) and github.com/chewxy/math32.Exp.
func BenchmarkExp(b *testing.B) {
	benchUnary(b, Exp, -10, 10)
	scalar := map[string]func(dst, x []float32){
		"scalar-math": func(dst, x []float32) {
			for i := range dst {
				dst[i] = float32(math.Exp(float64(x[i])))
			}
		},
		"scalar-math32": func(dst, x []float32) {
			for i := range dst {
				dst[i] = math32.Exp(x[i])
			}
		},
	}
	for _, name := range []string{"scalar-math", "scalar-math32"} {
		f := scalar[name]
		b.Run(name, func(b *testing.B) {
			for _, n := range benchSizes {
				b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
					b.ReportAllocs()
					x := benchData(n, -10, 10, 1)
					dst := make([]float32, n)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						f(dst, x)
					}
					report(b, n, 8)
				})
			}
		})
	}
}

func BenchmarkSigmoid(b *testing.B)  { benchUnary(b, Sigmoid, -10, 10) }
func BenchmarkTanh(b *testing.B)     { benchUnary(b, Tanh, -5, 5) }
func BenchmarkSoftplus(b *testing.B) { benchUnary(b, Softplus, -10, 10) }
func BenchmarkLog(b *testing.B)      { benchUnary(b, Log, 1e-3, 100) }

func benchBinary(b *testing.B, f func(dst, a, b []float32)) {
	impls(b, func(b *testing.B, n int) {
		x := benchData(n, -10, 10, 1)
		y := benchData(n, 1, 10, 2)
		dst := make([]float32, n)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			f(dst, x, y)
		}
		report(b, n, 12)
	})
}

func BenchmarkAdd(b *testing.B) { benchBinary(b, Add) }
func BenchmarkSub(b *testing.B) { benchBinary(b, Sub) }
func BenchmarkMul(b *testing.B) { benchBinary(b, Mul) }
func BenchmarkDiv(b *testing.B) { benchBinary(b, Div) }

func BenchmarkAddScalar(b *testing.B) {
	benchUnary(b, func(dst, x []float32) { AddScalar(dst, x, 1.5) }, -10, 10)
}

func BenchmarkMulScalar(b *testing.B) {
	benchUnary(b, func(dst, x []float32) { MulScalar(dst, x, 1.5) }, -10, 10)
}

func BenchmarkAxpy(b *testing.B) {
	impls(b, func(b *testing.B, n int) {
		x := benchData(n, -10, 10, 1)
		dst := benchData(n, -10, 10, 2)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			Axpy(dst, 1e-7, x)
		}
		report(b, n, 12)
	})
}

func benchReduce(b *testing.B, f func(x []float32) float32) {
	impls(b, func(b *testing.B, n int) {
		x := benchData(n, -10, 10, 1)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			benchSink += f(x)
		}
		report(b, n, 4)
	})
}

func BenchmarkSum(b *testing.B)       { benchReduce(b, Sum) }
func BenchmarkMax(b *testing.B)       { benchReduce(b, Max) }
func BenchmarkLogSumExp(b *testing.B) { benchReduce(b, LogSumExp) }

func BenchmarkDot(b *testing.B) {
	impls(b, func(b *testing.B, n int) {
		x := benchData(n, -10, 10, 1)
		y := benchData(n, -10, 10, 2)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			benchSink += Dot(x, y)
		}
		report(b, n, 8)
	})
}

// BenchmarkSoftmaxRow: one row of n logits, out of place. Bytes counted are
// one pass reading x and writing dst (the kernel makes three passes: max,
// exp+sum, scale).
func BenchmarkSoftmaxRow(b *testing.B) {
	benchUnary(b, SoftmaxRow, -10, 10)
}
