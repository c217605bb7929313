// Declarations of the AVX2+FMA assembly kernels (vec_amd64.s) and the CPU
// feature check that enables them.

//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

// haveAVX2 reports whether the assembly kernels can run on this CPU (and OS:
// x/sys/cpu also checks that the OS saves YMM state).
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// The kernels take raw pointers and a length n >= 1 (n >= 0 for the
// elementwise ones); the exported wrappers in vec.go check lengths first.

//go:noescape
func expAVX2(dst, x *float32, n int)

//go:noescape
func sigmoidAVX2(dst, x *float32, n int)

//go:noescape
func tanhAVX2(dst, x *float32, n int)

//go:noescape
func softplusAVX2(dst, x *float32, n int)

//go:noescape
func logAVX2(dst, x *float32, n int)

//go:noescape
func addAVX2(dst, a, b *float32, n int)

//go:noescape
func subAVX2(dst, a, b *float32, n int)

//go:noescape
func mulAVX2(dst, a, b *float32, n int)

//go:noescape
func divAVX2(dst, a, b *float32, n int)

//go:noescape
func addScalarAVX2(dst, a *float32, s float32, n int)

//go:noescape
func mulScalarAVX2(dst, a *float32, s float32, n int)

//go:noescape
func axpyAVX2(dst *float32, alpha float32, x *float32, n int)

//go:noescape
func sumAVX2(x *float32, n int) float32

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func expSubSumAVX2(dst, x *float32, n int, m float32) float32

//go:noescape
func sumExpSubAVX2(x *float32, n int, m float32) float32
