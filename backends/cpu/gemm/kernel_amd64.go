// Micro-kernel selection on amd64: the AVX2+FMA assembly kernels when the CPU
// has them, the portable Go kernels otherwise.

package gemm

import "golang.org/x/sys/cpu"

// sgemmKernel6x16 computes the 6×16 tile C = alpha*A·B + beta*C from packed
// micro-panels (A: k×6 interleaved, B: k×16). C is not read when beta == 0.
//
//go:noescape
func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)

// dgemmKernel6x8 is the float64 6×8 analogue of sgemmKernel6x16.
//
//go:noescape
func dgemmKernel6x8(k int, a, b, c *float64, ldc int, alpha, beta float64)

func sKernelAsm(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	sgemmKernel6x16(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

func dKernelAsm(k int, a, b, c []float64, ldc int, alpha, beta float64) {
	dgemmKernel6x8(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

// hasAsm reports whether the assembly kernels can run on this CPU.
var hasAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func init() {
	if hasAsm {
		sParams.kernel = sKernelAsm
		sParams.packA = sPackAAsm
		sParams.packB = sPackBAsm
		dParams.kernel = dKernelAsm
		sParams.name = "avx2-fma-6x16"
		dParams.name = "avx2-fma-6x8"
	}
}

// Assembly packing of full float32 micro-panels (see pack_amd64.s).

//go:noescape
func packA6N(kc int, a *float32, lda int, dst *float32)

//go:noescape
func packA6T(kc int, a *float32, lda int, dst *float32)

//go:noescape
func packB16N(kc int, b *float32, ldb int, dst *float32)

// sPackAAsm is packA for float32 using the assembly routines for full
// panels; the bounds are checked here before the assembly reads them.
func sPackAAsm(dst, a []float32, lda int, trans bool, mc, kc int) {
	full := mc / mr * mr
	for i := 0; i < full; i += mr {
		d := dst[i*kc : i*kc+mr*kc]
		if trans {
			_ = a[(kc-1)*lda+i+mr-1]
			packA6T(kc, &a[i], lda, &d[0])
		} else {
			_ = a[(i+mr-1)*lda+kc-1]
			packA6N(kc, &a[i*lda], lda, &d[0])
		}
	}
	if full < mc {
		if trans {
			packA(dst[full*kc:], a[full:], lda, true, mc-full, kc)
		} else {
			packA(dst[full*kc:], a[full*lda:], lda, false, mc-full, kc)
		}
	}
}

// sPackBAsm is packB for float32 (nr = 16) using assembly for full
// non-transposed panels.
func sPackBAsm(dst, b []float32, ldb int, trans bool, kc, nc, nr int) {
	if trans {
		packB(dst, b, ldb, true, kc, nc, nr)
		return
	}
	full := nc / 16 * 16
	for j := 0; j < full; j += 16 {
		d := dst[j*kc : j*kc+16*kc]
		_ = b[(kc-1)*ldb+j+15]
		packB16N(kc, &b[j], ldb, &d[0])
	}
	if full < nc {
		packB(dst[full*kc:], b[full:], ldb, false, kc, nc-full, nr)
	}
}
