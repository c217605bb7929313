// Kinds of plugin: what each one is called on disk, how the host starts it
// and how it asks the plugin for its Info. Each kind is one entry of kinds.

package plugins

import (
	"context"
	"fmt"
	"os/exec"
	"sort"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// Kind is what a plugin provides: a compute backend or a sequence mixer. A
// plugin of kind K named N is an executable called mohawk-K-N.
type Kind string

const (
	KindBackend Kind = "backend"
	KindMixer   Kind = "mixer"
)

// Prefix is the start of the file name of every plugin of kind k.
func (k Kind) Prefix() string { return "mohawk-" + string(k) + "-" }

// Valid reports whether k is a kind the host knows.
func (k Kind) Valid() bool { return k == KindBackend || k == KindMixer }

func (k Kind) check() error {
	if !k.Valid() {
		return fmt.Errorf("unknown plugin kind %q (want %q or %q)", string(k), KindBackend, KindMixer)
	}
	return nil
}

// Info is what every plugin reports about itself, whatever its kind.
type Info struct {
	Kind       Kind
	Name       string // as the plugin names itself
	Version    string
	APIVersion int
}

// kindSpec is how the host talks to one kind of plugin.
type kindSpec struct {
	// clientConfig is the kind's go-plugin configuration (handshake cookie,
	// versioned plugin sets, gRPC options) for the unstarted cmd.
	clientConfig func(cmd *exec.Cmd) *goplugin.ClientConfig
	// dispense is the name of the plugin in the kind's plugin set.
	dispense string
	// apiVersion is the version of the kind's contract this host speaks.
	apiVersion int
	// describe asks the dispensed plugin for its Info; detail is the kind's
	// own info (*backend.Info for a backend, *mixer.Info for a mixer).
	describe func(ctx context.Context, raw any) (info Info, detail any, err error)
	// supervise wraps the dispensed plugin so that every call is bound to the
	// life of the plugin's process (see Plugin.call).
	supervise func(p *Plugin, raw any) any
}

// kinds are the kinds a host can launch.
var kinds = map[Kind]kindSpec{
	KindBackend: {
		clientConfig: backend.ClientConfig,
		dispense:     backend.PluginName,
		apiVersion:   backend.APIVersion,
		describe: func(ctx context.Context, raw any) (Info, any, error) {
			b, ok := raw.(backend.Backend)
			if !ok {
				return Info{}, nil, fmt.Errorf("dispensed %T, which is not a backend.Backend", raw)
			}
			bi, err := b.Info(ctx)
			if err != nil {
				return Info{}, nil, err
			}
			if bi == nil {
				return Info{}, nil, fmt.Errorf("Info returned no info")
			}
			return Info{Kind: KindBackend, Name: bi.Name, Version: bi.Version, APIVersion: bi.APIVersion}, bi, nil
		},
		supervise: func(p *Plugin, raw any) any {
			return &supervisedBackend{p: p, b: raw.(backend.Backend)}
		},
	},
	KindMixer: {
		clientConfig: mixer.ClientConfig,
		dispense:     mixer.PluginName,
		apiVersion:   mixer.APIVersion,
		describe: func(ctx context.Context, raw any) (Info, any, error) {
			m, ok := raw.(mixer.Mixer)
			if !ok {
				return Info{}, nil, fmt.Errorf("dispensed %T, which is not a mixer.Mixer", raw)
			}
			// mixer.Client checks the schema (Schema.Validate) and that the
			// mixer has a name.
			mi, err := m.Info(ctx)
			if err != nil {
				return Info{}, nil, err
			}
			if mi == nil {
				return Info{}, nil, fmt.Errorf("Info returned no info")
			}
			return Info{Kind: KindMixer, Name: mi.Name, Version: mi.Version, APIVersion: mi.APIVersion}, mi, nil
		},
		supervise: func(p *Plugin, raw any) any {
			return &supervisedMixer{p: p, m: raw.(mixer.Mixer)}
		},
	},
}

func launchable() []string {
	var ks []string
	for k := range kinds {
		ks = append(ks, string(k))
	}
	sort.Strings(ks)
	return ks
}
