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
// threading) is ordinary Go, and the result is as fast as OpenBLAS on the
// shapes the backend uses. Measured on the reference machine (2-core AMD
// EPYC Zen 3, AVX2+FMA, OpenBLAS 0.3.21 with its Zen kernels), float32,
// best of 7 interleaved runs on a quiet machine, mohawk/OpenBLAS throughput:
//
//	shape (m×n×k)              1 thread   2 threads
//	1024×1024×1024                 1.01        0.97   (≈178 GFLOP/s, 2 threads)
//	4096×256×256                   1.05        1.10
//	4096×1024×256                  1.06        1.10
//	4096×256×1024                  1.03        1.05
//	256×256×4096, Aᵀ               0.97        0.98
//	256×1024×4096, Aᵀ              0.97        0.97
//	4096×256×1024, Bᵀ              0.99        1.05
//
// The micro-kernel alone reaches ~98 GFLOP/s per core (close to the FMA
// peak); the full GEMM reaches ~95 on one core and ~175 on two. To compare
// on another machine (needs cgo and libopenblas-dev):
//
//	go test -tags openblas -run X -bench 'SGEMM$' ./backends/cpu/gemm
//
// which prints BenchmarkSGEMM/<shape>/mohawk and .../openblas side by side
// with the same thread count (GEMM_BENCH_THREADS=n overrides it).
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
//   - Threads. When C has enough rows, a parallel call shares the packed B
//     panel among its goroutines (each packs a slice of it into a
//     double-buffered shared buffer, then a barrier), and the goroutines
//     claim row blocks of A dynamically with shrinking claim sizes, so
//     packing of B is not duplicated and a thread slowed by other load on
//     the machine does not hold the others up. Deep, narrow products
//     (weight gradients such as 256×256×4096) are split along K instead,
//     each goroutine packing only its share of A and B and the partial
//     products being summed at the end; the remaining small cases are split
//     along M or N. The goroutines are a persistent pool (they poll briefly
//     before sleeping, so back-to-back calls do not pay thread wake-ups) and
//     the packing buffers are kept in a free list, so steady-state calls,
//     serial or parallel, do not allocate.
//   - Portability. The assembly is used when golang.org/x/sys/cpu reports
//     AVX2 and FMA on amd64; otherwise (older x86, arm64, ...) portable Go
//     kernels with the same packed layout are used.
//
// Block sizes (mc, kc, nc in gemm.go) were chosen by measurement on the
// reference machine (32 KiB L1d, 512 KiB L2 per core, shared L3); the
// throughput is flat within a few percent for mc in 96..240 and kc in
// 256..384, and drops with kc = 128. float64 uses the same structure (its
// 6×8 kernel does half the flops per instruction) and runs at about 58
// GFLOP/s on two cores for 1024³; its packing is plain Go.
//
// Concurrency: all functions are safe for concurrent use. SGEMMSerial and
// DGEMMSerial never start goroutines, for callers that parallelise over a
// batch themselves; SGEMM and DGEMM use up to Threads() goroutines.
package gemm
