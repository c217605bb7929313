//go:build unix

// Tests of mixer plugins with real plugin processes: the example
// linear-attention mixer launched, asked for its Info and fragments, and
// passing the mixer conformance kit through the supervised Mixer; a mixer
// that dies inside Forward; a mixer of another API version.

package plugins

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/mixertest"
)

// defaultConfig is the configuration of a mixer block left empty: the
// schema's defaults.
func defaultConfig(t *testing.T, s mixer.Schema) cty.Value {
	t.Helper()
	v, diags := mixer.DecodeConfig(hcl.EmptyBody(), s, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return v
}

func TestLaunchMixer(t *testing.T) {
	var logs logBuffer
	p := launch(t, foundKind(t, KindMixer, "linear-attention"), &logs)

	if info := p.Info(); info.Kind != KindMixer || info.Name != "linear-attention" || info.Version == "" || info.APIVersion != mixer.APIVersion {
		t.Errorf("Info() = %+v", info)
	}
	if p.Program() != "mohawk-mixer-linear-attention" {
		t.Errorf("Program() = %q", p.Program())
	}
	mi := p.MixerInfo()
	if mi == nil {
		t.Fatal("MixerInfo() = nil")
	}
	if want := (mixer.Capabilities{MixingMatrix: true, Step: true, InitFromTeacher: true}); mi.Capabilities != want {
		t.Errorf("capabilities %+v, want %+v", mi.Capabilities, want)
	}
	var attrs []string
	for _, a := range mi.Schema.Attributes {
		attrs = append(attrs, a.Name)
	}
	if strings.Join(attrs, ",") != "heads,eps" {
		t.Errorf("schema attributes %v, want heads, eps", attrs)
	}
	if p.Backend() != nil || p.BackendInfo() != nil {
		t.Error("a mixer plugin has a Backend")
	}

	ctx := context.Background()
	m := p.Mixer()
	l := mixer.Layer{Config: defaultConfig(t, mi.Schema), Dims: mixer.Dims{Batch: 2, SeqLen: 8, DModel: 8, Heads: 2, KVHeads: 2, DType: graph.F32}}
	specs, err := m.Params(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 4 {
		t.Errorf("Params: %d specs, want 4 (q, k, v, o)", len(specs))
	}
	g, err := m.Forward(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	// The client checked the fragment (CheckFragment); look at its output.
	var y *graph.Type
	for _, o := range g.Outputs {
		if o.Name == mixer.OutputY {
			ty := g.Type(o.Value)
			y = &ty
		}
	}
	if y == nil || !y.Equal(graph.Type{DType: graph.F32, Shape: graph.Shape{2, 8, 8}}) {
		t.Errorf("Forward: output y of type %v, want f32[2,8,8]", y)
	}

	// An error of the mixer passes through as it is, at once.
	bad := l
	bad.Config = cty.ObjectVal(map[string]cty.Value{"heads": cty.NumberIntVal(3), "eps": cty.NumberFloatVal(1e-6)})
	start := time.Now()
	_, err = m.Forward(ctx, bad)
	var re *mixer.RemoteError
	if !errors.As(err, &re) || re.Message != "heads: 3 heads must divide d_model 8" || time.Since(start) > time.Second {
		t.Errorf("Forward with 3 heads of d_model 8: %v after %s, want the mixer's own error at once", err, time.Since(start))
	}

	// Every method of the supervised Mixer works: it passes the kit.
	mixertest.Run(t, m, []mixertest.Case{{Name: "defaults", Layer: l}})

	p.Close()
	if _, err := m.Forward(ctx, l); !errors.Is(err, ErrClosed) {
		t.Errorf("Forward after Close: %v, want ErrClosed", err)
	}
	if ev := logs.find(t, "plugin died"); ev != nil {
		t.Errorf("a plugin stopped by Close was logged as exiting: %v", ev)
	}
}

func TestMixerCrashDuringForward(t *testing.T) {
	var logs logBuffer
	p := launch(t, foundKind(t, KindMixer, "crash"), &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := mixer.Layer{Config: defaultConfig(t, p.MixerInfo().Schema), Dims: mixer.Dims{Batch: 1, SeqLen: 4, DModel: 4, Heads: 1, KVHeads: 1, DType: graph.F32}}
	if _, err := p.Mixer().Params(ctx, l); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	_, err := p.Mixer().Forward(ctx, l)
	took := time.Since(start)
	if err == nil {
		t.Fatal("Forward of the crashing mixer succeeded")
	}
	if took > 5*time.Second {
		t.Errorf("the error came %s after the call, want within 5 s", took)
	}
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %T %v, want an *ExitError", err, err)
	}
	if ee.Call != "Forward" || ee.Before || ee.State != "exit status 3" {
		t.Errorf("ExitError = %+v", ee)
	}
	for _, s := range []string{`plugin "mohawk-mixer-crash"`, p.Path(), "exited during Forward: exit status 3", "mixercrash: exiting with status 3 inside Forward"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not mention %q: %v", s, err)
		}
	}
	t.Log(err)

	// Every later call fails at once, saying the plugin was gone before it.
	for _, c := range []struct {
		name string
		f    func() error
	}{
		{"Info", func() error { _, err := p.Mixer().Info(ctx); return err }},
		{"Params", func() error { _, err := p.Mixer().Params(ctx, l); return err }},
		{"MixingMatrix", func() error { _, err := p.Mixer().MixingMatrix(ctx, l); return err }},
		{"Step", func() error { _, err := p.Mixer().Step(ctx, l); return err }},
		{"InitFromTeacher", func() error { _, err := p.Mixer().InitFromTeacher(ctx, l); return err }},
	} {
		start := time.Now()
		err := c.f()
		if !errors.As(err, &ee) || !ee.Before || ee.Call != c.name || time.Since(start) > 100*time.Millisecond {
			t.Errorf("%s after the crash: %v after %s, want an ExitError at once", c.name, err, time.Since(start))
		}
	}
	if ev := logs.find(t, "plugin died"); ev == nil || ev["plugin"] != "mohawk-mixer-crash" || ev["level"] != "error" {
		t.Errorf("the death was not logged as an error of the plugin: %v", ev)
	}
}

func TestMixerAPIVersionRefused(t *testing.T) {
	fd := foundKind(t, KindMixer, "oldapi")
	_, err := Launch(context.Background(), fd, Options{})
	var ve *APIVersionError
	if !errors.As(err, &ve) || ve.Kind != KindMixer {
		t.Fatalf("Launch of a mixer of API version 99: %v, want an *APIVersionError", err)
	}
	for _, s := range []string{`"mohawk-mixer-oldapi"`, "mixer API version 99", "mixer API version 1"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not mention %q: %v", s, err)
		}
	}
}

func TestDiscoverMixers(t *testing.T) {
	f := &Finder{Locations: []Location{{SourceUserDir, bin}}}
	got, err := f.Discover(KindMixer)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fd := range got {
		if fd.Kind != KindMixer || fd.Source != SourceUserDir {
			t.Errorf("found %+v", fd)
		}
		names = append(names, fd.Name)
	}
	if strings.Join(names, ",") != "crash,linear-attention,oldapi" {
		t.Errorf("mixers found: %v, want crash, linear-attention, oldapi", names)
	}
	backends, err := f.Discover(KindBackend)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range backends {
		if strings.HasPrefix(fd.Name, "mixer") {
			t.Errorf("a mixer listed as a backend: %+v", fd)
		}
	}
}
