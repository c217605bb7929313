// Shared set-up of the engine tests: the mohawk executable (which serves the
// built-in plugins through "mohawk plugin serve") is built once into a
// temporary folder, and pipelines are written from templates into each
// test's own folder.

package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mohawk-distill/mohawk/framework/pipeline"
	"github.com/mohawk-distill/mohawk/plugins"
)

// mohawkExe is the mohawk executable built by TestMain.
var mohawkExe string

// exeEnv hands the built executable to a child test process (see
// TestRunChild), which is killed and so could not remove a folder of its own.
const exeEnv = "MOHAWK_ENGINE_TEST_EXE"

func TestMain(m *testing.M) {
	if exe := os.Getenv(exeEnv); exe != "" {
		mohawkExe = exe
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "engine-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	mohawkExe = filepath.Join(dir, "mohawk")
	cmd := exec.Command("go", "build", "-o", mohawkExe, "github.com/mohawk-distill/mohawk/cmd/mohawk")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build mohawk for the engine tests: %v\n%s", err, out)
	} else {
		code = m.Run()
	}
	plugins.Shutdown()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testOptions run the built-ins from the test's mohawk and search no folder
// for plugin executables, so that nothing installed on the machine is used.
func testOptions(t *testing.T) Options {
	return Options{Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), Progress: -1,
		PluginExe: mohawkExe, PluginLocations: []plugins.Location{}}
}

// textDir is the folder of the test corpus.
func textDir(t *testing.T) string {
	d, err := filepath.Abs("testdata/text")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// writePipeline writes src (with {{TEXT}} replaced by the corpus folder)
// as dir/name and loads it.
func writePipeline(t *testing.T, dir, name, src string) *pipeline.Pipeline {
	t.Helper()
	src = strings.ReplaceAll(src, "{{TEXT}}", textDir(t))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, diags := pipeline.Load(path, pipeline.Vars{})
	if diags.HasErrors() {
		t.Fatalf("load %s: %s", name, diags.Error())
	}
	return p
}

// open opens p with the test options, failing the test on error
// diagnostics, and closes the engine at the test's end.
func open(t *testing.T, p *pipeline.Pipeline, opt Options) *Engine {
	t.Helper()
	e, diags := Open(context.Background(), p, opt)
	if diags.HasErrors() {
		t.Fatalf("Open: %s", diags.Error())
	}
	t.Cleanup(e.Close)
	return e
}

// tinyTeacher is a from-scratch Phi teacher: d 32, 2 layers, 2 heads, T 32.
const tinyTeacher = `
backend "cpu" { threads = 1 }
teacher "tiny" {
  config = { model_type = "phi", vocab_size = 257, hidden_size = 32, num_hidden_layers = 2,
             num_attention_heads = 2, intermediate_size = 64, max_position_embeddings = 32 }
  seed = 3
}
dataset "text" {
  files      = ["{{TEXT}}/*.txt"]
  tokenizer  = "bytes"
  seq_len    = 32
  validation = 0.05
}
evaluate {
  dataset = dataset.text
  tokens  = 2048
}
`
