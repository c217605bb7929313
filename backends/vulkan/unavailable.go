package vulkan

import (
	"context"
	"fmt"
	"strings"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Unavailable is a Backend for a machine where New failed: every call
// returns the reason, with the advice to use the CPU backend, so a plugin
// still completes its handshake and the host reports one clear error
// instead of a plugin that died at start.
type Unavailable struct{ Err error }

var _ backend.Backend = Unavailable{}

func (u Unavailable) err() error {
	if strings.Contains(u.Err.Error(), "cpu backend") {
		return u.Err
	}
	return fmt.Errorf("%w (the vulkan backend cannot run here; the cpu backend can)", u.Err)
}

func (u Unavailable) Info(context.Context) (*backend.Info, error) { return nil, u.err() }
func (u Unavailable) SetTensor(context.Context, string, *graph.Tensor) error {
	return u.err()
}
func (u Unavailable) Tensor(context.Context, string) (*graph.Tensor, error) { return nil, u.err() }
func (u Unavailable) DeleteTensor(context.Context, string) error            { return u.err() }
func (u Unavailable) Compile(context.Context, *graph.Graph) (backend.ProgramID, error) {
	return 0, u.err()
}
func (u Unavailable) Run(context.Context, backend.ProgramID, map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	return nil, u.err()
}
func (u Unavailable) Release(context.Context, backend.ProgramID) error { return u.err() }
