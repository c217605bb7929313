package stages

// reference_test.go computes what the stage losses should be, apart from the
// programs: the teacher's and the student's values come from separate graphs
// (the models' taps, the mixer's fragments run alone), and every norm,
// mean, softmax and cross-entropy of a loss is a plain Go loop in float64.

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// teacherTaps runs the teacher (under TeacherPrefix) and returns, per
// layer, its taps by name: "input", "mixer", "block", "residual", "probs";
// and with head "logits".
func teacherTaps(t *testing.T, cfg models.HFConfig, params, inputs map[string]*graph.Tensor, head bool) map[string]*graph.Tensor {
	t.Helper()
	b := graph.NewBuilder()
	opt := models.BuildOptions{Prefix: TeacherPrefix, SeqLen: testSeqLen}
	if !head {
		opt.Layers = cfg.Layers()
	}
	lm, err := models.BuildModel(context.Background(), b, cfg, graph.F64, testBatch, opt)
	if err != nil {
		t.Fatal(err)
	}
	for l, tp := range lm.Layers {
		for name, v := range map[string]graph.Value{"input": tp.Input, "mixer": tp.Mixer, "block": tp.Block, "residual": tp.Residual, "probs": tp.Probs} {
			b.Output(fmt.Sprintf("%s/%d", name, l), v)
		}
	}
	if head {
		b.Output("logits", lm.Logits)
	}
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return evaluate(t, g, params, inputs)
}

// modelLogits runs a model at its own names (a student when mixers is set).
func modelLogits(t *testing.T, cfg models.HFConfig, mixers map[int]models.LayerMixer, params, inputs map[string]*graph.Tensor) *graph.Tensor {
	t.Helper()
	b := graph.NewBuilder()
	lm, err := models.BuildModel(context.Background(), b, cfg, graph.F64, testBatch, models.BuildOptions{Mixers: mixers, SeqLen: testSeqLen})
	if err != nil {
		t.Fatal(err)
	}
	b.Output("logits", lm.Logits)
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return evaluate(t, g, params, inputs)["logits"]
}

// runFragment runs layer l's mixer fragment of kind alone on u [B,T,C],
// its params read under the student's names.
func runFragment(t *testing.T, cfg models.HFConfig, lm models.LayerMixer, l int, kind mixer.FragmentKind, u *graph.Tensor, params map[string]*graph.Tensor) map[string]*graph.Tensor {
	t.Helper()
	layer := lm.Layer
	layer.Dims = cfg.LayerDims(testBatch, testSeqLen, l, graph.F64)
	var frag *graph.Graph
	var err error
	if kind == mixer.FragmentMixingMatrix {
		frag, err = lm.Mixer.MixingMatrix(context.Background(), layer)
	} else {
		frag, err = lm.Mixer.Forward(context.Background(), layer)
	}
	if err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder()
	in := b.Input("u", graph.F64, u.Shape...)
	out, err := b.Inline(frag, cfg.MixerPrefix(l), map[string]graph.Value{mixer.InputU: in})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range out {
		b.Output(name, v)
	}
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return evaluate(t, g, params, map[string]*graph.Tensor{"u": u})
}

// meanNorms is the mean over the leading rows of the L2 norm of each run of
// inner consecutive elements of a − b: with inner T·T over [B,H,T,T], the
// mean over (batch, head) of the Frobenius norm; with inner C over [B,T,C],
// the mean over (batch, position) of the norm over the hidden dimension.
func meanNorms(a, b []float64, inner int) float64 {
	if len(a) != len(b) || len(a)%inner != 0 {
		panic(fmt.Sprintf("meanNorms: %d and %d elements, rows of %d", len(a), len(b), inner))
	}
	rows := len(a) / inner
	total := 0.0
	for r := 0; r < rows; r++ {
		s := 0.0
		for i := r * inner; i < (r+1)*inner; i++ {
			d := a[i] - b[i]
			s += d * d
		}
		total += math.Sqrt(s)
	}
	return total / float64(rows)
}

// logSoftmaxRow is log softmax of z.
func logSoftmaxRow(z []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, v)
	}
	s := 0.0
	for _, v := range z {
		s += math.Exp(v - m)
	}
	lse := m + math.Log(s)
	out := make([]float64, len(z))
	for i, v := range z {
		out[i] = v - lse
	}
	return out
}

// softCE is the mean over positions of −Σ_v softmax(zt/τ)_v log softmax(zs/τ)_v,
// times τ², plus w times the mean next-token cross-entropy of zs.
func softCE(zt, zs []float64, targets []int32, vocab int, tau, w float64) float64 {
	rows := len(zt) / vocab
	soft, hard := 0.0, 0.0
	for r := 0; r < rows; r++ {
		st, ss := make([]float64, vocab), make([]float64, vocab)
		for v := 0; v < vocab; v++ {
			st[v], ss[v] = zt[r*vocab+v]/tau, zs[r*vocab+v]/tau
		}
		lt, ls := logSoftmaxRow(st), logSoftmaxRow(ss)
		for v := 0; v < vocab; v++ {
			soft -= math.Exp(lt[v]) * ls[v]
		}
		hard -= logSoftmaxRow(zs[r*vocab : (r+1)*vocab])[targets[r]]
	}
	return tau*tau*soft/float64(rows) + w*hard/float64(rows)
}

// firstArgmax is the lowest index of the largest value.
func firstArgmax(z []float64) int {
	best := 0
	for i, v := range z {
		if v > z[best] {
			best = i
		}
	}
	return best
}
