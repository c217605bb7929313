package engine

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mohawk-distill/mohawk/framework/models"
)

// distillStages trains the tiny teacher, then distils it into a discrete
// Mamba-2 student through the three MOHAWK stages.
const distillStages = `
student "mamba" {
  teacher   = teacher.tiny
  init_from = "teacher"
  seed      = 5
  mixer "mamba2" {
    layers  = "all"
    variant = "discrete"
    chunk   = 16
  }
}
stage "pretrain" {
  kind         = "pretrain"
  model        = teacher.tiny
  dataset      = dataset.text
  tokens       = 40960
  batch_tokens = 1024
  micro_batch  = 16
  optimizer { lr = 3e-3 }
}
stage "orient" {
  kind         = "matrix_orientation"
  model        = student.mamba
  dataset      = dataset.text
  tokens       = 8192
  batch_tokens = 512
  micro_batch  = 8
  optimizer { lr = 3e-3 }
  schedule { kind = "constant" }
}
stage "align" {
  kind         = "hidden_state_alignment"
  model        = student.mamba
  dataset      = dataset.text
  tokens       = 8192
  batch_tokens = 512
  micro_batch  = 8
  optimizer { lr = 3e-3 }
  schedule { kind = "constant" }
}
stage "distill" {
  kind         = "knowledge_distillation"
  model        = student.mamba
  dataset      = dataset.text
  tokens       = 16384
  batch_tokens = 1024
  micro_batch  = 16
  optimizer { lr = 2e-3 }
  eval_every   = 8192
  checkpoint_every = 8192
}
`

func TestDistillEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writePipeline(t, dir, "distill.hcl", tinyTeacher+distillStages+`
output {
  dir  = "run"
  save = [student.mamba, teacher.tiny]
}
`)
	e := open(t, p, testOptions(t))
	res, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	losses, evals := readMetrics(t, res.Metrics)
	for _, st := range []string{"pretrain", "orient", "align", "distill"} {
		l := losses[st]
		if len(l) < 8 {
			t.Fatalf("stage %s: %d losses", st, len(l))
		}
		first, last := meanOf(l[:3]), meanOf(l[len(l)-3:])
		t.Logf("%-8s loss %.4f → %.4f over %d steps", st, first, last, len(l))
		if !(last < first) || math.IsNaN(last) {
			t.Errorf("stage %s: loss did not fall (%.4f → %.4f)", st, first, last)
		}
	}
	if len(evals) < 5 {
		t.Errorf("%d eval lines, expected one per stage end and a periodic one", len(evals))
	}
	for _, r := range res.Rows {
		t.Logf("row %-14s %-8s tokens %6d ppl %.3f agreement %.3f teacher ppl %.3f", r.Model, r.Stage, r.Tokens, r.ValPPL, r.Agreement, r.TeacherPPL)
	}
	if len(res.Rows) != 4 {
		t.Fatalf("%d rows, expected 4", len(res.Rows))
	}
	last := res.Rows[3]
	if last.Model != "student.mamba" || math.IsNaN(last.Agreement) || last.Agreement <= 0 || last.Tokens != 8192+8192+16384 {
		t.Errorf("last row %+v", last)
	}
	if _, err := os.Stat(res.Report); err != nil {
		t.Error(err)
	}
	// The student folder loads back.
	cfg, infos, folder, err := models.LoadStudent(filepath.Join(dir, "run", "mamba"))
	if err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	if cfg.Phi == nil || len(infos) != 2 || infos[0].Name != "mamba2" {
		t.Errorf("student config %+v, mixers %+v", cfg, infos)
	}

	// mohawk eval of the saved folders gives the run's last numbers.
	opt := testOptions(t)
	opt.EvalTokens = p.Evaluate.Tokens
	ev, err := Evaluate(context.Background(), filepath.Join(dir, "run", "mamba"), p.Evaluate.Dataset, filepath.Join(dir, "run", "tiny"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("eval of the saved student: %+v", ev)
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-4*math.Abs(b) }
	if !near(ev.ValPPL, last.ValPPL) || !near(ev.Agreement, last.Agreement) || !near(ev.TeacherPPL, last.TeacherPPL) {
		t.Errorf("Evaluate %+v, the run's last row %+v", ev, last)
	}
	evT, err := Evaluate(context.Background(), filepath.Join(dir, "run", "tiny"), p.Evaluate.Dataset, "", opt)
	if err != nil {
		t.Fatal(err)
	}
	if !near(evT.ValPPL, res.Rows[0].ValPPL) || !math.IsNaN(evT.Agreement) {
		t.Errorf("Evaluate of the teacher %+v, its row %+v", evT, res.Rows[0])
	}
}
