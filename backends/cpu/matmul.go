// Batched matrix multiplication on the shared GEMM. A batched A times a plain
// B (without TransA) is one GEMM over all rows; other batches run one GEMM
// per item, spread over the pool with serial GEMMs when items are many or
// small, or one after another with the parallel GEMM when they are few and
// large. Products with a tiny dimension, which a GEMM's register tiles
// would mostly pad, run as dot products (few output columns, rows of B
// contiguous) or as row updates (a short inner dimension) instead.

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
	if tiny := tinyGEMM[T](transA, transB, m, n, k); tiny != nil {
		item = func(i int, _ gemmFunc[T]) {
			tiny(as.d[i*sa:], lda, bs.d[i*sb:], ldb, ds.d[i*sc:i*sc+sc], ldc)
		}
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

// tinyDim is the largest dimension that tinyGEMM's loops serve better than
// the GEMM, whose micro-kernel tiles are 6x16.
const tinyDim = 8

// tinyGEMM returns a loop for C = op(A)·op(B) when n is tiny and rows of A
// and B are contiguous (each element a dot product of two rows), or when k
// is tiny and rows of B are contiguous (each row of C a sum of k scaled
// rows of B); nil otherwise.
func tinyGEMM[T float](transA, transB bool, m, n, k int) func(a []T, lda int, b []T, ldb int, c []T, ldc int) {
	switch {
	case n <= tinyDim && transB && !transA:
		dot := dotOf[T]()
		return func(a []T, lda int, b []T, ldb int, c []T, ldc int) {
			for i := 0; i < m; i++ {
				row := a[i*lda : i*lda+k]
				for j := 0; j < n; j++ {
					c[i*ldc+j] = dot(row, b[j*ldb:j*ldb+k])
				}
			}
		}
	case k <= tinyDim && !transB:
		axpy := axpyOf[T]()
		return func(a []T, lda int, b []T, ldb int, c []T, ldc int) {
			for i := 0; i < m; i++ {
				dst := c[i*ldc : i*ldc+n]
				clear(dst)
				for p := 0; p < k; p++ {
					var alpha T
					if transA {
						alpha = a[p*lda+i]
					} else {
						alpha = a[i*lda+p]
					}
					axpy(dst, alpha, b[p*ldb:p*ldb+n])
				}
			}
		}
	}
	return nil
}

func dotOf[T float]() func(a, b []T) T {
	if f, ok := any(vDot).(func(a, b []T) T); ok {
		return f
	}
	return func(a, b []T) T {
		var s0, s1, s2, s3 T
		i := 0
		for ; i+4 <= len(a); i += 4 {
			s0 += a[i] * b[i]
			s1 += a[i+1] * b[i+1]
			s2 += a[i+2] * b[i+2]
			s3 += a[i+3] * b[i+3]
		}
		for ; i < len(a); i++ {
			s0 += a[i] * b[i]
		}
		return (s0 + s1) + (s2 + s3)
	}
}

func axpyOf[T float]() func(dst []T, alpha T, x []T) {
	if f, ok := any(vAxpy).(func(dst []T, alpha T, x []T)); ok {
		return f
	}
	return func(dst []T, alpha T, x []T) {
		x = x[:len(dst)]
		for i := range dst {
			dst[i] += alpha * x[i]
		}
	}
}
