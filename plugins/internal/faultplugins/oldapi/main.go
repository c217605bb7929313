// Command oldapi is a backend plugin for the tests of the plugin host: the
// CPU backend, but its Info reports backend API version 99. The host must
// refuse it with an error naming the plugin, its version and the host's.
package main

import (
	"context"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/sdk/backend"
)

type oldAPI struct{ *cpu.Service }

func (o oldAPI) Info(ctx context.Context) (*backend.Info, error) {
	info, err := o.Service.Info(ctx)
	if err != nil {
		return nil, err
	}
	info.APIVersion = 99
	return info, nil
}

func main() {
	backend.Serve(oldAPI{cpu.NewService(cpu.Options{Threads: 1})})
}
