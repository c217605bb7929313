// Command mohawk-backend-vulkan is the Vulkan backend as a plugin: mohawk's
// host launches it and talks to it over gRPC (sdk/backend). Run by hand it
// answers -version and -devices. MOHAWK_VULKAN_DEVICE selects the device
// (an index or part of its name). Where Vulkan is missing the plugin still
// starts, and every call returns why, suggesting the cpu backend.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/mohawk-distill/mohawk/backends/vulkan"
	"github.com/mohawk-distill/mohawk/sdk/backend"
)

func main() {
	version := flag.Bool("version", false, "print the version and exit")
	devices := flag.Bool("devices", false, "list the Vulkan devices and exit")
	flag.Parse()
	// Safe on stdout: without Serve there is no handshake to break.
	if *version {
		fmt.Printf("mohawk-backend-vulkan %s (backend API %d, wire protocol %d, %s %s/%s)\n",
			vulkan.Version, backend.APIVersion, backend.ProtocolVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		os.Exit(0)
	}
	if *devices {
		devs, err := vulkan.Devices()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, d := range devs {
			fmt.Printf("%d\t%s\t%s\t%d MiB\n", d.Index, d.Kind, d.Name, d.MemoryBytes>>20)
		}
		os.Exit(0)
	}
	// Nothing may be written to stdout before Serve: see backend.Serve.
	b, err := vulkan.New(vulkan.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		backend.Serve(vulkan.Unavailable{Err: err})
		return
	}
	backend.Serve(b)
}
