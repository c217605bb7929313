package engine

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// A teacher read from a Hugging Face folder: evaluated once before the
// stages (the "checkpoint" row), distilled, and never copied into the run's
// checkpoints.
func TestDistillFromTeacherFolder(t *testing.T) {
	t.Parallel()
	// Make the teacher folder with a short pretraining run.
	pre := t.TempDir()
	p := writePipeline(t, pre, "pre.hcl", tinyTeacher+`
stage "pretrain" {
  kind         = "pretrain"
  model        = teacher.tiny
  dataset      = dataset.text
  tokens       = 8192
  batch_tokens = 1024
  micro_batch  = 16
  optimizer { lr = 3e-3 }
}
output {
  dir  = "run"
  save = [teacher.tiny]
}
`)
	res, err := open(t, p, testOptions(t)).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	teacherDir := filepath.Join(pre, "run", "tiny")

	dir := t.TempDir()
	p2 := writePipeline(t, dir, "kd.hcl", `
backend "cpu" { threads = 1 }
teacher "phi" { checkpoint = "`+teacherDir+`" }
dataset "text" {
  files      = ["{{TEXT}}/*.txt"]
  seq_len    = 32
  validation = 0.05
}
evaluate {
  dataset = dataset.text
  tokens  = 2048
}
student "s" {
  mixer "mamba2" { chunk = 16 }
}
stage "distill" {
  kind         = "knowledge_distillation"
  model        = student.s
  dataset      = dataset.text
  tokens       = 4096
  batch_tokens = 512
  micro_batch  = 16
  optimizer { lr = 2e-3 }
}
output { dir = "run" }
`)
	res2, err := open(t, p2, testOptions(t)).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Rows) != 2 || res2.Rows[0].Model != "teacher.phi" || res2.Rows[0].Stage != "checkpoint" {
		t.Fatalf("rows %+v", res2.Rows)
	}
	// The folder's teacher is the one the first run saved.
	if math.Abs(res2.Rows[0].ValPPL-res.Rows[0].ValPPL) > 1e-6*res.Rows[0].ValPPL {
		t.Errorf("teacher ppl %v from its folder, %v when it was trained", res2.Rows[0].ValPPL, res.Rows[0].ValPPL)
	}
	if s := res2.Rows[1]; s.Model != "student.s" || !(s.Agreement > 0) || math.Abs(s.TeacherPPL-res2.Rows[0].ValPPL) > 1e-6*s.TeacherPPL {
		t.Errorf("student row %+v", s)
	}
	ck, _, _ := lastCheckpoint(filepath.Join(dir, "run"))
	if _, err := os.Stat(filepath.Join(ck, modelFile("teacher.phi"))); err == nil {
		t.Error("the checkpoint holds a copy of the untouched teacher")
	}
	// The student is saved by default.
	if _, err := os.Stat(filepath.Join(dir, "run", "s", "config.json")); err != nil {
		t.Error(err)
	}

	// A student that starts from the saved one is that student: a stage
	// at a negligible learning rate leaves its perplexity as it was.
	dir3 := t.TempDir()
	p3 := writePipeline(t, dir3, "again.hcl", `
backend "cpu" { threads = 1 }
teacher "phi" { checkpoint = "`+teacherDir+`" }
dataset "text" {
  files      = ["{{TEXT}}/*.txt"]
  seq_len    = 32
  validation = 0.05
}
evaluate {
  dataset = dataset.text
  tokens  = 2048
}
student "again" {
  init_from = "`+filepath.Join(dir, "run", "s")+`"
  mixer "mamba2" { chunk = 16 }
}
stage "still" {
  kind         = "knowledge_distillation"
  model        = student.again
  dataset      = dataset.text
  tokens       = 512
  batch_tokens = 512
  micro_batch  = 16
  optimizer {
    lr           = 1e-12
    weight_decay = 0
  }
  schedule { kind = "constant" }
}
output { dir = "run" }
`)
	res3, err := open(t, p3, testOptions(t)).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	again, before := res3.Rows[len(res3.Rows)-1], res2.Rows[1]
	if math.Abs(again.ValPPL-before.ValPPL) > 1e-4*before.ValPPL || math.Abs(again.Agreement-before.Agreement) > 1e-9 {
		t.Errorf("the student started from the saved one: %+v; the saved one: %+v", again, before)
	}
}

// A teacher folder with only config.json validates (with a warning): the
// shipped pipelines are checked against configs of the real models' shape.
func TestOpenConfigOnlyTeacher(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	folder := filepath.Join(dir, "phi")
	os.MkdirAll(folder, 0o755)
	cfg := `{"model_type": "phi", "vocab_size": 257, "hidden_size": 32, "num_hidden_layers": 2,
	  "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 32}`
	if err := os.WriteFile(filepath.Join(folder, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	diags, text := openDiags(t, `
teacher "phi" { checkpoint = "`+folder+`" }
student "s" {
  mixer "mamba2" { layers = [1] }
}
`)
	if diags.HasErrors() {
		t.Fatalf("errors:\n%s", text)
	}
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || !strings.Contains(text, "a run needs its weights") {
		t.Errorf("expected one warning about the weights:\n%s", text)
	}
}

// Plan of a pipeline whose teacher folder holds only config.json: counted
// and estimated (not timed), without an error.
func TestPlanConfigOnlyTeacher(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	folder := filepath.Join(dir, "phi")
	os.MkdirAll(folder, 0o755)
	cfg := `{"model_type": "phi", "vocab_size": 257, "hidden_size": 32, "num_hidden_layers": 2,
	  "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 32}`
	if err := os.WriteFile(filepath.Join(folder, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := writePipeline(t, dir, "p.hcl", `
teacher "phi" { checkpoint = "`+folder+`" }
student "s" {
  mixer "mamba2" { chunk = 16 }
}
dataset "text" {
  files   = ["{{TEXT}}/*.txt"]
  seq_len = 32
}
stage "kd" {
  kind         = "knowledge_distillation"
  model        = student.s
  dataset      = dataset.text
  tokens       = 1024
  batch_tokens = 512
  micro_batch  = 16
}
`)
	e, diags := Open(context.Background(), p, testOptions(t))
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	defer e.Close()
	pl, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if s := pl.Stages[0]; s.Calibrated || s.Seconds <= 0 || s.Trainable == 0 || s.Frozen == 0 {
		t.Errorf("plan %+v", s)
	}
}
