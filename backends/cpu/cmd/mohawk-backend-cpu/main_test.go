//go:build unix

// The CPU backend passes the conformance suite as a plugin: the built
// mohawk-backend-cpu, launched by the plugin host (package plugins) as
// mohawk launches it, runs every check of sdk/backendtest over gRPC.

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mohawk-distill/mohawk/plugins"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/backendtest"
)

// pluginPath is the plugin built by TestMain.
var pluginPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mohawk-backend-cpu-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginPath = filepath.Join(dir, "mohawk-backend-cpu")
	code := 1
	if out, err := exec.Command("go", "build", "-o", pluginPath, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
	} else {
		code = m.Run()
	}
	plugins.Shutdown()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestConformanceAsPlugin runs backendtest against the plugin. The suite
// wants a backend without resident tensors from every newBackend call, and
// the wire has no call that lists a backend's tensors, so each call
// launches a fresh plugin process (a launch takes a few milliseconds),
// which the subtest closes when it ends.
func TestConformanceAsPlugin(t *testing.T) {
	fd := plugins.Found{Kind: plugins.KindBackend, Name: "cpu", Path: pluginPath, Source: plugins.SourceExplicit}
	var launches atomic.Int32
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The plugin's stderr goes to the test log at warnings and above.
		logger := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
		p, err := plugins.Launch(ctx, fd, plugins.Options{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		launches.Add(1)
		t.Cleanup(p.Close)
		return p.Backend()
	}, backendtest.Options{Large: !testing.Short()})
	t.Logf("%d plugin processes launched", launches.Load())
}
