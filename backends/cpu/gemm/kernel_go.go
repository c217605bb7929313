// Portable pure-Go micro-kernels. They use the same packed layouts as the
// assembly kernels and are selected when the CPU (or architecture) lacks
// AVX2+FMA; the tests also run them directly against the reference.

package gemm

// goKernel computes the mr×nr tile C = alpha*A·B + beta*C from packed
// micro-panels: a holds k steps of mr values, b holds k steps of nr values
// (nr a multiple of 4). C is not read when beta == 0. It works on 2×4
// sub-tiles so the accumulators stay in registers.
func goKernel[T float](nr, k int, a, b, c []T, ldc int, alpha, beta T) {
	a = a[:k*mr]
	b = b[:k*nr]
	for i0 := 0; i0 < mr; i0 += 2 {
		for j0 := 0; j0 < nr; j0 += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 T
			ai, bj := i0, j0
			for p := 0; p < k; p++ {
				aa := a[ai : ai+2 : ai+2]
				bb := b[bj : bj+4 : bj+4]
				a0, a1 := aa[0], aa[1]
				b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
				ai += mr
				bj += nr
			}
			r0 := c[i0*ldc+j0 : i0*ldc+j0+4 : i0*ldc+j0+4]
			r1 := c[(i0+1)*ldc+j0 : (i0+1)*ldc+j0+4 : (i0+1)*ldc+j0+4]
			if beta == 0 {
				r0[0], r0[1], r0[2], r0[3] = alpha*c00, alpha*c01, alpha*c02, alpha*c03
				r1[0], r1[1], r1[2], r1[3] = alpha*c10, alpha*c11, alpha*c12, alpha*c13
			} else {
				r0[0] = alpha*c00 + beta*r0[0]
				r0[1] = alpha*c01 + beta*r0[1]
				r0[2] = alpha*c02 + beta*r0[2]
				r0[3] = alpha*c03 + beta*r0[3]
				r1[0] = alpha*c10 + beta*r1[0]
				r1[1] = alpha*c11 + beta*r1[1]
				r1[2] = alpha*c12 + beta*r1[2]
				r1[3] = alpha*c13 + beta*r1[3]
			}
		}
	}
}

func sKernelGo(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	goKernel(16, k, a, b, c, ldc, alpha, beta)
}

func dKernelGo(k int, a, b, c []float64, ldc int, alpha, beta float64) {
	goKernel(8, k, a, b, c, ldc, alpha, beta)
}
