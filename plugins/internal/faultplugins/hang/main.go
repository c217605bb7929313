// Command hang is a backend plugin for the tests of the plugin host: the CPU
// backend, but Run never returns (it ignores its context too). The tests
// kill it from outside while a Run is in flight; the host must report its
// death within seconds. It also writes to stderr before Serve (straight to
// the process's stderr) and in Info (through Serve's redirection of
// os.Stderr), for the tests of the host's logging.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

type hanging struct{ *cpu.Service }

func (h hanging) Info(ctx context.Context) (*backend.Info, error) {
	fmt.Fprintln(os.Stderr, "hang: Info called")
	return h.Service.Info(ctx)
}

func (hanging) Run(ctx context.Context, p backend.ProgramID, inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	for {
		time.Sleep(time.Hour)
	}
}

func main() {
	fmt.Fprintln(os.Stderr, "hang: ready")
	backend.Serve(hanging{cpu.NewService(cpu.Options{Threads: 1})})
}
