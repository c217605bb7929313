// Package openblas is a benchmark-only cgo binding to OpenBLAS's cblas_sgemm,
// used by the gemm package's tests to compare against OpenBLAS in the same
// run. It is empty unless built with cgo and the openblas build tag (and it
// then needs libopenblas-dev); the gemm package itself never imports it.
package openblas
