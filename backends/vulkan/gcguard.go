//go:build cgo

// The binding stores pointers into Go slices inside the C structs it
// builds, and computes some before calls that may grow (and so move) the
// goroutine's stack: every slice it gets is made on the heap (onHeap).
//
// It also converts Go structs to C memory whose release it ties to a
// finalizer on a value that is unreachable once the conversion returns, so
// a garbage collection during the Vulkan call can free what the driver is
// reading (seen as a crash in vkCreateComputePipelines). Until the binding
// is fixed, every stretch of Vulkan calls runs with the collector paused;
// waits for the device resume it.

package vulkan

import (
	"runtime/debug"
	"sync"
)

var gcPause struct {
	sync.Mutex
	depth int
	old   int
}

// pauseGC stops new collections (and waits for one in progress) until the
// matching resumeGC; pauses nest across goroutines.
func pauseGC() {
	gcPause.Lock()
	defer gcPause.Unlock()
	if gcPause.depth == 0 {
		gcPause.old = debug.SetGCPercent(-1)
	}
	gcPause.depth++
}

func resumeGC() {
	gcPause.Lock()
	defer gcPause.Unlock()
	gcPause.depth--
	if gcPause.depth == 0 {
		debug.SetGCPercent(gcPause.old)
	}
}

// lock takes the context for a stretch of Vulkan calls.
func (c *deviceContext) lock() {
	c.mu.Lock()
	pauseGC()
}

func (c *deviceContext) unlock() {
	resumeGC()
	c.mu.Unlock()
}

// onHeap returns a slice of vs whose array is on the heap, where the
// binding's pointers into it stay valid.
//
//go:noinline
func onHeap[T any](vs ...T) []T { return append([]T(nil), vs...) }
