package engine

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Plan of a Phi-1.5-sized pipeline whose teacher folder holds only
// config.json: the counts follow from the config's dimensions, nothing is
// timed (the teacher has no weights), and no param's value is made (1.4
// billion each for the teacher and the student would take gigabytes).
// Not parallel: it measures the allocations of the process.
func TestPlanPhi15Shapes(t *testing.T) {
	teacher, err := filepath.Abs("../../pipelines/testdata/phi-1_5")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := writePipeline(t, dir, "phi15.hcl", `
backend "cpu" { threads = 1 }
teacher "phi" { checkpoint = "`+teacher+`" }
student "pm" {
  init_from = "teacher"
  mixer "mamba2" {
    variant     = "discrete"
    state_size  = 64
    heads       = 32
    n_qk_heads  = 32
    expand      = 1
    conv_kernel = 4
    chunk       = 16
  }
}
dataset "text" {
  files     = ["{{TEXT}}/*.txt"]
  tokenizer = "bytes"
  seq_len   = 16
}
stage "mo" {
  kind         = "matrix_orientation"
  model        = student.pm
  dataset      = dataset.text
  tokens       = 160
  batch_tokens = 16
  micro_batch  = 1
}
stage "hsa" {
  kind         = "hidden_state_alignment"
  model        = student.pm
  dataset      = dataset.text
  tokens       = 160
  batch_tokens = 32
  micro_batch  = 1
}
stage "kd" {
  kind         = "knowledge_distillation"
  model        = student.pm
  dataset      = dataset.text
  tokens       = 160
  batch_tokens = 16
  micro_batch  = 1
}
output { dir = "run" }
`)
	e := open(t, p, testOptions(t))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pl, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	var b strings.Builder
	pl.Print(&b)
	t.Logf("plan:\n%s", b.String())
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("Plan allocated %.1f MB", float64(allocated)/1e6)
	if allocated > 100e6 {
		t.Errorf("Plan allocated %.1f MB, expected well under 100 MB: are param values made?", float64(allocated)/1e6)
	}

	// The counts from config.json's dimensions (MOHAWK.md's discrete
	// Mamba-2: in_proj → [x | B | C | z | a], a conv over x, B and C).
	const (
		vocab, d, layers, ff = 51200, 2048, 24, 8192
		heads, state, groups = 32, 64, 32
		inner                = d // expand 1
	)
	embed := int64(vocab * d)
	teacherLayer := int64(2*d + 4*(d*d+d) + (ff*d + ff) + (d*ff + d))
	head := int64(2*d + vocab*d + vocab) // final norm and lm_head
	teacherAll := embed + layers*teacherLayer + head
	conv := int64(inner + 2*groups*state)
	inProj := int64(2*inner+2*groups*state+heads) * d
	matrixParams := inProj + conv*4 + conv + heads         // in_proj, conv weight and bias, D
	mixerParams := matrixParams + int64(inner) + d*inner   // z_bias, out_proj
	studentLayer := teacherLayer - 4*(d*d+d) + mixerParams // the attention replaced
	studentAll := embed + layers*studentLayer + head
	teacherBlocks := embed + layers*teacherLayer // layer-wise stages stop before the head
	want := []struct{ trainable, frozen int64 }{
		{layers * matrixParams, teacherBlocks},
		{layers * mixerParams, teacherBlocks},
		{studentAll, teacherAll},
	}
	if len(pl.Stages) != len(want) {
		t.Fatalf("%d stages, expected %d", len(pl.Stages), len(want))
	}
	if teacherAll < 1.41e9 || teacherAll > 1.42e9 {
		t.Errorf("Phi-1.5 has 1.42 billion params, the computation gives %d", teacherAll)
	}
	for i, s := range pl.Stages {
		if s.Trainable != want[i].trainable || s.Frozen != want[i].frozen {
			t.Errorf("stage %s: trainable %d, frozen %d; expected %d and %d", s.Name, s.Trainable, s.Frozen, want[i].trainable, want[i].frozen)
		}
		if s.Calibrated || !strings.Contains(s.NotTimed, "no weights") {
			t.Errorf("stage %s: calibrated %v (%q), expected it not timed for want of the teacher's weights", s.Name, s.Calibrated, s.NotTimed)
		}
		if s.FLOPs < 2*float64(s.Trainable)*float64(s.Tokens) {
			t.Errorf("stage %s: %g FLOPs is below 2·N·tokens", s.Name, s.FLOPs)
		}
	}
	if !strings.Contains(b.String(), "not timed: teacher \"phi\" has no weights") {
		t.Errorf("the printed plan does not say why the stages were not timed")
	}
}
