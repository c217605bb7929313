// Blocked GEMM driver shared by float32 and float64: cache blocking, packing
// of A and B panels (which absorbs the transposes), and the macro-kernel that
// walks the packed panels calling the register micro-kernel.

package gemm

type float interface{ ~float32 | ~float64 }

// mr is the micro-tile height (rows of C per micro-kernel call) for both
// element types.
const mr = 6

// kernelFunc computes one mr×nr tile C = alpha*A·B + beta*C from packed
// micro-panels. c must reach (mr-1)*ldc+nr elements. C is not read when
// beta == 0.
type kernelFunc[T float] func(k int, a, b, c []T, ldc int, alpha, beta T)

// params is the per-element-type configuration: micro-tile width, cache
// block sizes and the selected micro-kernel.
type params[T float] struct {
	name       string
	nr         int // micro-tile width (columns of C per micro-kernel call)
	mc, kc, nc int // cache blocks: A block mc×kc (L2), B panel kc×nc (L3)
	kernel     kernelFunc[T]
	packA      func(dst, a []T, lda int, trans bool, mc, kc int)
	packB      func(dst, b []T, ldb int, trans bool, kc, nc, nr int)
	rows       rowOps[T] // the vector operations of few-row products (rows.go)
	jobs       freeList[job[T]]
	workspaces freeList[workspace[T]]
}

// workspace holds the packing buffers of one running serial GEMM (a, b,
// and tmp for edge tiles); c holds split-K partial products when the
// workspace belongs to the caller of a parallel GEMM.
type workspace[T float] struct {
	a, b, tmp, c []T
}

func (p *params[T]) getWorkspace() *workspace[T] {
	w := p.workspaces.get()
	if w.tmp == nil {
		w.tmp = make([]T, mr*p.nr)
	}
	return w
}

func (p *params[T]) putWorkspace(w *workspace[T]) { p.workspaces.put(w) }

func grow[T float](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// blockSize splits total into the fewest blocks of at most about max
// elements, balanced, and rounded up to a multiple of align.
func blockSize(total, max, align int) int {
	if total <= max {
		return (total + align - 1) / align * align
	}
	nb := (total + max - 1) / max
	bs := (total + nb - 1) / nb
	return (bs + align - 1) / align * align
}

// gemmSerial computes C = alpha*op(A)*op(B) + beta*C on the calling
// goroutine. a, b, c start at element (0,0) of their matrices. Requires
// m, n, k ≥ 1 and alpha != 0; lengths are already validated.
func gemmSerial[T float](p *params[T], transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	nr := p.nr
	ws := p.getWorkspace()
	mcMax := blockSize(m, p.mc, mr)
	kcMax := blockSize(k, p.kc, 1)
	ncMax := blockSize(n, p.nc, nr)
	ws.a = grow(ws.a, mcMax*kcMax)
	ws.b = grow(ws.b, ncMax*kcMax)

	for jc := 0; jc < n; jc += ncMax {
		nc := min(ncMax, n-jc)
		for pc := 0; pc < k; pc += kcMax {
			kc := min(kcMax, k-pc)
			if transB {
				p.packB(ws.b, b[jc*ldb+pc:], ldb, true, kc, nc, nr)
			} else {
				p.packB(ws.b, b[pc*ldb+jc:], ldb, false, kc, nc, nr)
			}
			bt := beta
			if pc > 0 {
				bt = 1
			}
			for ic := 0; ic < m; ic += mcMax {
				mc := min(mcMax, m-ic)
				if transA {
					p.packA(ws.a, a[pc*lda+ic:], lda, true, mc, kc)
				} else {
					p.packA(ws.a, a[ic*lda+pc:], lda, false, mc, kc)
				}
				macroKernel(p, ws.a, ws.b, ws.tmp, mc, nc, kc, alpha, bt, c[ic*ldc+jc:], ldc)
			}
		}
	}
	p.putWorkspace(ws)
}

// macroKernel multiplies the packed mc×kc block of A by the packed kc×nc
// panel of B into C. Full tiles go straight to C; edge tiles are computed
// into a small temporary tile (the packed panels are zero padded) and the
// valid part is merged into C.
func macroKernel[T float](p *params[T], pa, pb, tmp []T, mc, nc, kc int, alpha, beta T, c []T, ldc int) {
	nr := p.nr
	kernel := p.kernel
	for j := 0; j < nc; j += nr {
		cols := min(nr, nc-j)
		bp := pb[j*kc:]
		for i := 0; i < mc; i += mr {
			rows := min(mr, mc-i)
			ap := pa[i*kc:]
			if rows == mr && cols == nr {
				kernel(kc, ap, bp, c[i*ldc+j:], ldc, alpha, beta)
				continue
			}
			t := tmp
			kernel(kc, ap, bp, t, nr, alpha, 0)
			for r := 0; r < rows; r++ {
				cr := c[(i+r)*ldc+j : (i+r)*ldc+j+cols]
				tr := t[r*nr : r*nr+cols]
				if beta == 0 {
					copy(cr, tr)
				} else {
					for x := range cr {
						cr[x] = tr[x] + beta*cr[x]
					}
				}
			}
		}
	}
}

// packA packs the mc×kc block of op(A) starting at a[0] into micro-panels of
// mr rows: panel i holds, for each p, the mr values A(i*mr+r, p)
// contiguously. Rows past mc are zero.
func packA[T float](dst, a []T, lda int, trans bool, mc, kc int) {
	for i := 0; i < mc; i += mr {
		rows := min(mr, mc-i)
		d := dst[i*kc : i*kc+mr*kc]
		switch {
		case !trans && rows == mr:
			// A(i+r, p) = a[(i+r)*lda + p]
			r0 := a[i*lda : i*lda+kc]
			r1 := a[(i+1)*lda : (i+1)*lda+kc]
			r2 := a[(i+2)*lda : (i+2)*lda+kc]
			r3 := a[(i+3)*lda : (i+3)*lda+kc]
			r4 := a[(i+4)*lda : (i+4)*lda+kc]
			r5 := a[(i+5)*lda : (i+5)*lda+kc]
			for p := range r0 {
				dd := d[p*mr : p*mr+mr : p*mr+mr]
				dd[0] = r0[p]
				dd[1] = r1[p]
				dd[2] = r2[p]
				dd[3] = r3[p]
				dd[4] = r4[p]
				dd[5] = r5[p]
			}
		case !trans:
			clear(d)
			for r := 0; r < rows; r++ {
				row := a[(i+r)*lda : (i+r)*lda+kc]
				for p, v := range row {
					d[p*mr+r] = v
				}
			}
		case rows == mr:
			// A(i+r, p) = a[p*lda + i + r]
			for p := 0; p < kc; p++ {
				s := a[p*lda+i : p*lda+i+mr : p*lda+i+mr]
				dd := d[p*mr : p*mr+mr : p*mr+mr]
				dd[0] = s[0]
				dd[1] = s[1]
				dd[2] = s[2]
				dd[3] = s[3]
				dd[4] = s[4]
				dd[5] = s[5]
			}
		default:
			clear(d)
			for p := 0; p < kc; p++ {
				copy(d[p*mr:p*mr+rows], a[p*lda+i:p*lda+i+rows])
			}
		}
	}
}

// packB packs the kc×nc block of op(B) starting at b[0] into micro-panels of
// nr columns: panel j holds, for each p, the nr values B(p, j*nr+c)
// contiguously. Columns past nc are zero.
func packB[T float](dst, b []T, ldb int, trans bool, kc, nc, nr int) {
	for j := 0; j < nc; j += nr {
		cols := min(nr, nc-j)
		d := dst[j*kc : j*kc+nr*kc]
		if trans {
			// B(p, j+c) = b[(j+c)*ldb + p]
			for c := 0; c < cols; c++ {
				row := b[(j+c)*ldb : (j+c)*ldb+kc]
				for p, v := range row {
					d[p*nr+c] = v
				}
			}
			if cols < nr {
				for p := 0; p < kc; p++ {
					clear(d[p*nr+cols : p*nr+nr])
				}
			}
			continue
		}
		// B(p, j+c) = b[p*ldb + j + c]
		switch {
		case cols == nr && nr == 16:
			for p := 0; p < kc; p++ {
				*(*[16]T)(d[p*16:]) = *(*[16]T)(b[p*ldb+j:])
			}
		case cols == nr && nr == 8:
			for p := 0; p < kc; p++ {
				*(*[8]T)(d[p*8:]) = *(*[8]T)(b[p*ldb+j:])
			}
		default:
			for p := 0; p < kc; p++ {
				copy(d[p*nr:p*nr+cols], b[p*ldb+j:p*ldb+j+cols])
				clear(d[p*nr+cols : p*nr+nr])
			}
		}
	}
}
