package hybrid

import (
	"io"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/mixertest"
)

// The built plugin, launched as a real process and driven over gRPC, passes
// the same kit, and answers -version.
func TestConformanceAsPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	bin := filepath.Join(t.TempDir(), "mohawk-mixer-hybrid")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/mohawk-mixer-hybrid").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-version").Output()
	if err != nil || string(out) != "mohawk-mixer-hybrid "+Version+" (mixer API 1)\n" {
		t.Errorf("-version: %q, %v", out, err)
	}
	cfg := mixer.ClientConfig(exec.Command(bin))
	cfg.Stderr = io.Discard
	pc := plugin.NewClient(cfg)
	t.Cleanup(pc.Kill)
	rpc, err := pc.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(mixer.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := raw.(mixer.Mixer)
	if !ok {
		t.Fatalf("dispensed a %T, expected a mixer.Mixer", raw)
	}
	mixertest.Run(t, m, cases(full))
}
