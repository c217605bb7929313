//go:build unix

// Tests of the pipeline and model commands as a user runs them: validate on
// good and bad pipelines, run of a tiny pipeline, generate on a tiny saved
// student, and every command's -h.

package main

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/mohawk-distill/mohawk/framework/generate"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/plot"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// tinyPipeline is a from-scratch Phi teacher (d 32, 2 layers), its
// discrete Mamba-2 student and a corpus of {{TEXT}}/*.txt, followed by the
// stages of the test.
const tinyPipeline = `
backend "cpu" { threads = 1 }
teacher "tiny" {
  config = { model_type = "phi", vocab_size = 257, hidden_size = 32, num_hidden_layers = 2,
             num_attention_heads = 2, intermediate_size = 64, max_position_embeddings = 32 }
  seed = 3
}
student "ssd" {
  mixer "mamba2" {
    variant = "discrete"
  }
}
dataset "text" {
  files      = ["{{TEXT}}/*.txt"]
  tokenizer  = "bytes"
  seq_len    = 32
  validation = 0.1
}
evaluate {
  dataset = dataset.text
  tokens  = 256
}
`

// writeTinyPipeline writes a corpus and the pipeline tinyPipeline+stages
// into a new folder and returns the pipeline's path.
func writeTinyPipeline(t *testing.T, stages string) string {
	t.Helper()
	dir := t.TempDir()
	text := filepath.Join(dir, "text")
	if err := os.Mkdir(text, 0o755); err != nil {
		t.Fatal(err)
	}
	corpus := strings.Repeat("func main() { fmt.Println(\"hello, world\") }\n", 200)
	if err := os.WriteFile(filepath.Join(text, "a.txt"), []byte(corpus), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tiny.hcl")
	src := strings.ReplaceAll(tinyPipeline, "{{TEXT}}", text) + stages
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const kdStage = `
stage "kd" {
  kind         = "knowledge_distillation"
  model        = student.ssd
  dataset      = dataset.text
  tokens       = 2048
  batch_tokens = 512
  micro_batch  = 16
}
`

func TestValidate(t *testing.T) {
	path := writeTinyPipeline(t, kdStage)
	r := mohawk(t, t.TempDir(), "", "validate", path)
	if r.code != 0 {
		t.Fatalf("validate a good pipeline: exit %d, want 0", r.code)
	}
	want := path + ": valid (1 teacher, 1 student, 1 dataset, 1 stage: knowledge_distillation; backend cpu)"
	if strings.TrimSpace(r.stdout) != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
}

func TestValidateBad(t *testing.T) {
	for _, c := range []struct {
		name   string
		edit   func(src string) string
		marker string // the text the error points at: its line and column are expected
		want   string // the summary of that diagnostic
	}{
		{"typo", func(src string) string { return src + "stage \"kd\" {\n  kindd = \"knowledge_distillation\"\n}\n" },
			"kindd", "Unsupported argument"},
		{"layer out of range", func(src string) string {
			return strings.Replace(src, `variant = "discrete"`, `variant = "discrete"`+"\n    layers = [0, 7]", 1) + kdStage
		}, "layers = [0, 7]", "Layer out of range"},
		{"wrong type", func(src string) string {
			return strings.Replace(src, "seq_len    = 32", `seq_len    = "long"`, 1) + kdStage
		},
			`"long"`, "Incorrect attribute value type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeTinyPipeline(t, "")
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			src := c.edit(string(raw))
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			line, col := 0, 0
			for i, l := range strings.Split(src, "\n") {
				if j := strings.Index(l, c.marker); j >= 0 {
					line, col = i+1, j+1
					break
				}
			}
			r := mohawk(t, t.TempDir(), "", "validate", path)
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			// The line of the marker, and a column within it.
			// "Error: summary", then "on file:line:col" of the marker.
			at := regexp.MustCompile(`Error: ` + regexp.QuoteMeta(c.want) + `\n\n\s*on ` + regexp.QuoteMeta(path) + `:` + strconv.Itoa(line) + `:(\d+)`)
			m := at.FindStringSubmatch(r.stderr)
			if m == nil {
				t.Fatalf("stderr has no %q at %s:%d:\n%s", c.want, path, line, r.stderr)
			}
			if got, _ := strconv.Atoi(m[1]); got < col || got >= col+len(c.marker) {
				t.Errorf("column %d, want one within %q (columns %d to %d)", got, c.marker, col, col+len(c.marker)-1)
			}
			if strings.Contains(r.stdout, "valid") {
				t.Errorf("stdout says valid: %q", r.stdout)
			}
		})
	}
}

// saveTinyStudent saves a random Phi student of vocabulary 257 (bytes)
// with layer 1 a discrete Mamba-2, as a run saves one.
func saveTinyStudent(t *testing.T) string {
	t.Helper()
	cfg := models.HFConfig{Family: models.FamilyPhi, Phi: &models.PhiConfig{Vocab: 257, DModel: 32, Layers: 2, Heads: 2, SeqLen: 64, MLPHidden: 64}}
	attrs := map[string]cty.Value{}
	for _, a := range mamba2.Schema.Attributes {
		attrs[a.Name] = a.Default
	}
	attrs["variant"] = cty.StringVal(mamba2.VariantDiscrete)
	conf := cty.ObjectVal(attrs)
	raw, err := models.MarshalMixerConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	mixers := map[int]models.LayerMixer{1: {Mixer: mamba2.Mixer{}, Layer: mixer.Layer{Config: conf}}}
	lm, err := models.BuildStudent(context.Background(), graph.NewBuilder(), cfg, mixers, graph.F32, 1, 0, 11)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]*graph.Tensor{}
	for _, p := range lm.Params {
		params[p.Name] = p.Init
	}
	dir := t.TempDir()
	infos := map[int]models.StudentLayerInfo{1: {Name: "mamba2", Version: mamba2.Version, Config: raw}}
	if err := models.SaveStudent(dir, cfg, infos, params, ""); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestGenerate(t *testing.T) {
	dir := saveTinyStudent(t)
	r := mohawk(t, t.TempDir(), "", "generate", "-checkpoint", dir, "-prompt", "func ", "-max-tokens", "12", "-temperature", "0")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	// The command prints the prompt and the greedy continuation, which is
	// what the generate package gives in process.
	m, err := generate.Load(context.Background(), dir, generate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ids, err := m.Generate(context.Background(), []int{'f', 'u', 'n', 'c', ' '}, generate.Sampling{MaxTokens: 12, Stop: 256}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, id := range ids {
		if id < 256 {
			want = append(want, byte(id))
		}
	}
	if got := strings.TrimSuffix(r.stdout, "\n"); got != "func "+string(want) {
		t.Errorf("stdout %q, want %q", got, "func "+string(want))
	}

	// Sampling with a seed repeats itself.
	args := []string{"generate", "-checkpoint", dir, "-prompt", "x", "-max-tokens", "20", "-temperature", "1", "-seed", "5"}
	a, b := mohawk(t, t.TempDir(), "", args...), mohawk(t, t.TempDir(), "", args...)
	if a.code != 0 || a.stdout != b.stdout {
		t.Errorf("the same seed gave %q and %q (exit %d)", a.stdout, b.stdout, a.code)
	}

	// Missing flags and a folder that is no model.
	if r := mohawk(t, t.TempDir(), "", "generate", "-prompt", "x"); r.code != 2 || !strings.Contains(r.stderr, "-checkpoint") {
		t.Errorf("without -checkpoint: exit %d, %q", r.code, r.stderr)
	}
	if r := mohawk(t, t.TempDir(), "", "generate", "-checkpoint", t.TempDir(), "-prompt", "x"); r.code != 1 || !strings.Contains(r.stderr, "config.json") {
		t.Errorf("an empty folder: exit %d, %q", r.code, r.stderr)
	}
}

// Every command answers -h with its usage on stderr and exit status 0, and
// the top-level usage lists every command.
func TestCommandHelp(t *testing.T) {
	commands := []string{"run", "validate", "plan", "eval", "generate", "inspect"}
	r := mohawk(t, t.TempDir(), "", "-h")
	for _, c := range append(commands, "plan", "eval", "inspect", "bench", "plugins list") {
		if !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("usage does not list %q:\n%s", c, r.stdout)
		}
	}
	for _, c := range commands {
		r := mohawk(t, t.TempDir(), "", c, "-h")
		if r.code != 0 || !strings.Contains(r.stderr, "usage: mohawk "+c) {
			t.Errorf("%s -h: exit %d, stderr %q", c, r.code, r.stderr)
		}
	}
}

func TestPlan(t *testing.T) {
	path := writeTinyPipeline(t, kdStage)
	r := mohawk(t, t.TempDir(), "", "plan", path, "-no-calibrate")
	if r.code != 0 || !strings.Contains(r.stdout, "kd") {
		t.Errorf("plan: exit %d, stdout %q", r.code, r.stdout)
	}
}

// A tiny pipeline end to end through the command: run (which saves the
// teacher and the student and writes report.md), then eval of the student
// against the teacher and generate from it.
func TestRunEvalGenerate(t *testing.T) {
	path := writeTinyPipeline(t, kdStage+`
output {
  dir  = "out"
  save = [teacher.tiny, student.ssd]
}
`)
	dir := filepath.Dir(path)
	r := mohawk(t, t.TempDir(), "", "run", path, "-progress", "off")
	if r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	for _, want := range []string{"MODEL", "student.ssd", "kd"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("run's table lacks %q:\n%s", want, r.stdout)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "out", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| student.ssd | kd |") {
		t.Errorf("report.md lacks the student's row:\n%s", md)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "out"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	t.Logf("run folder: %v", names)
	student, teacher := filepath.Join(dir, "out", "ssd"), filepath.Join(dir, "out", "tiny")
	for _, f := range []string{student, teacher} {
		if _, err := os.Stat(filepath.Join(f, "config.json")); err != nil {
			t.Fatalf("saved model: %v (run folder holds %v)", err, names)
		}
	}

	r = mohawk(t, t.TempDir(), "", "eval", "-checkpoint", student, "-teacher", teacher, "-data", filepath.Join(dir, "text", "*.txt"), "-seq-len", "32", "-validation", "0.1")
	if r.code != 0 || !strings.Contains(r.stdout, "VAL PPL") || !strings.Contains(r.stdout, "%") {
		t.Errorf("eval: exit %d, stdout %q", r.code, r.stdout)
	}

	r = mohawk(t, t.TempDir(), "", "generate", "-checkpoint", student, "-prompt", "func ", "-max-tokens", "20", "-temperature", "0")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "func ") {
		t.Errorf("generate: exit %d, stdout %q", r.code, r.stdout)
	}

	// inspect: a PNG per layer and head, two square panels and a colour
	// bar wide, and the run's loss curves.
	pics := filepath.Join(dir, "pics")
	r = mohawk(t, t.TempDir(), "", "inspect", "-checkpoint", student, "-teacher", teacher, "-prompt", "func main() { fmt.Println() }",
		"-layers", "0,1", "-heads", "0,1", "-out", pics, "-metrics", filepath.Join(dir, "out", "metrics.jsonl"))
	if r.code != 0 {
		t.Fatalf("inspect: exit %d", r.code)
	}
	for _, l := range []string{"0", "1"} {
		for _, h := range []string{"0", "1"} {
			if !regexp.MustCompile(`layer ` + l + ` head ` + h + `: ‖M − A‖_F = \d`).MatchString(r.stdout) {
				t.Errorf("inspect prints no distance for layer %s head %s", l, h)
			}
			checkPNG(t, filepath.Join(pics, "layer"+l+"-head"+h+".png"), 2*plot.HeatmapPanelPx+90, plot.HeatmapPanelPx)
		}
	}
	if !strings.Contains(r.stdout, "-loss.png") {
		t.Errorf("inspect -metrics wrote no loss curve:\n%s", r.stdout)
	}
	if r := mohawk(t, t.TempDir(), "", "inspect", "-checkpoint", student, "-teacher", teacher, "-prompt", "abc", "-heads", "7", "-out", pics); r.code != 1 || !strings.Contains(r.stderr, "head 7") {
		t.Errorf("inspect of head 7 of 2: exit %d, %q", r.code, r.stderr)
	}
}

// checkPNG decodes the PNG at path and checks its size.
func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s is %d×%d, want %d×%d", path, b.Dx(), b.Dy(), w, h)
	}
}
