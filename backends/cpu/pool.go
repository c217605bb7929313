// The persistent worker pool: a fixed set of goroutines, started once per
// backend, that split index ranges of one kernel at a time. Handing out work
// costs a channel send per woken worker and an atomic add per chunk, and
// allocates nothing, so a steady-state Run stays allocation-free.

package cpu

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// minParallel is the number of elements (or element-equivalents of work)
// below which a kernel runs on the calling goroutine.
const minParallel = 4096

// pool runs parallelFor jobs on threads goroutines: the caller plus
// threads-1 workers.
type pool struct {
	threads int
	wake    []chan struct{} // one per worker, capacity 1
	done    chan struct{}   // capacity threads
	mu      sync.Mutex      // one job at a time
	closed  bool

	// The current job, written before the workers are woken: fn, or fnw
	// for bodies that need the worker's index (0 is the caller).
	fn    func(lo, hi int)
	fnw   func(w, lo, hi int)
	n     int
	chunk int
	next  atomic.Int64
	pval  atomic.Pointer[panicBox] // first panic of the job
}

type panicBox struct{ v any }

func newPool(threads int) *pool {
	p := &pool{threads: max(threads, 1)}
	p.wake = make([]chan struct{}, p.threads-1)
	p.done = make(chan struct{}, p.threads)
	for i := range p.wake {
		p.wake[i] = make(chan struct{}, 1)
		go p.worker(i+1, p.wake[i])
	}
	return p
}

func (p *pool) worker(w int, wake chan struct{}) {
	for range wake {
		p.work(w)
		p.done <- struct{}{}
	}
}

// work takes chunks of the current job until none are left; a panic in fn is
// recorded for the caller rather than crashing the process.
func (p *pool) work(w int) {
	defer func() {
		if r := recover(); r != nil {
			p.pval.CompareAndSwap(nil, &panicBox{r})
			p.next.Store(int64(p.n)) // stop handing out chunks
		}
	}()
	for {
		lo := int(p.next.Add(int64(p.chunk))) - p.chunk
		if lo >= p.n {
			return
		}
		if p.fnw != nil {
			p.fnw(w, lo, min(lo+p.chunk, p.n))
		} else {
			p.fn(lo, min(lo+p.chunk, p.n))
		}
	}
}

// close stops the workers. The pool must not be used afterwards.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, w := range p.wake {
		close(w)
	}
}

// parallelFor calls fn over disjoint subranges covering [0, n), in parallel
// when n is at least 2*grain (grain: the smallest worthwhile range). fn must
// not call parallelFor. A panic in any range is re-raised on the caller.
func (p *pool) parallelFor(n, grain int, fn func(lo, hi int)) {
	p.run(n, grain, fn, nil)
}

// parallelForW is parallelFor for a body that also takes the index of the
// goroutine running it, in [0, threads): the caller is 0. Bodies use it to
// pick per-thread scratch space.
func (p *pool) parallelForW(n, grain int, fn func(w, lo, hi int)) {
	p.run(n, grain, nil, fn)
}

func (p *pool) run(n, grain int, fn func(lo, hi int), fnw func(w, lo, hi int)) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	serial := func() {
		if fnw != nil {
			fnw(0, 0, n)
		} else {
			fn(0, n)
		}
	}
	if p.threads == 1 || n < 2*grain {
		serial()
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		serial()
		return
	}
	// About four chunks per thread balance uneven progress.
	chunk := max(grain, (n+4*p.threads-1)/(4*p.threads))
	chunks := (n + chunk - 1) / chunk
	helpers := min(p.threads-1, chunks-1)
	p.fn, p.fnw, p.n, p.chunk = fn, fnw, n, chunk
	p.next.Store(0)
	for i := 0; i < helpers; i++ {
		p.wake[i] <- struct{}{}
	}
	p.work(0)
	for i := 0; i < helpers; i++ {
		<-p.done
	}
	p.fn, p.fnw = nil, nil
	var perr any
	if b := p.pval.Load(); b != nil {
		perr = b.v
		p.pval.Store(nil)
	}
	p.mu.Unlock()
	if perr != nil {
		panic(fmt.Sprintf("cpu: worker panic: %v", perr))
	}
}
