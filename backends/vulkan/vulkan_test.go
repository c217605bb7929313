package vulkan_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/vulkan"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/backendtest"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// newBackend opens the default device, skipping the test where the machine
// has no Vulkan loader or device (CI installs lavapipe, so it runs there).
func newBackend(t testing.TB) *vulkan.Backend {
	t.Helper()
	b, err := vulkan.New(vulkan.Options{})
	if errors.Is(err, vulkan.ErrNoLoader) || errors.Is(err, vulkan.ErrNoDevice) {
		skipOrFail(t, "no Vulkan here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// requireEnv, set to 1 (as CI does), turns the skips for a missing Vulkan
// or glslc into failures.
const requireEnv = "MOHAWK_VULKAN_REQUIRE"

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf(format+" ("+requireEnv+"=1)", args...)
	}
	t.Skipf(format, args...)
}

// TestConformance runs the backend conformance suite.
func TestConformance(t *testing.T) {
	b := newBackend(t)
	t.Logf("device: %s", b.DeviceName())
	backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t) },
		backendtest.Options{Large: !testing.Short(), Skip: noF64})
}

// noF64: some checks mix in f64 values (a where condition, a cast), which
// this backend refuses at Compile.
func noF64(op graph.Op, dt graph.DType) bool { return dt == graph.F64 }

// TestSPIRVMatchesSources recompiles every shader and compares the bytes
// with the committed SPIR-V, so the embedded code is what the sources say.
func TestSPIRVMatchesSources(t *testing.T) {
	if _, err := exec.LookPath("glslc"); err != nil {
		skipOrFail(t, "glslc is not installed (Debian: glslc); CI checks the SPIR-V")
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "shaders/compile.sh")
	cmd.Env = append(os.Environ(), "OUT="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compile.sh: %v\n%s", err, out)
	}
	fresh, _ := filepath.Glob(filepath.Join(dir, "*.spv"))
	committed, _ := filepath.Glob("shaders/*.spv")
	if len(fresh) == 0 || len(fresh) != len(committed) {
		t.Fatalf("%d shaders compiled, %d committed", len(fresh), len(committed))
	}
	for _, f := range fresh {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join("shaders", filepath.Base(f))
		got, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%s is not committed: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its source; run go generate ./backends/vulkan", name)
		}
	}
}
