package stages

import (
	"context"
	"math"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// The evaluation program's sums equal Go's from the two models' logits:
// the cross-entropy sums, the position count and the number of positions
// whose top-1 tokens (lowest index on ties) agree. Its outputs are f32, so
// the sums agree to f32 rounding of a float64 sum.
func TestEvaluationMatchesGoReference(t *testing.T) {
	cfg := phiTeacher()
	mixers := map[int]models.LayerMixer{0: discreteMamba()}
	g, params, err := Evaluation(context.Background(), EvalOptions{Teacher: cfg, Mixers: mixers, WithTeacher: true, Batch: testBatch, SeqLen: testSeqLen, DType: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	values := spreadParams(params, 51)
	// The student starts as MOHAWK's stage 3 does: every param it shares
	// with the teacher copied, so top-1 tokens agree at some positions only.
	for name := range values {
		if v, ok := values[TeacherPrefix+name]; ok {
			values[name] = v
		}
	}
	inputs := batchInputs(52)
	out := evaluate(t, g, values, inputs)
	for _, name := range []string{OutputNLLSum, OutputCount, OutputAgree, OutputTeacherNLLSum} {
		if o := out[name]; o == nil || o.DType != graph.F32 || len(o.Shape) != 0 {
			t.Fatalf("output %s is %v, expected an f32 scalar", name, o)
		}
	}
	zs := modelLogits(t, cfg, mixers, values, inputs).Float64s()
	zt := teacherTaps(t, cfg, values, inputs, true)["logits"].Float64s()
	targets := inputs["targets"].I32
	var nll, tnll, agree float64
	for r, y := range targets {
		s, tt := zs[r*testVocab:(r+1)*testVocab], zt[r*testVocab:(r+1)*testVocab]
		nll -= logSoftmaxRow(s)[y]
		tnll -= logSoftmaxRow(tt)[y]
		if firstArgmax(s) == firstArgmax(tt) {
			agree++
		}
	}
	const f32Tol = 1e-6
	for _, c := range []struct {
		name      string
		want, tol float64
	}{{OutputNLLSum, nll, f32Tol}, {OutputTeacherNLLSum, tnll, f32Tol}, {OutputCount, float64(len(targets)), 0}, {OutputAgree, agree, 0}} {
		got := scalar(t, out, c.name)
		if relErr(got, c.want) > c.tol {
			t.Errorf("%s %.9g, Go reference %.9g", c.name, got, c.want)
		}
	}
	t.Logf("nll_sum %.6g, teacher %.6g, agree %g of %d", nll, tnll, agree, len(targets))
	if agree == 0 || agree == float64(len(targets)) {
		t.Errorf("agreement is degenerate (%g of %d): the check is weak for these weights", agree, len(targets))
	}

	// The model alone: no teacher params, no agreement outputs.
	g, params, err = Evaluation(context.Background(), EvalOptions{Teacher: cfg, Batch: testBatch, SeqLen: testSeqLen, DType: graph.F64})
	if err != nil {
		t.Fatal(err)
	}
	out = evaluate(t, g, spreadParams(params, 53), inputs)
	if _, ok := out[OutputAgree]; ok || len(params) != 33 {
		t.Fatalf("evaluation without teacher: outputs %v, %d params", len(out), len(params))
	}
}

// argmax takes the lowest index among tied maxima, as firstArgmax does.
func TestArgmaxTiesTakeTheLowestIndex(t *testing.T) {
	rows := [][]float64{
		{1, 3, 3, 2},
		{5, 5, 5, 5},
		{-1, -2, -3, -0.5},
		{0, 0, 7, 7},
		{math.Inf(-1), -1e30, -1e30, math.Inf(-1)},
	}
	data := []float64{}
	for _, r := range rows {
		data = append(data, r...)
	}
	b := graph.NewBuilder()
	z := b.Input("z", graph.F64, 1, len(rows), 4)
	b.Output("i", argmax(b, z))
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := graph.Evaluate(g, map[string]*graph.Tensor{"z": graph.FromF64(data, 1, len(rows), 4)})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if got, want := out["i"].At(i), firstArgmax(r); got != float64(want) {
			t.Errorf("row %v: argmax %g, expected %d", r, got, want)
		}
	}
}

// The float32 evaluation program runs on the CPU backend and gives the
// float64 reference interpreter's sums to float32 accuracy.
func TestEvaluationOnCPU(t *testing.T) {
	cfg := phiTeacher()
	mixers := map[int]models.LayerMixer{1: discreteMamba()}
	run := func(dt graph.DType, onCPU bool) map[string]*graph.Tensor {
		g, params, err := Evaluation(context.Background(), EvalOptions{Teacher: cfg, Mixers: mixers, WithTeacher: true, Batch: testBatch, SeqLen: testSeqLen, DType: dt})
		if err != nil {
			t.Fatal(err)
		}
		values := spreadParams(params, 71)
		inputs := batchInputs(72)
		if !onCPU {
			return evaluate(t, g, values, inputs)
		}
		be := cpu.New(cpu.Options{})
		defer be.Close()
		for n, v := range values {
			if err := be.SetTensor(n, v); err != nil {
				t.Fatal(err)
			}
		}
		prog, err := be.Compile(g)
		if err != nil {
			t.Fatal(err)
		}
		out, err := prog.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want, got := run(graph.F64, false), run(graph.F32, true)
	for _, name := range []string{OutputNLLSum, OutputTeacherNLLSum, OutputCount, OutputAgree} {
		g, w := scalar(t, got, name), scalar(t, want, name)
		t.Logf("%s: CPU f32 %.7g, reference f64 %.7g, relative error %.2g", name, g, w, relErr(g, w))
		if relErr(g, w) > 1e-4 {
			t.Errorf("%s: CPU f32 %.7g, reference f64 %.7g", name, g, w)
		}
	}
}
