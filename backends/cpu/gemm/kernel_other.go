// Micro-kernel selection on non-amd64 architectures: only the portable Go
// kernels exist there.

//go:build !amd64

package gemm

var hasAsm = false
