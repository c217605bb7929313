package engine

import (
	"context"
	"testing"
)

// Hybrid students through the engine: "within" (SSD and a sliding window in
// every layer) and "layer" (layer 1 kept as attention, copied from the
// teacher by InitFromTeacher).
func TestHybridStudents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writePipeline(t, dir, "h.hcl", tinyTeacher+`
student "h" {
  init_from = "teacher"
  mixer "hybrid" {
    mode = "within"
    window = 8
    chunk = 16
  }
}
student "l" {
  init_from = "teacher"
  mixer "hybrid" {
    attention_layers = [1]
    rotary_dim = 8
    qkv_bias = true
    out_bias = true
    out_name = "dense"
    chunk = 16
  }
}
stage "pretrain" {
  kind         = "pretrain"
  model        = teacher.tiny
  dataset      = dataset.text
  tokens       = 8192
  batch_tokens = 1024
  micro_batch  = 16
  optimizer { lr = 3e-3 }
}
stage "o1" {
  kind         = "matrix_orientation"
  model        = student.h
  dataset      = dataset.text
  tokens       = 2048
  batch_tokens = 512
  micro_batch  = 8
}
stage "o2" {
  kind         = "matrix_orientation"
  model        = student.l
  dataset      = dataset.text
  tokens       = 2048
  batch_tokens = 512
  micro_batch  = 8
}
stage "k2" {
  kind         = "knowledge_distillation"
  model        = student.l
  dataset      = dataset.text
  tokens       = 2048
  batch_tokens = 512
  micro_batch  = 8
}
output { dir = "run" }
`)
	res, err := open(t, p, testOptions(t)).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 4 {
		t.Fatalf("rows %+v", res.Rows)
	}
	for _, r := range res.Rows[1:] {
		t.Logf("%s after %s: ppl %.3f, agreement %.3f (teacher ppl %.3f)", r.Model, r.Stage, r.ValPPL, r.Agreement, r.TeacherPPL)
		if !(r.Agreement > 0.5) || !(r.ValPPL < 2*r.TeacherPPL) {
			t.Errorf("%s after %s: ppl %.3f, agreement %.3f", r.Model, r.Stage, r.ValPPL, r.Agreement)
		}
	}
}
