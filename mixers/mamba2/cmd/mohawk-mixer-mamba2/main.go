// Command mohawk-mixer-mamba2 serves the Mamba-2 (SSD) mixer, discrete and
// continuous variants, as a mohawk plugin. The host launches it; run by
// hand, it only answers -version.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		// Safe on stdout: without Serve there is no handshake to break.
		fmt.Printf("mohawk-mixer-mamba2 %s (mixer API %d)\n", mamba2.Version, mixer.APIVersion)
		os.Exit(0)
	}
	// Nothing may be written to stdout before Serve.
	mixer.Serve(mamba2.Mixer{})
}
