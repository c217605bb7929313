// Persistent worker goroutines that run the parts of parallel GEMM calls,
// and the thread-count setting. Handing a part to a worker is a channel send
// of a small value, so a steady-state parallel call does not allocate.

package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// runner is a parallel job: runTask runs one part; taskDone then tells the
// job's caller that the part has finished.
type runner interface {
	runTask(part int)
	taskDone()
}

type task struct {
	r    runner
	part int
}

var (
	threads atomic.Int32
	tasks   = make(chan task, 64)

	workerMu    sync.Mutex
	idleWorkers int // workers not running a task, less those reserved
)

func init() {
	threads.Store(int32(max(1, runtime.GOMAXPROCS(0))))
}

// SetThreads sets how many goroutines one SGEMM or DGEMM call may use.
// Values below 1 mean 1 (serial). The default is runtime.GOMAXPROCS(0).
func SetThreads(n int) {
	threads.Store(int32(max(1, n)))
}

// Threads reports how many goroutines one SGEMM or DGEMM call may use.
func Threads() int {
	return int(threads.Load())
}

// reserveWorkers reserves n idle workers for the tasks a call is about to
// send, starting new ones if too few are idle. The parts of a shared-B job
// wait for each other at barriers, so they must all run at once: reserving
// guarantees that every queued task has a worker of its own, even when
// several parallel calls run concurrently. Workers live for the life of the
// process, so their number is the largest concurrent demand seen.
func reserveWorkers(n int) {
	workerMu.Lock()
	for idleWorkers < n {
		go worker()
		idleWorkers++
	}
	idleWorkers -= n
	workerMu.Unlock()
}

// workerSpin is how long a worker keeps polling for the next task after
// finishing one before it blocks: back-to-back calls (a training step) then
// do not pay the tens of microseconds it takes to wake a sleeping thread.
const workerSpin = 200 * time.Microsecond

func worker() {
	for {
		t, ok := pollTask()
		if !ok {
			t = <-tasks
		}
		t.r.runTask(t.part)
		// Idle again before the caller can return and reserve workers for
		// its next call, so that call does not start a needless worker.
		workerMu.Lock()
		idleWorkers++
		workerMu.Unlock()
		t.r.taskDone()
	}
}

// pollTask polls the task channel for up to workerSpin.
func pollTask() (task, bool) {
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case t := <-tasks:
			return t, true
		default:
		}
		if i%16 == 15 && time.Since(start) > workerSpin {
			return task{}, false
		}
		runtime.Gosched()
	}
}

// freeList is a mutex-protected stack of reusable objects. Unlike a
// sync.Pool it is not emptied by the garbage collector, so steady-state
// calls never reallocate (multi-megabyte) packing buffers. It holds at most
// as many objects as were ever in use at once.
type freeList[X any] struct {
	mu   sync.Mutex
	free []*X
}

func (l *freeList[X]) get() *X {
	l.mu.Lock()
	if n := len(l.free); n > 0 {
		x := l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
		l.mu.Unlock()
		return x
	}
	l.mu.Unlock()
	return new(X)
}

func (l *freeList[X]) put(x *X) {
	l.mu.Lock()
	l.free = append(l.free, x)
	l.mu.Unlock()
}
