//go:build unix

package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mohawk-distill/mohawk/plugins"
)

// launchBuiltin launches "mohawk plugin serve kind name" through the plugin
// host, as the engine launches a built-in plugin.
func launchBuiltin(t *testing.T, kind plugins.Kind, name string) *plugins.Plugin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	p, err := plugins.Launch(ctx, plugins.Builtin(kind, name, filepath.Join(bin, "mohawk")), plugins.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestPluginServeBuiltins(t *testing.T) {
	for _, name := range []string{"mamba2", "attention", "hybrid"} {
		p := launchBuiltin(t, plugins.KindMixer, name)
		info, err := p.Mixer().Info(context.Background())
		if err != nil {
			t.Fatalf("mixer %s: Info: %v", name, err)
		}
		if info.Name != name || !info.Capabilities.Step {
			t.Errorf("mixer %s: Info %+v, want name %q with a step fragment", name, info, name)
		}
	}
	p := launchBuiltin(t, plugins.KindBackend, "cpu")
	if info := p.BackendInfo(); info == nil || info.Name != "cpu" {
		t.Errorf("backend cpu: Info %+v, want name cpu", info)
	}
}

func TestPluginServeBadArgs(t *testing.T) {
	for _, args := range [][]string{
		{"plugin", "serve", "mixer", "nosuch"},
		{"plugin", "serve", "widget", "cpu"},
		{"plugin", "serve"},
	} {
		r := mohawk(t, t.TempDir(), "", args...)
		if r.code != 2 || r.stdout != "" || r.stderr == "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, nothing on stdout, a message on stderr", args, r.code, r.stdout, r.stderr)
		}
	}
}
