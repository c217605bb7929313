// mohawk plugin serve KIND NAME: the built-in plugins served from the mohawk
// executable itself. When a pipeline names a mixer or backend that no
// external plugin provides, the engine launches os.Executable() with these
// arguments, so that a single binary is all a user installs while built-ins
// still run as real go-plugin processes, exactly like third-party plugins.
// The command is hidden from the usage: people never type it.

package main

import (
	"fmt"
	"os"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/mixers/attention"
	"github.com/mohawk-distill/mohawk/mixers/hybrid"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// builtinMixers are the mixers mohawk serves itself, by plugin name.
var builtinMixers = map[string]func() mixer.Mixer{
	"attention": func() mixer.Mixer { return attention.Mixer{} },
	"mamba2":    func() mixer.Mixer { return mamba2.Mixer{} },
	"hybrid":    func() mixer.Mixer { return hybrid.Mixer{} },
}

// builtinBackends are the backends mohawk serves itself, by plugin name.
var builtinBackends = map[string]func() backend.Backend{
	"cpu": func() backend.Backend { return cpu.NewService(cpu.Options{}) },
}

// runPluginServe serves one built-in plugin until the host ends it. It must
// not write to stdout before Serve: go-plugin's handshake line goes there,
// and the host reads the first line as that line. Errors go to stderr,
// which the host logs under the plugin's name.
func runPluginServe(args []string) int {
	if len(args) != 3 || args[0] != "serve" {
		fmt.Fprintf(os.Stderr, "usage: mohawk plugin serve mixer|backend NAME (started by mohawk itself, not by hand); got %q\n", args)
		return 2
	}
	kind, name := args[1], args[2]
	switch kind {
	case "mixer":
		m, ok := builtinMixers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "mohawk plugin serve: no built-in mixer %q; built-in mixers: attention, hybrid, mamba2\n", name)
			return 2
		}
		mixer.Serve(m())
	case "backend":
		b, ok := builtinBackends[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "mohawk plugin serve: no built-in backend %q; built-in backends: cpu\n", name)
			return 2
		}
		backend.Serve(b())
	default:
		fmt.Fprintf(os.Stderr, "mohawk plugin serve: kind %q: want mixer or backend\n", kind)
		return 2
	}
	return 0
}
