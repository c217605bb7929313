package stages

import (
	"context"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// ShapesOnly programs are the same programs without the params' values.
func TestShapesOnly(t *testing.T) {
	for _, k := range Kinds {
		opt := Options{Kind: k, Teacher: phiTeacher(), Mixers: allMamba(), Batch: testBatch, SeqLen: testSeqLen, DType: graph.F32, Seed: testSeed}
		full := build(t, opt)
		opt.ShapesOnly = true
		shapes := build(t, opt)
		if len(full) != len(shapes) {
			t.Fatalf("%s: %d programs shapes only, %d with values", k, len(shapes), len(full))
		}
		for i := range full {
			f, s := full[i], shapes[i]
			if len(f.Params) != len(s.Params) || len(f.TrainableNames) != len(s.TrainableNames) {
				t.Fatalf("%s: %d params, %d trainable shapes only; %d and %d with values", k, len(s.Params), len(s.TrainableNames), len(f.Params), len(f.TrainableNames))
			}
			for j, p := range s.Params {
				if p.Init != nil || p.Name != f.Params[j].Name || !p.Shape.Equal(f.Params[j].Init.Shape) {
					t.Errorf("%s: %s %v (value %v), expected %s %v without a value", k, p.Name, p.Shape, p.Init != nil, f.Params[j].Name, f.Params[j].Init.Shape)
				}
			}
		}
	}
	ev := EvalOptions{Teacher: phiTeacher(), Mixers: allMamba(), WithTeacher: true, Batch: testBatch, SeqLen: testSeqLen, ShapesOnly: true}
	_, params, err := Evaluation(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range params {
		if p.Init != nil || p.Shape.Size() == 0 {
			t.Errorf("evaluation, shapes only: %s has a value (%v) or no shape (%v)", p.Name, p.Init != nil, p.Shape)
		}
	}
}
