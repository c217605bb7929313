package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/mohawk-distill/mohawk/framework/pipeline"
)

// openDiags loads src and opens it, returning Open's diagnostics.
func openDiags(t *testing.T, src string) (hcl.Diagnostics, string) {
	t.Helper()
	dir := t.TempDir()
	p := writePipeline(t, dir, "p.hcl", src)
	e, diags := Open(context.Background(), p, testOptions(t))
	if e != nil {
		e.Close()
	}
	var b strings.Builder
	p.DiagnosticWriter(&b, false).WriteDiagnostics(diags)
	return diags, b.String()
}

func TestOpenLayerOutOfRange(t *testing.T) {
	t.Parallel()
	diags, text := openDiags(t, tinyTeacher+`
student "s" {
  mixer "mamba2" {
    layers = [0, 30]
  }
}
`)
	if !diags.HasErrors() {
		t.Fatal("no error for layer 30 of a 2-layer teacher")
	}
	t.Log(text)
	d := diags[0]
	if !strings.Contains(d.Detail, `layer 30 is out of range: teacher "tiny" has layers 0 to 1`) {
		t.Errorf("detail %q", d.Detail)
	}
	// The line of the layers attribute.
	want := 0
	for i, l := range strings.Split(tinyTeacher+"\nstudent", "\n") {
		if strings.HasPrefix(l, "student") {
			want = i + 3
		}
	}
	if d.Subject == nil || d.Subject.Start.Line != want || !strings.HasSuffix(d.Subject.Filename, "p.hcl") {
		t.Errorf("subject %v, expected p.hcl line %d", d.Subject, want)
	}
	if !strings.Contains(text, "layers = [0, 30]") {
		t.Errorf("the printed diagnostic does not show the line:\n%s", text)
	}
}

func TestOpenUnreachablePlugins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExe := filepath.Join(dir, "mohawk-mixer-ghost")
	if err := os.WriteFile(notExe, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	diags, text := openDiags(t, tinyTeacher+`
plugin "mixer" "ghost" {
  path = "`+notExe+`"
}
student "a" {
  mixer "ghost" {}
}
student "b" {
  mixer "nosuchmixer" {}
}
plugin "mixer" "unused" {
  path = "`+filepath.Join(dir, "missing")+`"
}
`)
	t.Log(text)
	var ghost, nosuch, unused bool
	for _, d := range diags {
		if d.Subject == nil {
			continue
		}
		ghost = ghost || strings.Contains(d.Detail, `mixer plugin "ghost": the path given for it cannot be used`)
		nosuch = nosuch || strings.Contains(d.Detail, `no mixer plugin "nosuchmixer"`)
		unused = unused || strings.Contains(d.Detail, `mixer plugin "unused": the path given for it cannot be used`)
	}
	if !ghost || !nosuch || !unused {
		t.Errorf("expected diagnostics for the unusable ghost plugin, the missing nosuchmixer and the unused plugin's missing file, got:\n%s", text)
	}
}

func TestOpenUnknownBackend(t *testing.T) {
	t.Parallel()
	src := strings.Replace(tinyTeacher, `backend "cpu" { threads = 1 }`, `backend "quantum" {}`, 1)
	diags, text := openDiags(t, src)
	if !diags.HasErrors() || !strings.Contains(text, `no backend plugin "quantum"`) || !strings.Contains(text, `backend "quantum"`) {
		t.Errorf("diagnostics:\n%s", text)
	}
}

func TestOpenMixerAttributeTypo(t *testing.T) {
	t.Parallel()
	diags, text := openDiags(t, tinyTeacher+`
student "s" {
  mixer "mamba2" {
    varient = "discrete"
  }
}
`)
	if !diags.HasErrors() || !strings.Contains(text, "variant") {
		t.Errorf("expected an unknown-attribute diagnostic suggesting variant:\n%s", text)
	}
}

func TestConfigFromMap(t *testing.T) {
	t.Parallel()
	cfg, raw, err := ConfigFromMap(map[string]any{"model_type": "phi", "vocab_size": 257, "hidden_size": 32,
		"num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 32})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Phi == nil || cfg.Phi.DModel != 32 || !strings.Contains(string(raw), `"model_type":"phi"`) {
		t.Errorf("%+v %s", cfg, raw)
	}
	if _, _, err := ConfigFromMap(map[string]any{"model_type": "bert"}); err == nil {
		t.Error("bert accepted")
	}
	_ = pipeline.Vars{}
}

func TestBackendEnv(t *testing.T) {
	t.Parallel()
	got := strings.Join(backendEnv(pipeline.Backend{Name: "vulkan", Threads: 3, Device: "1"}), " ")
	if got != "GOMAXPROCS=3 MOHAWK_VULKAN_THREADS=3 MOHAWK_VULKAN_DEVICE=1" {
		t.Errorf("backendEnv = %q", got)
	}
	if env := backendEnv(pipeline.Backend{Name: "cpu"}); len(env) != 0 {
		t.Errorf("backendEnv of a plain block = %q", env)
	}
}
