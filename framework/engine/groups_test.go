package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"testing"
)

// A memory budget too small for two layers' matrices makes matrix
// orientation one program per layer; the engine steps them together.
func TestMatrixOrientationLayerGroups(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writePipeline(t, dir, "groups.hcl", tinyTeacher+`
student "s" {
  mixer "mamba2" { chunk = 16 }
}
stage "orient" {
  kind         = "matrix_orientation"
  model        = student.s
  dataset      = dataset.text
  tokens       = 8192
  batch_tokens = 512
  micro_batch  = 8
  optimizer { lr = 3e-3 }
  loss { memory_budget = "1KiB" }
}
output { dir = "run" }
`)
	opt := testOptions(t)
	opt.NoCalibrate = true
	e := open(t, p, opt)
	pl, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if pl.Stages[0].Programs != 2 {
		t.Fatalf("%d programs, expected one per layer", pl.Stages[0].Programs)
	}
	res, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(res.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var first, last map[string]float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			LayerLoss map[string]float64 `json:"layer_loss"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if line.LayerLoss == nil {
			continue
		}
		if first == nil {
			first = line.LayerLoss
		}
		last = line.LayerLoss
	}
	for _, l := range []string{"0", "1"} {
		if !(last[l] < first[l]) {
			t.Errorf("layer %s: loss %v → %v", l, first[l], last[l])
		}
	}
	t.Logf("layer losses %v → %v", first, last)
}
