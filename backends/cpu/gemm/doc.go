// Package gemm is the CPU backend's dense matrix multiply: SGEMM (float32)
// and DGEMM (float64) with the BLAS semantics
//
//	C = alpha*op(A)*op(B) + beta*C,   op(X) = X or Xᵀ,
//
// on row-major matrices with leading dimensions, written in pure Go plus Go
// assembly.
//
// # Why not cgo/OpenBLAS
//
// The package has no cgo: plugins and tools that use the backend build and
// run on any machine that has a Go toolchain, cross-compile with GOOS/GOARCH,
// need no libopenblas (or any shared library) at run time, and keep Go's
// fast, allocation-free calls. The price is maintaining one assembly
// micro-kernel per element type; everything else (blocking, packing,
// threading) is ordinary Go. On the reference machine (2-core AMD EPYC
// Zen 3, AVX2+FMA) the float32 path runs at RATIO_PLACEHOLDER
//
// # Design
//
// The structure is the Goto/BLIS one:
//
//   - Cache blocking. C is computed in blocks: for each nc-column panel of
//     B (kept in L3) and each kc-deep slice of K, the kc×nc panel of op(B)
//     is packed once; then for each mc-row block of op(A) (kept in L2) the
//     mc×kc block is packed and the macro-kernel sweeps it against the B
//     panel one kc×nr micro-panel (kept in L1) at a time.
//   - Packing. A is packed into micro-panels of mr=6 rows stored
//     k-major (6 values per k step), B into micro-panels of nr columns (16
//     float32 or 8 float64 values per k step). Packing absorbs the
//     transposes and leading dimensions, so the micro-kernel sees one
//     contiguous layout whatever the call, and it pads partial panels with
//     zeros. The float32 packing of full panels is also in assembly.
//   - Micro-kernel. An AVX2+FMA kernel holds a 6×16 float32 (or 6×8
//     float64) tile of C in 12 ymm accumulators; each k step loads two
//     vectors of B, broadcasts six values of A and issues 12 FMAs, which
//     keeps both FMA pipes of a Zen 3 / Haswell-class core busy (12
//     independent accumulators cover the 4-cycle FMA latency). alpha and
//     beta are applied when the tile is written back; with beta == 0 the old
//     C is never read, so NaN garbage is overwritten. Edge tiles are computed
//     into a small temporary tile and the valid part is merged into C.
//   - Threads. A parallel call shares the packed B panel among its
//     goroutines (each packs a slice of it into a double-buffered shared
//     buffer, then a barrier), and the goroutines claim mc-row blocks of A
//     dynamically, so packing of B is not duplicated and a thread slowed by
//     other load on the machine does not hold the others up. Narrow problems
//     with too few row blocks are split along N instead. The goroutines are
//     a persistent pool and the packing buffers are kept in a free list, so
//     steady-state calls (serial or parallel) do not allocate.
//   - Portability. The assembly is used when golang.org/x/sys/cpu reports
//     AVX2 and FMA on amd64; otherwise (older x86, arm64, ...) portable Go
//     kernels with the same packed layout are used.
//
// Block sizes (mc, kc, nc in gemm.go) were chosen by measurement on the
// reference machine: 32 KiB L1d, 512 KiB L2 per core and a shared L3.
//
// Concurrency: all functions are safe for concurrent use. SGEMMSerial and
// DGEMMSerial never start goroutines, for callers that parallelise over a
// batch themselves; SGEMM and DGEMM use up to Threads() goroutines.
package gemm
