// A backend built on graph.Evaluate, the reference interpreter: the suite
// must pass it (its checks agree with the reference and its own contract),
// and faulty variants of it must fail the checks meant to catch them.

package backendtest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// fault selects a deliberate bug of refBackend.
type fault struct {
	staleElement   bool                             // element 0 of every output keeps the previous run's value
	dropExclusive  bool                             // cumsum ignores Exclusive
	serialUpdates  bool                             // each update sees the ones applied before it
	panicOnBadID   bool                             // an out-of-range gather id panics
	jitter         bool                             // every other run perturbs float outputs by one ulp
	sloppyF64      bool                             // f64 outputs off by a relative 1e-9
	sloppyMatMul   bool                             // f32 matmul results off by a relative 3e-5
	aliasSet       bool                             // SetTensor keeps the caller's tensor
	refuse         func(graph.Op, graph.DType) bool // Compile refuses these (op, dtype) pairs
	noFused        bool                             // lists no fused op: the suite decomposes them
	updateOnError  bool                             // a failed run still applies the updates it can compute
	hangOnMissing  bool                             // Run blocks when an input is missing
	wrongErrorText bool                             // errors name nothing
}

type refBackend struct {
	f        fault
	mu       sync.Mutex
	resident map[string]*graph.Tensor
	programs map[backend.ProgramID]*refProgram
	next     backend.ProgramID
}

type refProgram struct {
	g    *graph.Graph
	last map[string]*graph.Tensor
	runs int
}

func newRef(f fault) *refBackend {
	return &refBackend{f: f, resident: map[string]*graph.Tensor{}, programs: map[backend.ProgramID]*refProgram{}}
}

var allFused = []graph.Op{graph.OpSoftmax, graph.OpLogSoftmax, graph.OpLayerNorm, graph.OpRMSNorm, graph.OpCrossEntropy}

func (r *refBackend) Info(ctx context.Context) (*backend.Info, error) {
	info := &backend.Info{Name: "reference", Version: "1", APIVersion: backend.APIVersion,
		Devices: []backend.Device{{Name: "graph.Evaluate", Kind: "cpu"}},
		DTypes:  []graph.DType{graph.F32, graph.F64, graph.I32}, FusedOps: allFused}
	if r.f.noFused {
		info.FusedOps = nil
	}
	return info, nil
}

func (r *refBackend) errorf(format string, args ...any) error {
	if r.f.wrongErrorText {
		return fmt.Errorf("failed")
	}
	return fmt.Errorf("reference: "+format, args...)
}

func (r *refBackend) SetTensor(ctx context.Context, name string, t *graph.Tensor) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := t.Check(); err != nil {
		return r.errorf("SetTensor %q: %v", name, err)
	}
	if old, ok := r.resident[name]; ok && !old.Type.Equal(t.Type) {
		return r.errorf("SetTensor %q: holds %v, found %v", name, old.Type, t.Type)
	}
	if r.f.aliasSet {
		r.resident[name] = t
	} else {
		r.resident[name] = t.Clone()
	}
	return nil
}

func (r *refBackend) Tensor(ctx context.Context, name string) (*graph.Tensor, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.resident[name]
	if !ok {
		return nil, r.errorf("no resident tensor %q", name)
	}
	return t.Clone(), nil
}

func (r *refBackend) DeleteTensor(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.resident[name]; !ok {
		return r.errorf("no resident tensor %q", name)
	}
	delete(r.resident, name)
	return nil
}

func (r *refBackend) Compile(ctx context.Context, g *graph.Graph) (backend.ProgramID, error) {
	if err := g.Validate(graph.DefaultLimits); err != nil {
		return 0, r.errorf("%v", err)
	}
	for i, n := range g.Nodes {
		if n.Type.DType != graph.F32 && n.Type.DType != graph.F64 && n.Type.DType != graph.I32 {
			return 0, r.errorf("node %d (%v): dtype %v is not supported", i, n.Op, n.Type.DType)
		}
		if r.f.refuse != nil && r.f.refuse(n.Op, n.Type.DType) {
			return 0, r.errorf("node %d: %v in %v is not supported", i, n.Op, n.Type.DType)
		}
	}
	c := &graph.Graph{Nodes: slices.Clone(g.Nodes), Outputs: slices.Clone(g.Outputs), Updates: slices.Clone(g.Updates)}
	if r.f.dropExclusive {
		for i := range c.Nodes {
			if c.Nodes[i].Op == graph.OpCumsum {
				c.Nodes[i].Attrs.Exclusive = false
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	r.programs[r.next] = &refProgram{g: c}
	return r.next, nil
}

func (r *refBackend) Release(ctx context.Context, id backend.ProgramID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.programs[id]; !ok {
		return r.errorf("no program %d", id)
	}
	delete(r.programs, id)
	return nil
}

func (r *refBackend) Run(ctx context.Context, id backend.ProgramID, inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	r.mu.Lock()
	p, ok := r.programs[id]
	r.mu.Unlock()
	if !ok {
		return nil, r.errorf("no program %d", id)
	}
	g := p.g
	bind := map[string]*graph.Tensor{}
	for _, n := range g.Nodes {
		switch n.Op {
		case graph.OpInput:
			t := inputs[n.Name]
			if t == nil {
				if r.f.hangOnMissing {
					select {}
				}
				return nil, r.errorf("input %q (%v) is not bound", n.Name, n.Type)
			}
			if err := t.Check(); err != nil {
				return nil, r.errorf("input %q: %v", n.Name, err)
			}
			if !t.Type.Equal(n.Type) {
				return nil, r.errorf("input %q: expected %v, found %v", n.Name, n.Type, t.Type)
			}
			bind[n.Name] = t
			if r.f.panicOnBadID {
				for _, c := range g.Nodes {
					if c.Op == graph.OpGather && g.Nodes[c.Inputs[1]].Name == n.Name {
						for _, v := range t.I32 {
							if int(v) >= g.Nodes[c.Inputs[0]].Type.Shape[0] {
								panic("index out of range")
							}
						}
					}
				}
			}
		case graph.OpParam, graph.OpState:
			r.mu.Lock()
			t := r.resident[n.Name]
			r.mu.Unlock()
			if t == nil {
				return nil, r.errorf("%v %q is not set", n.Type, n.Name)
			}
			if !t.Type.Equal(n.Type) {
				return nil, r.errorf("resident %q: the graph expects %v, the backend holds %v", n.Name, n.Type, t.Type)
			}
			bind[n.Name] = t.Clone()
		}
	}
	outs, upds, err := graph.Evaluate(g, bind)
	if err != nil {
		if r.f.updateOnError {
			// Apply the updates of a graph without its outputs, when that
			// can be computed.
			if _, u, err2 := graph.Evaluate(&graph.Graph{Nodes: g.Nodes, Updates: g.Updates}, bind); err2 == nil {
				r.apply(u)
			} else {
				r.mu.Lock()
				for _, n := range g.Nodes {
					if n.Op == graph.OpState && n.Type.DType == graph.I32 {
						if t := r.resident[n.Name]; t != nil && t.Len() == 1 {
							t.I32[0]++
						}
					}
				}
				r.mu.Unlock()
			}
		}
		return nil, r.errorf("%v", err)
	}
	if r.f.serialUpdates {
		for _, u := range g.Updates {
			name := g.Nodes[u.Target].Name
			for k := range bind {
				r.mu.Lock()
				if t, ok := r.resident[k]; ok {
					bind[k] = t.Clone()
				}
				r.mu.Unlock()
			}
			_, up, err := graph.Evaluate(g, bind)
			if err != nil {
				return nil, err
			}
			r.apply(map[string]*graph.Tensor{name: up[name]})
		}
	} else {
		r.apply(upds)
	}
	p.runs++
	odd := p.runs%2 == 1
	for name, t := range outs {
		if r.f.staleElement && p.last != nil && p.last[name] != nil && t.Len() > 0 && p.last[name].Len() == t.Len() {
			t.Set(0, p.last[name].At(0))
		}
		if r.f.jitter && odd {
			for i := range t.F32 {
				t.F32[i] = math.Nextafter32(t.F32[i], float32(math.Inf(1)))
			}
			for i := range t.F64 {
				t.F64[i] = math.Nextafter(t.F64[i], math.Inf(1))
			}
		}
		if r.f.sloppyF64 {
			for i := range t.F64 {
				t.F64[i] *= 1 + 1e-9
			}
		}
		if r.f.sloppyMatMul && t.DType == graph.F32 {
			for _, o := range g.Outputs {
				if o.Name == name && g.Nodes[o.Value].Op == graph.OpMatMul {
					for i := range t.F32 {
						t.F32[i] *= 1 + 3e-5
					}
				}
			}
		}
	}
	if r.f.staleElement {
		p.last = map[string]*graph.Tensor{}
		for k, v := range outs {
			p.last[k] = v.Clone()
		}
	}
	return outs, nil
}

func (r *refBackend) apply(upds map[string]*graph.Tensor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, v := range upds {
		t := r.resident[name]
		copy(t.F32, v.F32)
		copy(t.F64, v.F64)
		copy(t.I32, v.I32)
	}
}
