// Program: a graph compiled once for this backend (buffers planned, kernels
// chosen, arguments precomputed) and run many times without allocating.

package cpu

import (
	"fmt"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

type elem interface{ float32 | float64 | int32 }
type float interface{ float32 | float64 }

// slot holds the current data of one value. Arena and constant slots are set
// at compile time; the slots of params, state and views of them are re-bound
// at the start of each run, since SetTensor may have replaced a tensor.
type slot[T elem] struct{ d []T }

type valKind uint8

const (
	kDead     valKind = iota // not needed by any output or update
	kArena                   // computed (or an input copied in): lives in an arena
	kResident                // a param or state: the backend's own buffer
	kConst                   // a constant or iota, computed at compile time
	kView                    // shares the buffer of another value (root) at an offset
	kFused                   // computed inside a later node's fused step: no buffer
)

// value is the compile-time record of one node's result (or of an extra
// buffer: an output copy or an update's staging copy).
type value struct {
	dt    graph.DType
	shape []int
	size  int
	kind  valKind
	root  int // the value owning the buffer (itself unless a view)
	off   int // element offset in root's buffer (views)
	start int // first time the buffer is written
	end   int // last time it is read
	aoff  int // offset in the arena of dt (arena roots)
	ptr   any // *slot[T] for T of dt
}

func slotOf[T elem](v *value) *slot[T] { return v.ptr.(*slot[T]) }

// step runs one node (and the nodes fused into it).
type step struct {
	node  int
	op    graph.Op
	nodes int // how many nodes it computes: 1, or the size of a fused group
	run   func() error
}

type inputBind struct {
	name string
	typ  graph.Type
	v    *value
	live bool
}

type residentBind struct {
	name string
	typ  graph.Type
	v    *value
}

type copyPair struct{ dst, src *value }

type outputBind struct {
	name  string
	typ   graph.Type
	v     *value
	t     *graph.Tensor
	shape graph.Shape
}

// Program is a compiled graph. Run it with Run; a program is tied to the
// backend that compiled it and reads and updates that backend's resident
// tensors.
type Program struct {
	b         *Backend
	vals      []value
	steps     []step
	inputs    []inputBind
	residents []residentBind
	views     []copyPair // views of resident buffers, re-bound per run: dst views src's root
	finals    []copyPair // output copies and update staging, before any update
	updates   []copyPair // dst: the target param or state
	outs      []outputBind
	outMap    map[string]*graph.Tensor

	arena32 []float32
	arena64 []float64
	arenaI  []int32
	scratch []fscratch // per thread: registers of the fused steps
}

// ArenaBytes is the size of the arenas that hold every computed value.
func (p *Program) ArenaBytes() int64 {
	return int64(len(p.arena32))*4 + int64(len(p.arena64))*8 + int64(len(p.arenaI))*4
}

// Compile validates g and prepares it to run on b: dead nodes are dropped,
// reshapes and other no-op movements become views, every buffer gets an
// offset in one arena per dtype (reused once its value is dead), and every
// node gets a kernel with its strides, broadcast plan and GEMM arguments
// precomputed.
func (b *Backend) Compile(g *graph.Graph) (p *Program, err error) {
	if err := g.Validate(graph.DefaultLimits); err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		switch n.Type.DType {
		case graph.F32, graph.F64, graph.I32:
		default:
			return nil, fmt.Errorf("cpu: dtype %v is not supported by the cpu backend: node %d (%s)", n.Type.DType, i, n.Op)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("cpu: compile failed: %v", r)
		}
	}()
	c := &compiler{g: g, p: &Program{b: b}}
	if err := c.compile(); err != nil {
		return nil, err
	}
	return c.p, nil
}

// Run binds inputs (copied in; every input of the graph must be bound with a
// tensor of exactly its type; extra names are ignored), reads params and
// state from the backend, runs every node, then writes the graph's updates in
// place into the backend's resident tensors (every update reads values
// computed before any is written) and returns the outputs by name.
//
// The returned map and its tensors are owned by the program: they are
// overwritten by the next Run of p, so copy what must outlive it. A
// steady-state Run allocates nothing. If Run fails, no update is written.
func (p *Program) Run(inputs map[string]*graph.Tensor) (outs map[string]*graph.Tensor, err error) {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			outs, err = nil, fmt.Errorf("cpu: run failed: %v", r)
		}
	}()
	if err := p.bindInputs(inputs); err != nil {
		return nil, err
	}
	if err := p.bindResidents(); err != nil {
		return nil, err
	}
	for _, s := range p.steps {
		if err := s.run(); err != nil {
			return nil, fmt.Errorf("cpu: node %d (%s): %w", s.node, s.op, err)
		}
	}
	for _, c := range p.finals {
		copyValue(c.dst, c.src)
	}
	for _, c := range p.updates {
		copyValue(c.dst, c.src)
	}
	for i := range p.outs {
		o := &p.outs[i]
		o.t.Type = graph.Type{DType: o.typ.DType, Shape: o.shape}
		o.t.F32, o.t.F64, o.t.I32 = nil, nil, nil
		switch o.v.dt {
		case graph.F32:
			o.t.F32 = slotOf[float32](o.v).d
		case graph.F64:
			o.t.F64 = slotOf[float64](o.v).d
		case graph.I32:
			o.t.I32 = slotOf[int32](o.v).d
		}
		if p.outMap[o.name] != o.t {
			p.outMap[o.name] = o.t
		}
	}
	return p.outMap, nil
}

func (p *Program) bindInputs(inputs map[string]*graph.Tensor) error {
	for i := range p.inputs {
		in := &p.inputs[i]
		t := inputs[in.name]
		if t == nil {
			return fmt.Errorf("cpu: input %q (%v) is not bound", in.name, in.typ)
		}
		if !t.Type.Equal(in.typ) {
			return fmt.Errorf("cpu: input %q: expected %v, found %v", in.name, in.typ, t.Type)
		}
		if t.Len() != in.v.size {
			return fmt.Errorf("cpu: input %q: expected %v, found a tensor of that type holding %d elements", in.name, in.typ, t.Len())
		}
		if !in.live {
			continue
		}
		switch in.typ.DType {
		case graph.F32:
			copy(slotOf[float32](in.v).d, t.F32)
		case graph.F64:
			copy(slotOf[float64](in.v).d, t.F64)
		case graph.I32:
			copy(slotOf[int32](in.v).d, t.I32)
		}
	}
	return nil
}

func (p *Program) bindResidents() error {
	res := p.b.resident
	for i := range p.residents {
		r := &p.residents[i]
		t := res[r.name]
		if t == nil {
			return fmt.Errorf("cpu: %v %q is not set in the backend", r.typ, r.name)
		}
		if !t.Type.Equal(r.typ) {
			return fmt.Errorf("cpu: resident %q: the graph expects %v, the backend holds %v", r.name, r.typ, t.Type)
		}
		switch r.typ.DType {
		case graph.F32:
			slotOf[float32](r.v).d = t.F32
		case graph.F64:
			slotOf[float64](r.v).d = t.F64
		case graph.I32:
			slotOf[int32](r.v).d = t.I32
		}
	}
	for _, c := range p.views {
		bindView(c.dst, c.src)
	}
	return nil
}

// bindView points view v at its place in root's current buffer.
func bindView(v, root *value) {
	switch v.dt {
	case graph.F32:
		d := slotOf[float32](root).d
		slotOf[float32](v).d = d[v.off : v.off+v.size : v.off+v.size]
	case graph.F64:
		d := slotOf[float64](root).d
		slotOf[float64](v).d = d[v.off : v.off+v.size : v.off+v.size]
	case graph.I32:
		d := slotOf[int32](root).d
		slotOf[int32](v).d = d[v.off : v.off+v.size : v.off+v.size]
	}
}

func copyValue(dst, src *value) {
	switch dst.dt {
	case graph.F32:
		copy(slotOf[float32](dst).d, slotOf[float32](src).d)
	case graph.F64:
		copy(slotOf[float64](dst).d, slotOf[float64](src).d)
	case graph.I32:
		copy(slotOf[int32](dst).d, slotOf[int32](src).d)
	}
}

// poison fills every arena with NaN (i32: a large sentinel), so a test can
// see elements a kernel forgot to write.
func (p *Program) poison() {
	nan32 := float32(nan())
	for i := range p.arena32 {
		p.arena32[i] = nan32
	}
	for i := range p.arena64 {
		p.arena64[i] = nan()
	}
	for i := range p.arenaI {
		p.arenaI[i] = -0x5a5a5a5a
	}
}
