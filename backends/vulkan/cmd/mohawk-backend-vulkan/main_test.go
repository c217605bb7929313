//go:build unix

// The plugin as mohawk launches it: it answers over gRPC on a machine with
// Vulkan, and on one without it still starts and says, at Info, what is
// missing and that the cpu backend can run instead.

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mohawk-distill/mohawk/plugins"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

var pluginPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mohawk-backend-vulkan-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginPath = filepath.Join(dir, "mohawk-backend-vulkan")
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

func launch(t *testing.T, env ...string) (*plugins.Plugin, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fd := plugins.Found{Kind: plugins.KindBackend, Name: "vulkan", Path: pluginPath, Source: plugins.SourceExplicit}
	logger := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	p, err := plugins.Launch(ctx, fd, plugins.Options{Logger: logger, Env: env})
	if err == nil {
		t.Cleanup(p.Close)
	}
	return p, err
}

func TestPluginRuns(t *testing.T) {
	p, err := launch(t)
	if err != nil {
		if strings.Contains(err.Error(), "no Vulkan loader") || strings.Contains(err.Error(), "no usable Vulkan device") {
			if os.Getenv("MOHAWK_VULKAN_REQUIRE") == "1" {
				t.Fatal(err)
			}
			t.Skipf("no Vulkan here: %v", err)
		}
		t.Fatal(err)
	}
	info := p.BackendInfo()
	if info.Name != "vulkan" || len(info.Devices) != 1 {
		t.Fatalf("Info: %+v", info)
	}
	t.Logf("device %s", info.Devices[0].Name)
	be := p.Backend()
	b := graph.NewBuilder()
	b.Output("y", b.Softmax(b.Input("x", graph.F32, 2, 3)))
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := be.Compile(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	out, err := be.Run(ctx, id, map[string]*graph.Tensor{"x": graph.FromF32([]float32{0, 0, 0, 1, 1, 1}, 2, 3)})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out["y"].F32 {
		if d := v - 1.0/3; d > 1e-6 || d < -1e-6 {
			t.Errorf("y[%d] = %v, expected 1/3", i, v)
		}
	}
}

func TestPluginWithoutLoader(t *testing.T) {
	_, err := launch(t, "MOHAWK_VULKAN_LOADER=libvulkan-missing.so.1")
	if err == nil {
		t.Fatal("the plugin started without a Vulkan loader and reported no error")
	}
	wants := []string{"libvulkan-missing.so.1", "cpu backend", "mohawk-backend-vulkan"}
	if strings.Contains(err.Error(), "without cgo") { // it never opens a loader
		wants = wants[1:]
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	t.Log(err)
}
