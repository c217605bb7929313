// Multi-threaded GEMM. The main scheme shares the packed B panel between
// threads: for each (jc, pc) block the threads pack disjoint slices of the
// B panel into a shared, double-buffered buffer, meet at a barrier, then
// claim row blocks of A dynamically (guided self-scheduling on an atomic
// counter), each packing its own A block and running the macro-kernel on
// disjoint rows of C. Sharing halves the packing of B per thread and the
// dynamic claiming keeps threads busy when the machine is noisy. Problems
// with too few rows for that are split statically into independent serial
// GEMMs: along K when they are deep and narrow (weight gradients: each
// thread packs only its share of A and B, and the partial products are
// added at the end), otherwise along the larger of M and N.

package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// minParallelFlops is the work (2·m·n·k) below which a call stays serial:
// waking a worker costs a few microseconds.
var minParallelFlops = float64(1 << 21)

// minClaim is the smallest row block a goroutine claims in the shared-B
// scheme (guided self-scheduling: claims shrink as the rows run out).
const minClaim = 2 * mr

// maxSplitKElems bounds the partial-product buffers of the split-K scheme.
const maxSplitKElems = 1 << 22

type splitMode uint8

const (
	modeShared splitMode = iota // shared packed B, rows claimed dynamically
	modeSplitM                  // independent serial GEMMs on row ranges
	modeSplitN                  // ... on column ranges
	modeSplitK                  // ... on depth ranges, partial sums added
)

// forceMode, if not negative, overrides the choice of scheme where the
// problem allows it (for tests and measurements).
var forceMode = -1

// job is one parallel GEMM call.
type job[T float] struct {
	p              *params[T]
	transA, transB bool
	m, n, k        int
	alpha, beta    T
	a, b, c        []T
	lda, ldb, ldc  int
	nt             int // participating goroutines

	mode splitMode

	// Shared-B scheme.
	mcMax, kcMax, ncMax int
	bbuf                []T // two kcMax×ncMax halves, alternating by phase
	claim               [2]atomic.Int64
	bar                 barrier

	// Static split into independent serial GEMMs: part t covers rows,
	// columns or (modeSplitK) depths [t*chunk, (t+1)*chunk).
	chunk int
	// modeSplitK: part t > 0 writes its partial product to
	// kbuf[(t-1)*m*n:] (stride n); the caller adds them into C.
	kbuf []T

	wg sync.WaitGroup
}

// gemmParallel runs the call on up to threads goroutines. It reports false
// (doing nothing) when the problem is too narrow to split.
func gemmParallel[T float](p *params[T], threads int, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) bool {
	nr := p.nr
	j := p.jobs.get()
	j.p, j.transA, j.transB, j.m, j.n, j.k = p, transA, transB, m, n, k
	j.alpha, j.beta, j.a, j.b, j.c, j.lda, j.ldb, j.ldc = alpha, beta, a, b, c, lda, ldb, ldc

	mode := modeSplitN
	switch {
	case m >= 2*threads*p.mc:
		// Enough rows for every goroutine to claim two or more full
		// blocks: share B. (With fewer rows the claims get small, and each
		// packed B micro-panel is reused by too few A micro-panels.)
		mode = modeShared
	case k >= 4*max(m, n) && k >= 2*threads*p.kc && m*n*(threads-1) <= maxSplitKElems:
		// Deep and narrow (a weight gradient): split K, so each goroutine
		// packs only its share of both A and B.
		mode = modeSplitK
	case m >= n && m >= 2*mr:
		mode = modeSplitM
	case n < 2*nr:
		p.jobs.put(j)
		return false
	}
	if forceMode >= 0 {
		mode = splitMode(forceMode)
	}
	j.mode = mode
	var ws0 *workspace[T]
	switch mode {
	case modeShared:
		j.nt = threads
		j.mcMax = blockSize(m, p.mc, mr)
		j.kcMax = blockSize(k, p.kc, 1)
		j.ncMax = blockSize(n, p.nc, nr)
		ws0 = p.getWorkspace()
		ws0.b = grow(ws0.b, 2*j.kcMax*j.ncMax)
		j.bbuf = ws0.b
		j.claim[0].Store(0)
		j.claim[1].Store(0)
		j.bar.reset(j.nt)
	case modeSplitM:
		parts := min(threads, (m+mr-1)/mr)
		j.chunk = ((m+parts-1)/parts + mr - 1) / mr * mr
		j.nt = (m + j.chunk - 1) / j.chunk
	case modeSplitN:
		parts := min(threads, (n+nr-1)/nr)
		j.chunk = ((n+parts-1)/parts + nr - 1) / nr * nr
		j.nt = (n + j.chunk - 1) / j.chunk
	case modeSplitK:
		parts := min(threads, k)
		j.chunk = (k + parts - 1) / parts
		j.nt = (k + j.chunk - 1) / j.chunk
		ws0 = p.getWorkspace()
		ws0.c = grow(ws0.c, (j.nt-1)*m*n)
		j.kbuf = ws0.c
	}
	if j.nt < 2 {
		p.jobs.put(j)
		if ws0 != nil {
			p.putWorkspace(ws0)
		}
		return false
	}

	reserveWorkers(j.nt - 1)
	j.wg.Add(j.nt - 1)
	for i := 1; i < j.nt; i++ {
		tasks <- task{j, i}
	}
	j.run(0, ws0)
	j.wg.Wait()
	if mode == modeSplitK {
		// C += the partial products of parts 1..nt-1.
		for t := 1; t < j.nt; t++ {
			part := j.kbuf[(t-1)*m*n : t*m*n]
			for i := 0; i < m; i++ {
				cr := c[i*ldc : i*ldc+n]
				pr := part[i*n : i*n+n]
				for x := range cr {
					cr[x] += pr[x]
				}
			}
		}
	}
	if ws0 != nil {
		p.putWorkspace(ws0)
	}
	j.a, j.b, j.c, j.bbuf, j.kbuf = nil, nil, nil, nil, nil
	p.jobs.put(j)
	return true
}

func (j *job[T]) runTask(part int) { j.run(part, nil) }

func (j *job[T]) taskDone() { j.wg.Done() }

// run executes goroutine tid's share of the job. ws, if not nil, is the
// workspace whose b buffer is the shared B buffer.
func (j *job[T]) run(tid int, ws *workspace[T]) {
	if j.mode != modeShared {
		j.runStatic(tid)
		return
	}
	p := j.p
	if ws == nil {
		ws = p.getWorkspace()
		defer p.putWorkspace(ws)
	}
	nr, nt := p.nr, j.nt
	ws.a = grow(ws.a, j.mcMax*j.kcMax)
	half := j.kcMax * j.ncMax
	n, k := j.n, j.k
	a, b, c := j.a, j.b, j.c
	lda, ldb, ldc := j.lda, j.ldb, j.ldc
	phase := 0
	for jc := 0; jc < n; jc += j.ncMax {
		nc := min(j.ncMax, n-jc)
		np := (nc + nr - 1) / nr
		for pc := 0; pc < k; pc += j.kcMax {
			kc := min(j.kcMax, k-pc)
			buf := j.bbuf[(phase&1)*half : (phase&1)*half+half]
			// This goroutine's share of the B panel.
			if lo, hi := tid*np/nt, (tid+1)*np/nt; lo < hi {
				j0, j1 := jc+lo*nr, min(jc+hi*nr, n)
				if j.transB {
					p.packB(buf[lo*nr*kc:], b[j0*ldb+pc:], ldb, true, kc, j1-j0, nr)
				} else {
					p.packB(buf[lo*nr*kc:], b[pc*ldb+j0:], ldb, false, kc, j1-j0, nr)
				}
			}
			j.bar.wait()
			if tid == 0 {
				// Every goroutine has finished claiming in the previous
				// phase (it passed the barrier), and none claims in the
				// next phase before the next barrier.
				j.claim[(phase+1)&1].Store(0)
			}
			bt := j.beta
			if pc > 0 {
				bt = 1
			}
			for {
				ic, mc := j.claimRows(&j.claim[phase&1])
				if mc == 0 {
					break
				}
				if j.transA {
					p.packA(ws.a, a[pc*lda+ic:], lda, true, mc, kc)
				} else {
					p.packA(ws.a, a[ic*lda+pc:], lda, false, mc, kc)
				}
				macroKernel(p, ws.a, buf, ws.tmp, mc, nc, kc, j.alpha, bt, c[ic*ldc+jc:], ldc)
			}
			phase++
		}
	}
}

// claimRows claims the next block of rows [ic, ic+mc) of the current phase
// (mc == 0 when none are left). Blocks are about 1/(2·nt) of the remaining
// rows, between minClaim and mcMax, so the goroutines finish a phase
// together even when one of them is slower or started late.
func (j *job[T]) claimRows(next *atomic.Int64) (ic, mc int) {
	for {
		cur := next.Load()
		rem := j.m - int(cur)
		if rem <= 0 {
			return 0, 0
		}
		size := (rem + 2*j.nt - 1) / (2 * j.nt)
		size = (size + mr - 1) / mr * mr
		size = min(max(size, minClaim), j.mcMax, rem)
		if next.CompareAndSwap(cur, cur+int64(size)) {
			return int(cur), size
		}
	}
}

// runStatic computes part tid of a statically split job as a serial GEMM.
func (j *job[T]) runStatic(tid int) {
	lo := tid * j.chunk
	a, b, c := j.a, j.b, j.c
	m, n, k := j.m, j.n, j.k
	beta, ldc := j.beta, j.ldc
	switch j.mode {
	case modeSplitM:
		m = min(lo+j.chunk, m) - lo
		if j.transA {
			a = a[lo:]
		} else {
			a = a[lo*j.lda:]
		}
		c = c[lo*ldc:]
	case modeSplitN:
		n = min(lo+j.chunk, n) - lo
		if j.transB {
			b = b[lo*j.ldb:]
		} else {
			b = b[lo:]
		}
		c = c[lo:]
	case modeSplitK:
		k = min(lo+j.chunk, k) - lo
		if j.transA {
			a = a[lo*j.lda:]
		} else {
			a = a[lo:]
		}
		if j.transB {
			b = b[lo:]
		} else {
			b = b[lo*j.ldb:]
		}
		if tid > 0 {
			c, ldc, beta = j.kbuf[(tid-1)*m*n:], n, 0
		}
	}
	serialPart(j.p, j.transA, j.transB, m, n, k, j.alpha, a, j.lda, b, j.ldb, beta, c, ldc)
}

// barrier is a reusable barrier for the goroutines of one job. Waiters spin
// briefly (phases are short and usually well balanced), then yield, then
// sleep on a condition variable.
type barrier struct {
	n        int32
	count    atomic.Int32
	gen      atomic.Uint32
	mu       sync.Mutex
	cond     sync.Cond
	sleepers int
}

func (b *barrier) reset(n int) {
	b.n = int32(n)
	b.count.Store(0)
	b.cond.L = &b.mu
}

const (
	barrierSpins = 2000
	barrierYield = 500 * time.Microsecond
)

func (b *barrier) wait() {
	g := b.gen.Load()
	if b.count.Add(1) == b.n {
		b.count.Store(0)
		b.mu.Lock()
		b.gen.Add(1)
		if b.sleepers > 0 {
			b.cond.Broadcast()
		}
		b.mu.Unlock()
		return
	}
	for i := 0; i < barrierSpins; i++ {
		if b.gen.Load() != g {
			return
		}
	}
	start := time.Now()
	for time.Since(start) < barrierYield {
		runtime.Gosched()
		if b.gen.Load() != g {
			return
		}
	}
	b.mu.Lock()
	for b.gen.Load() == g {
		b.sleepers++
		b.cond.Wait()
		b.sleepers--
	}
	b.mu.Unlock()
}
