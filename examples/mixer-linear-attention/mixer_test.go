package main

import (
	"io"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/mixertest"
	"github.com/zclconf/go-cty/cty"
)

func TestConformance(t *testing.T) {
	cfg := func(heads int) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{"heads": cty.NumberIntVal(int64(heads)), "eps": cty.NumberFloatVal(1e-6)})
	}
	mixertest.Run(t, linearAttention{}, []mixertest.Case{
		{Name: "teacher_heads", Layer: mixer.Layer{Config: cfg(0), Dims: mixer.Dims{Batch: 2, SeqLen: 7, DModel: 8, Heads: 2, KVHeads: 2}}},
		{Name: "one_head", Layer: mixer.Layer{Config: cfg(1), Dims: mixer.Dims{Batch: 1, SeqLen: 5, DModel: 6, Heads: 3, KVHeads: 3}}},
	})
}

func TestBadConfig(t *testing.T) {
	_, err := linearAttention{}.Params(t.Context(), mixer.Layer{
		Config: cty.ObjectVal(map[string]cty.Value{"heads": cty.NumberIntVal(3), "eps": cty.NumberFloatVal(1e-6)}),
		Dims:   mixer.Dims{Batch: 1, SeqLen: 4, DModel: 8, Heads: 2},
	})
	if err == nil || err.Error() != "heads: 3 heads must divide d_model 8" {
		t.Fatalf("got %v", err)
	}
}

// The built plugin, launched as a real process and driven over gRPC, passes
// the same kit.
func TestConformanceAsPlugin(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "mohawk-mixer-linear-attention")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
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
	cfgVal := cty.ObjectVal(map[string]cty.Value{"heads": cty.NumberIntVal(0), "eps": cty.NumberFloatVal(1e-6)})
	mixertest.Run(t, m, []mixertest.Case{{Name: "plugin", Layer: mixer.Layer{Config: cfgVal, Dims: mixer.Dims{Batch: 2, SeqLen: 7, DModel: 8, Heads: 2, KVHeads: 2}}}})
}
