// Command mohawk-mixer-hybrid serves the hybrid mixer (attention kept at
// some layers, or sliding-window attention beside the SSD in every layer)
// as a mohawk plugin. The host launches it; run by hand, it only answers
// -version.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mohawk-distill/mohawk/mixers/hybrid"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		// Safe on stdout: without Serve there is no handshake to break.
		fmt.Printf("mohawk-mixer-hybrid %s (mixer API %d)\n", hybrid.Version, mixer.APIVersion)
		os.Exit(0)
	}
	// Nothing may be written to stdout before Serve.
	mixer.Serve(hybrid.Mixer{})
}
