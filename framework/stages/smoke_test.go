package stages

import (
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

func TestSmokeAllKinds(t *testing.T) {
	for _, k := range Kinds {
		opt := Options{Kind: k, Teacher: phiTeacher(), Mixers: allMamba(), Batch: testBatch, SeqLen: testSeqLen, DType: graph.F64, Seed: testSeed, HardLabelWeight: 0.5}
		progs := build(t, opt)
		for _, p := range progs {
			params := map[string]*graph.Tensor{}
			for _, pr := range p.Params {
				params[pr.Name] = pr.Init
			}
			out := evaluate(t, graphOf(t, p), params, batchInputs(1))
			t.Logf("%s layers %v loss %g trainable %v", k, p.Layers, scalar(t, out, "loss"), p.TrainableNames)
		}
	}
}
