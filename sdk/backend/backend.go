// Package backend is the contract between mohawk's engine and a compute
// backend: the Backend interface a backend implements (in process, or in a
// plugin process through Serve), and the types it speaks in. A backend is a
// graph executor: it keeps named tensors resident (parameters, optimizer
// state), compiles whole programs once and runs them many times.
//
// A backend plugin's main calls Serve with its Backend; the host launches it
// with a go-plugin client built from ClientConfig and dispenses PluginName to
// get a *Client, which is a Backend too. Between them, tensors and graphs
// travel in chunks of ChunkSize bytes, so a transfer of any size needs no
// message near the MaxMessageSize limit and no memory beyond its destination.
package backend

import (
	"context"
	"slices"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// APIVersion is the version of this contract. A backend reports the version
// it implements in Info; the host refuses a backend of another version.
const APIVersion = 1

// Info describes a backend: what it is, where it runs and what it can do.
type Info struct {
	Name       string
	Version    string
	APIVersion int
	Devices    []Device
	// DTypes are the dtypes its programs may use.
	DTypes []graph.DType
	// FusedOps are the fused ops it runs natively; the host decomposes the
	// others (graph.Decompose) before Compile.
	FusedOps []graph.Op
}

// Decompose returns g with every fused op the backend does not run
// natively (FusedOps) replaced by its decomposition, as Compile expects; a
// nil Info runs none natively.
func (i *Info) Decompose(g *graph.Graph) (*graph.Graph, error) {
	var native []graph.Op
	if i != nil {
		native = i.FusedOps
	}
	return graph.Decompose(g, func(op graph.Op) bool { return slices.Contains(native, op) })
}

// Device is one processor a backend can run on.
type Device struct {
	Index       int
	Name        string
	Kind        string // "cpu", "gpu"
	MemoryBytes int64  // 0 when unknown
}

// ProgramID names a compiled program within one backend.
type ProgramID uint64

// Backend is a graph executor.
//
// Resident tensors are created or overwritten by SetTensor and read back by
// Tensor; every program compiled on the backend binds its params and state
// to them by name and writes its updates into them in place after each run
// (the donated buffers). Per-step data (token ids, masks, learning rates)
// travels with Run.
type Backend interface {
	Info(ctx context.Context) (*Info, error)

	// SetTensor creates the resident tensor name holding a copy of t, or
	// overwrites it; an existing tensor keeps its type.
	SetTensor(ctx context.Context, name string, t *graph.Tensor) error
	// Tensor returns a copy of the resident tensor name.
	Tensor(ctx context.Context, name string) (*graph.Tensor, error)
	// DeleteTensor frees the resident tensor name.
	DeleteTensor(ctx context.Context, name string) error

	// Compile validates g and prepares it to run.
	Compile(ctx context.Context, g *graph.Graph) (ProgramID, error)
	// Run binds inputs (every input of the program, by name, of exactly its
	// type), runs the program, applies its updates to the resident tensors
	// and returns its outputs. A failed run applies no update.
	Run(ctx context.Context, p ProgramID, inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error)
	// Release frees a compiled program.
	Release(ctx context.Context, p ProgramID) error
}
