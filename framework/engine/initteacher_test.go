package engine

import (
	"context"
	"math"
	"testing"
)

// A student whose every layer is the attention mixer, initialised from the
// teacher, is the teacher: same perplexity, full agreement.
func TestInitFromTeacherCopiesAttention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writePipeline(t, dir, "copy.hcl", tinyTeacher+`
student "copy" {
  init_from = "teacher"
  mixer "attention" {
    rotary_dim = 8
    qkv_bias   = true
    out_bias   = true
    out_name   = "dense"
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
stage "still" {
  kind         = "knowledge_distillation"
  model        = student.copy
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
	e := open(t, p, testOptions(t))
	res, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	teacher, student := res.Rows[0], res.Rows[1]
	t.Logf("teacher %+v\nstudent %+v", teacher, student)
	if student.Agreement < 0.999 || math.Abs(student.ValPPL-teacher.ValPPL) > 1e-3*teacher.ValPPL {
		t.Errorf("the copied student differs from its teacher: ppl %.5f vs %.5f, agreement %.4f", student.ValPPL, teacher.ValPPL, student.Agreement)
	}
}
