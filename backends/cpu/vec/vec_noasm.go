// Stubs for platforms without the AVX2 kernels (non-amd64, or the purego
// build tag). haveAVX2 is false there, so the stubs are never called; they
// exist so that vec.go compiles unchanged everywhere.

//go:build !amd64 || purego

package vec

const haveAVX2 = false

func expAVX2(dst, x *float32, n int)                          { panic("vec: no AVX2") }
func sigmoidAVX2(dst, x *float32, n int)                      { panic("vec: no AVX2") }
func tanhAVX2(dst, x *float32, n int)                         { panic("vec: no AVX2") }
func softplusAVX2(dst, x *float32, n int)                     { panic("vec: no AVX2") }
func logAVX2(dst, x *float32, n int)                          { panic("vec: no AVX2") }
func addAVX2(dst, a, b *float32, n int)                       { panic("vec: no AVX2") }
func subAVX2(dst, a, b *float32, n int)                       { panic("vec: no AVX2") }
func mulAVX2(dst, a, b *float32, n int)                       { panic("vec: no AVX2") }
func divAVX2(dst, a, b *float32, n int)                       { panic("vec: no AVX2") }
func addScalarAVX2(dst, a *float32, s float32, n int)         { panic("vec: no AVX2") }
func mulScalarAVX2(dst, a *float32, s float32, n int)         { panic("vec: no AVX2") }
func axpyAVX2(dst *float32, alpha float32, x *float32, n int) { panic("vec: no AVX2") }
func sumAVX2(x *float32, n int) float32                       { panic("vec: no AVX2") }
func dotAVX2(a, b *float32, n int) float32                    { panic("vec: no AVX2") }
func maxAVX2(x *float32, n int) float32                       { panic("vec: no AVX2") }
func expSubSumAVX2(dst, x *float32, n int, m float32) float32 { panic("vec: no AVX2") }
func sumExpSubAVX2(x *float32, n int, m float32) float32      { panic("vec: no AVX2") }
