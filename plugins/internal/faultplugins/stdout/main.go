// Command stdout is a backend plugin for the tests of the plugin host: the
// CPU backend, but it prints a line to stdout before it calls Serve, which
// breaks go-plugin's handshake (the host reads the handshake line from the
// plugin's stdout). The host must fail the launch at once with an error that
// says so, not wait for its start timeout.
package main

import (
	"fmt"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/sdk/backend"
)

func main() {
	fmt.Println("stdout: hello before Serve")
	backend.Serve(cpu.NewService(cpu.Options{Threads: 1}))
}
