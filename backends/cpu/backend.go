// The Backend: options, the worker pool and the resident tensors (params and
// state) that every program compiled on the backend reads and updates.

package cpu

import (
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Options configure a Backend.
type Options struct {
	// Threads is the number of goroutines that split kernels (the caller
	// included); 0 means runtime.GOMAXPROCS(0).
	Threads int
}

// Backend holds resident tensors by name and compiles graphs into programs
// that run on them. Its methods are safe for concurrent use; runs of the
// programs compiled on one backend are serialised.
type Backend struct {
	mu       sync.Mutex
	threads  int
	pool     *pool
	resident map[string]*graph.Tensor
}

// New returns a backend. Its worker goroutines stop when the backend becomes
// unreachable, or at Close.
func New(opts Options) *Backend {
	t := opts.Threads
	if t <= 0 {
		t = runtime.GOMAXPROCS(0)
	}
	b := &Backend{threads: t, pool: newPool(t), resident: map[string]*graph.Tensor{}}
	runtime.AddCleanup(b, func(p *pool) { p.close() }, b.pool)
	return b
}

// Threads is the number of goroutines that split kernels.
func (b *Backend) Threads() int { return b.threads }

// Close stops the worker goroutines; programs compiled on b then run on the
// calling goroutine only.
func (b *Backend) Close() { b.pool.close() }

// SetTensor creates the resident tensor name with a copy of t, or overwrites
// the existing one in place; an existing tensor keeps its type, so t must
// match it.
func (b *Backend) SetTensor(name string, t *graph.Tensor) error {
	if name == "" {
		return fmt.Errorf("cpu: SetTensor: empty name")
	}
	if err := t.Check(); err != nil {
		return fmt.Errorf("cpu: SetTensor %q: %v", name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.resident[name]; ok {
		if !old.Type.Equal(t.Type) {
			return fmt.Errorf("cpu: SetTensor %q: backend holds %v, found %v", name, old.Type, t.Type)
		}
		copy(old.F32, t.F32)
		copy(old.F64, t.F64)
		copy(old.I32, t.I32)
		return nil
	}
	c := graph.NewTensor(t.DType, t.Shape...)
	copy(c.F32, t.F32)
	copy(c.F64, t.F64)
	copy(c.I32, t.I32)
	b.resident[name] = c
	return nil
}

// Tensor returns a copy of the resident tensor name.
func (b *Backend) Tensor(name string) (*graph.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.resident[name]
	if !ok {
		return nil, fmt.Errorf("cpu: no resident tensor %q", name)
	}
	return t.Clone(), nil
}

// Names lists the resident tensors, sorted.
func (b *Backend) Names() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.resident))
	for n := range b.resident {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// DeleteTensor frees the resident tensor name.
func (b *Backend) DeleteTensor(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.resident[name]; !ok {
		return fmt.Errorf("cpu: no resident tensor %q", name)
	}
	delete(b.resident, name)
	return nil
}
