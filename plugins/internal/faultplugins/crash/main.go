// Command crash is a backend plugin for the tests of the plugin host: the
// CPU backend, except that Run writes a line to stderr and exits the process
// with status 3. The host must turn this into one error that names the
// plugin and the call.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// stderr is file descriptor 2 itself, where the Go runtime writes a panic.
// Serve points os.Stderr at the plugin connection instead, which dies with
// the process and may lose the last lines.
var stderr = os.NewFile(2, "stderr")

type crashing struct{ *cpu.Service }

func (crashing) Run(ctx context.Context, p backend.ProgramID, inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	fmt.Fprintln(stderr, "crash: exiting with status 3 inside Run")
	os.Exit(3)
	return nil, nil
}

func main() {
	fmt.Fprintln(os.Stderr, "crash: ready")
	backend.Serve(crashing{cpu.NewService(cpu.Options{Threads: 1})})
}
