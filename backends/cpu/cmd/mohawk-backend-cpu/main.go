// Command mohawk-backend-cpu is the CPU backend as a plugin: mohawk's host
// launches it and talks to it over gRPC (sdk/backend). Run by hand, it only
// answers -version.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/sdk/backend"
)

func main() {
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		// Safe on stdout: without Serve there is no handshake to break.
		fmt.Printf("mohawk-backend-cpu %s (backend API %d, wire protocol %d, %s %s/%s)\n",
			cpu.Version, backend.APIVersion, backend.ProtocolVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		os.Exit(0)
	}
	// Nothing may be written to stdout before Serve: see backend.Serve.
	backend.Serve(cpu.NewService(cpu.Options{}))
}
