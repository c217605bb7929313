// Service: the CPU backend behind the sdk/backend contract, so the engine,
// the conformance suite and the plugin binary all drive it the same way.

package cpu

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Version is the version of the CPU backend.
const Version = "0.1.0"

// Service implements backend.Backend on a Backend.
type Service struct {
	b        *Backend
	mu       sync.Mutex
	next     backend.ProgramID
	programs map[backend.ProgramID]*Program
}

// NewService returns a CPU backend service with its own resident tensors.
func NewService(opts Options) *Service {
	return &Service{b: New(opts), programs: map[backend.ProgramID]*Program{}}
}

// Backend returns the executor behind s.
func (s *Service) Backend() *Backend { return s.b }

// Close stops the worker goroutines.
func (s *Service) Close() { s.b.Close() }

var _ backend.Backend = (*Service)(nil)

func (s *Service) Info(ctx context.Context) (*backend.Info, error) {
	return &backend.Info{
		Name: "cpu", Version: Version, APIVersion: backend.APIVersion,
		Devices:  []backend.Device{{Index: 0, Name: fmt.Sprintf("%s/%s, %d threads", runtime.GOOS, runtime.GOARCH, s.b.Threads()), Kind: "cpu"}},
		DTypes:   []graph.DType{graph.F32, graph.F64, graph.I32},
		FusedOps: []graph.Op{graph.OpSoftmax, graph.OpLogSoftmax, graph.OpLayerNorm, graph.OpRMSNorm, graph.OpCrossEntropy},
	}, nil
}

func (s *Service) SetTensor(ctx context.Context, name string, t *graph.Tensor) error {
	return s.b.SetTensor(name, t)
}

func (s *Service) Tensor(ctx context.Context, name string) (*graph.Tensor, error) {
	return s.b.Tensor(name)
}

func (s *Service) DeleteTensor(ctx context.Context, name string) error {
	return s.b.DeleteTensor(name)
}

func (s *Service) Compile(ctx context.Context, g *graph.Graph) (backend.ProgramID, error) {
	p, err := s.b.Compile(g)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	s.programs[s.next] = p
	return s.next, nil
}

func (s *Service) program(id backend.ProgramID) (*Program, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.programs[id]
	if !ok {
		return nil, fmt.Errorf("cpu: no program %d (never compiled, or released)", id)
	}
	return p, nil
}

func (s *Service) Run(ctx context.Context, id backend.ProgramID, inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	p, err := s.program(id)
	if err != nil {
		return nil, err
	}
	return p.Run(inputs)
}

func (s *Service) Release(ctx context.Context, id backend.ProgramID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.programs[id]; !ok {
		return fmt.Errorf("cpu: no program %d (never compiled, or released)", id)
	}
	delete(s.programs, id)
	return nil
}
