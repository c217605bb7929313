// Command mixercrash is a mixer plugin for the tests of the plugin host: a
// small mixer whose Forward writes a line to stderr and exits the process
// with status 3. The host must turn this into one error that names the
// plugin and the call.
package main

import (
	"fmt"
	"os"

	"github.com/mohawk-distill/mohawk/plugins/internal/faultplugins/faultmixer"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// stderr is file descriptor 2 itself: Serve points os.Stderr at the plugin
// connection instead, which dies with the process and may lose the last
// lines.
var stderr = os.NewFile(2, "stderr")

func main() {
	fmt.Fprintln(os.Stderr, "mixercrash: ready")
	mixer.Serve(faultmixer.Mixer{Name: "crash", BeforeForward: func() {
		fmt.Fprintln(stderr, "mixercrash: exiting with status 3 inside Forward")
		os.Exit(3)
	}})
}
