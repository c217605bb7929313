// Batched matrix multiplication on the shared GEMM. A batched A times a plain
// B (without TransA) is one GEMM over all rows; other batches run one GEMM
// per item, spread over the pool with serial GEMMs when items are many or
// small, or one after another with the parallel GEMM when they are few and
// large.

package cpu

type gemmFunc[T float] func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// gemms returns the parallel and serial GEMM of T.
func gemms[T float]() (par, ser gemmFunc[T]) {
	var z T
	switch any(z).(type) {
	case float32:
		return any(gemmFunc[float32](sgemm)).(gemmFunc[T]), any(gemmFunc[float32](sgemmSerial)).(gemmFunc[T])
	}
	return any(gemmFunc[float64](dgemm)).(gemmFunc[T]), any(gemmFunc[float64](dgemmSerial)).(gemmFunc[T])
}

// smallGEMM is the m·n·k below which one GEMM is not worth splitting.
const smallGEMM = 1 << 21

func buildMatMul[T float](c *compiler, out, x, y *value, transA, transB bool) func() error {
	if out.size == 0 {
		return nil
	}
	ds, as, bs := slotOf[T](out), slotOf[T](x), slotOf[T](y)
	ra, rb := len(x.shape), len(y.shape)
	ar, ac := x.shape[ra-2], x.shape[ra-1]
	br, bc := y.shape[rb-2], y.shape[rb-1]
	m, k := ar, ac
	if transA {
		m, k = ac, ar
	}
	n := bc
	if transB {
		n = br
	}
	lda, ldb, ldc := ac, bc, n
	if k == 0 {
		return func() error { clear(ds.d); return nil }
	}
	par, ser := gemms[T]()
	pool := c.p.b.pool
	if c.p.b.threads == 1 {
		par = ser
	}
	batch := out.size / (m * n)
	aBatched := ra > 2 && x.size > ar*ac
	bBatched := rb > 2 && y.size > br*bc
	if batch == 1 || (!bBatched && !transA) {
		// One GEMM; a batched A without TransA is a stack of rows.
		mm := m * batch
		return func() error {
			par(transA, transB, mm, n, k, 1, as.d, lda, bs.d, ldb, 0, ds.d, ldc)
			return nil
		}
	}
	sa, sb, sc := 0, 0, m*n
	if aBatched {
		sa = ar * ac
	}
	if bBatched {
		sb = br * bc
	}
	item := func(i int, g gemmFunc[T]) {
		g(transA, transB, m, n, k, 1, as.d[i*sa:], lda, bs.d[i*sb:], ldb, 0, ds.d[i*sc:i*sc+sc], ldc)
	}
	work := m * n * k
	if c.p.b.threads > 1 && (batch >= c.p.b.threads || work <= smallGEMM) {
		body := func(lo, hi int) {
			for i := lo; i < hi; i++ {
				item(i, ser)
			}
		}
		grain := max(1, (1<<16)/max(work, 1))
		return func() error { pool.parallelFor(batch, grain, body); return nil }
	}
	return func() error {
		for i := 0; i < batch; i++ {
			item(i, par)
		}
		return nil
	}
}
