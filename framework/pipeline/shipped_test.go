// Tests that the ready pipelines under pipelines/ load, with their teachers
// pointed at config.json files of the real models' shape.

package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/mohawk-distill/mohawk/mixers/attention"
	"github.com/mohawk-distill/mohawk/mixers/hybrid"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// builtinSchemas are the built-in mixers' schemas, to check that the shipped
// mixer blocks decode as the engine will decode them.
var builtinSchemas = map[string]mixer.Schema{"attention": attention.Schema, "mamba2": mamba2.Schema, "hybrid": hybrid.Schema}

func TestShippedPipelines(t *testing.T) {
	cases := []struct {
		file, teacher string
		stageTokens   []int64
		replaced      int // layers given to a mixer
	}{
		{"phi-mamba.hcl", "phi-1_5", []int64{80e6, 160e6, 2.76e9}, 24},
		{"hybrid-phi-mamba.hcl", "phi-1_5", []int64{133e6, 267e6, 4.6e9}, 20},
		{"llamba-1b.hcl", "llama-3.2-1b", []int64{213e6, 427e6, 7.36e9}, 16},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			folder, err := filepath.Abs(filepath.Join("..", "..", "pipelines", "testdata", c.teacher))
			if err != nil {
				t.Fatal(err)
			}
			p := mustLoad(t, filepath.Join("..", "..", "pipelines", c.file), Vars{Flags: []string{"teacher=" + folder}})
			layers := configLayers(t, filepath.Join(folder, "config.json"))

			var total int64
			for i, st := range p.Stages {
				if st.Tokens != c.stageTokens[i] {
					t.Errorf("stage %s: tokens %d, want %d", st.Name, st.Tokens, c.stageTokens[i])
				}
				if st.Student == nil || st.Dataset.SeqLen != 2048 || st.Optimizer != defaultOptimizer || st.Schedule != defaultSchedule {
					t.Errorf("stage %s: student %v seq_len %d optimizer %+v schedule %+v; want the paper's settings",
						st.Name, st.Student, st.Dataset.SeqLen, st.Optimizer, st.Schedule)
				}
				total += st.Tokens
			}
			if len(p.Stages) != 3 || p.Stages[0].Kind != "matrix_orientation" || p.Stages[2].Kind != "knowledge_distillation" {
				t.Errorf("stages %v, want the three MOHAWK stages in order", p.Stages)
			}
			t.Logf("%s: %d stages, %.3g tokens", c.file, len(p.Stages), float64(total))

			replaced := 0
			for _, m := range p.Students[0].Mixers {
				if _, diags := mixer.DecodeConfig(m.Body, builtinSchemas[m.Name], m.EvalContext); diags.HasErrors() {
					t.Errorf("mixer %s: %v", m.Name, diags)
				}
				if m.Layers == nil {
					replaced += layers
					continue
				}
				for _, l := range m.Layers {
					if l >= layers {
						t.Errorf("mixer %s: layer %d, but the teacher has %d", m.Name, l, layers)
					}
				}
				replaced += len(m.Layers)
			}
			if replaced != c.replaced {
				t.Errorf("%d layers replaced, want %d", replaced, c.replaced)
			}
		})
	}
}

// configLayers reads num_hidden_layers from a config.json.
func configLayers(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Layers int `json:"num_hidden_layers"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg.Layers
}
