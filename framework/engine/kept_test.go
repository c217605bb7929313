package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// keptTeacher is tinyTeacher with four layers.
var keptTeacher = strings.Replace(tinyTeacher, "num_hidden_layers = 2", "num_hidden_layers = 4", 1)

const keptStudent = `
student "h" {
  init_from = "teacher"
  mixer "hybrid" {
    attention_every = 2 # layers 1 and 3 stay attention
    rotary_dim      = 8
    qkv_bias        = true
    out_bias        = true
    out_name        = "dense"
    chunk           = 16
  }
}
stage "o" {
  kind         = "matrix_orientation"
  model        = student.h
  dataset      = dataset.text
  tokens       = 1024
  batch_tokens = 512
  micro_batch  = 8
  optimizer { lr = 3e-3 }
}
stage "a" {
  kind         = "hidden_state_alignment"
  model        = student.h
  dataset      = dataset.text
  tokens       = 1024
  batch_tokens = 512
  micro_batch  = 8
  optimizer { lr = 3e-3 }
}
`

const keptDistill = `
stage "k" {
  kind         = "knowledge_distillation"
  model        = student.h
  dataset      = dataset.text
  tokens       = 1024
  batch_tokens = 512
  micro_batch  = 8
  optimizer { lr = 3e-3 }
}
`

// A hybrid student's attention layers are copied from the teacher and skip
// the layer-wise stages: the stage-1 and stage-2 programs neither read nor
// train them (so weight decay leaves them bit-identical to the teacher's),
// and knowledge distillation trains them.
func TestKeptAttentionSkipsLayerwiseStages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "run")
	src := keptTeacher + keptStudent + fmt.Sprintf("output { dir = %q }\n", out)
	p := writePipeline(t, dir, "kept.hcl", src)
	e := open(t, p, testOptions(t))
	ctx := context.Background()

	kept := func(name string) bool {
		return strings.HasPrefix(name, "model.layers.1.") || strings.HasPrefix(name, "model.layers.3.")
	}
	for _, s := range p.Stages {
		m, err := e.stageModel(s)
		if err != nil {
			t.Fatal(err)
		}
		progs, err := e.buildStage(ctx, s, m)
		if err != nil {
			t.Fatal(err)
		}
		replaced := map[string]bool{}
		for _, pr := range progs {
			for _, n := range pr.TrainableNames {
				if kept(n) {
					t.Errorf("stage %s trains %s of a layer kept as attention", s.Name, n)
				}
				if strings.HasPrefix(n, "model.layers.0.mixer.") || strings.HasPrefix(n, "model.layers.2.mixer.") {
					replaced[n[:len("model.layers.0")]] = true
				}
			}
			for _, prm := range pr.Params {
				if kept(prm.Name) {
					t.Errorf("stage %s reads %s of a layer kept as attention", s.Name, prm.Name)
				}
			}
			if fmt.Sprint(pr.Layers) != "[0 2]" {
				t.Errorf("stage %s covers layers %v, expected [0 2]", s.Name, pr.Layers)
			}
		}
		if len(replaced) != 2 {
			t.Errorf("stage %s trains the mixers of %v, expected layers 0 and 2", s.Name, replaced)
		}
	}
	if _, err := e.Run(ctx); err != nil {
		t.Fatal(err)
	}
	e.Close()

	// compare reports the attention params of student layers 1 and 3 that
	// differ from the teacher's.
	compare := func() (same, differ []string) {
		ckpt, _, err := lastCheckpoint(out)
		if err != nil || ckpt == "" {
			t.Fatalf("no checkpoint in %s: %v", out, err)
		}
		_, weights, _, err := readCheckpoint(ckpt)
		if err != nil {
			t.Fatal(err)
		}
		student, teacher := weights["student.h"], weights["teacher.tiny"]
		for _, l := range []int{1, 3} {
			for _, rel := range []string{"q_proj", "k_proj", "v_proj", "dense"} {
				for _, kind := range []string{"weight", "bias"} {
					sn := fmt.Sprintf("model.layers.%d.mixer.%s.%s", l, rel, kind)
					tn := fmt.Sprintf("model.layers.%d.self_attn.%s.%s", l, rel, kind)
					st, tt := student[sn], teacher[tn]
					if st == nil || tt == nil {
						t.Fatalf("checkpoint %s lacks %s or %s", ckpt, sn, tn)
					}
					equal := st.Len() == tt.Len()
					for i := 0; equal && i < st.Len(); i++ {
						equal = st.F32[i] == tt.F32[i]
					}
					if equal {
						same = append(same, sn)
					} else {
						differ = append(differ, sn)
					}
				}
			}
		}
		return same, differ
	}
	if _, differ := compare(); len(differ) > 0 {
		t.Errorf("after stages 1 and 2 these attention params differ from the teacher's: %v", differ)
	}

	// Stage 3, resumed from the end of stage 2, trains them.
	p2 := writePipeline(t, dir, "kept.hcl", src+keptDistill)
	opt := testOptions(t)
	opt.Resume = true
	if _, err := open(t, p2, opt).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if same, _ := compare(); len(same) > 0 {
		t.Errorf("after knowledge distillation these attention params still equal the teacher's: %v", same)
	}
}
