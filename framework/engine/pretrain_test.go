package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/framework/models"
)

// readMetrics parses metrics.jsonl into its step losses by stage and its
// evaluation lines.
func readMetrics(t *testing.T, path string) (losses map[string][]float64, evals []map[string]any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	losses = map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("metrics line is not JSON: %q: %v", sc.Text(), err)
		}
		if ev, ok := line["eval"]; ok {
			evals = append(evals, ev.(map[string]any))
			continue
		}
		losses[line["stage"].(string)] = append(losses[line["stage"].(string)], line["loss"].(float64))
	}
	return losses, evals
}

// readMetricsLine parses one step line of metrics.jsonl: its loss and stage.
func readMetricsLine(t *testing.T, raw []byte) (float64, string) {
	t.Helper()
	var line struct {
		Loss  float64 `json:"loss"`
		Stage string  `json:"stage"`
	}
	if err := json.Unmarshal(raw, &line); err != nil {
		t.Fatalf("metrics line is not JSON: %q: %v", raw, err)
	}
	return line.Loss, line.Stage
}

// meanOf is the mean of xs[i:j].
func meanOf(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func TestPretrainTeacherFromScratch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writePipeline(t, dir, "pretrain.hcl", tinyTeacher+`
stage "pretrain" {
  kind         = "pretrain"
  model        = teacher.tiny
  dataset      = dataset.text
  tokens       = 40960
  batch_tokens = 1024
  micro_batch  = 16
  optimizer { lr = 3e-3 }
  eval_every   = 20480
}
output {
  dir  = "run"
  save = [teacher.tiny]
}
`)
	e := open(t, p, testOptions(t))
	res, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	losses, evals := readMetrics(t, res.Metrics)
	l := losses["pretrain"]
	if len(l) != 40 {
		t.Fatalf("%d step losses, expected 40", len(l))
	}
	first, last := meanOf(l[:5]), meanOf(l[len(l)-5:])
	t.Logf("pretrain loss %.3f → %.3f; evals %v; rows %+v", first, last, evals, res.Rows)
	if !(last < first-0.5) {
		t.Errorf("loss did not fall: first steps %.3f, last steps %.3f", first, last)
	}
	if len(evals) != 2 {
		t.Errorf("%d eval lines, expected 2 (one periodic, one at the end)", len(evals))
	}
	if len(res.Rows) != 1 || res.Rows[0].Model != "teacher.tiny" || res.Rows[0].Tokens != 40960 {
		t.Errorf("rows %+v", res.Rows)
	}
	// The saved teacher loads back as a Hugging Face folder.
	folder, err := checkpoint.LoadFolder(filepath.Join(dir, "run", "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	cfg, err := models.ConfigFromHF(folder)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Phi == nil || cfg.Phi.DModel != 32 || cfg.Phi.Layers != 2 {
		t.Errorf("saved config %+v", cfg)
	}
	if _, err := os.Stat(res.Report); err != nil {
		t.Error(err)
	}
}

// The from-scratch baseline: a student with init_from = "scratch" trained by
// next-token prediction alone; its row carries agreement with the teacher.
func TestPretrainStudentFromScratch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writePipeline(t, dir, "scratch.hcl", tinyTeacher+`
student "scratch" {
  init_from = "scratch"
  mixer "mamba2" { chunk = 16 }
}
stage "baseline" {
  kind         = "pretrain"
  model        = student.scratch
  dataset      = dataset.text
  tokens       = 16384
  batch_tokens = 1024
  micro_batch  = 16
  optimizer { lr = 3e-3 }
}
output { dir = "run" }
`)
	res, err := open(t, p, testOptions(t)).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	losses, _ := readMetrics(t, res.Metrics)
	l := losses["baseline"]
	if first, last := meanOf(l[:3]), meanOf(l[len(l)-3:]); !(last < first-0.3) {
		t.Errorf("baseline loss %.3f → %.3f", first, last)
	}
	if len(res.Rows) != 1 || res.Rows[0].Model != "student.scratch" {
		t.Errorf("rows %+v", res.Rows)
	}
	t.Logf("%+v", res.Rows)
}

// Two runs of one engine (and a calibrated plan between them) give the
// same losses: each run starts from the models' initial values.
func TestRunTwiceSameLosses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writePipeline(t, dir, "twice.hcl", tinyTeacher+`
stage "pretrain" {
  kind         = "pretrain"
  model        = teacher.tiny
  dataset      = dataset.text
  tokens       = 4096
  batch_tokens = 1024
  micro_batch  = 16
  optimizer { lr = 3e-3 }
}
output { dir = "run" }
`)
	e := open(t, p, testOptions(t))
	res, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first, _ := readMetrics(t, res.Metrics)
	if _, err := e.Plan(); err != nil {
		t.Fatal(err)
	}
	res, err = e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second, _ := readMetrics(t, res.Metrics)
	a, b := first["pretrain"], second["pretrain"]
	if len(a) != 4 || len(b) != 4 {
		t.Fatalf("losses %v and %v", a, b)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("step %d: loss %v in the first run, %v in the second", i, a[i], b[i])
		}
	}
}
