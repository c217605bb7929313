package stages

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// lossTol is the relative tolerance of a float64 program's loss against the
// plain-Go float64 reference: the two sum the same terms in different
// orders.
const lossTol = 1e-9

var teachers = []struct {
	name string
	cfg  func() models.HFConfig
}{{"phi", phiTeacher}, {"llama", llamaTeacher}, {"gpt2", gpt2Teacher}}

// programParams are values for every param of the programs, spread (see
// spreadParams) so that the losses are not near-degenerate.
func programParams(progs []*Program, seed uint64) map[string]*graph.Tensor {
	var all []models.Param
	for _, p := range progs {
		all = append(all, p.Params...)
	}
	return spreadParams(all, seed)
}

// Stage 1's loss is Σ_l mean over (batch, head) of ‖M_l − A_l‖_F, with A_l
// the teacher's attention matrix and M_l the student mixer's matrix on the
// teacher's u_l, both run apart from the program, and the norms taken in Go.
func TestMatrixOrientationLossMatchesGoFrobenius(t *testing.T) {
	for _, tc := range teachers {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			opt := Options{Kind: MatrixOrientation, Teacher: cfg, Mixers: allMamba(), Batch: testBatch, SeqLen: testSeqLen, DType: graph.F64, Seed: testSeed}
			progs := build(t, opt)
			if len(progs) != 1 || fmt.Sprint(progs[0].Layers) != "[0 1]" {
				t.Fatalf("got %d programs (layers of the first %v), expected one over layers [0 1] without a budget", len(progs), progs[0].Layers)
			}
			params := programParams(progs, 3)
			inputs := batchInputs(4)
			out := evaluate(t, graphOf(t, progs[0]), params, inputs)
			taps := teacherTaps(t, cfg, params, inputs, false)
			total := 0.0
			for l := 0; l < 2; l++ {
				m := runFragment(t, cfg, discreteMamba(), l, mixer.FragmentMixingMatrix, taps[fmt.Sprintf("input/%d", l)], params)[mixer.OutputMatrix]
				a := taps[fmt.Sprintf("probs/%d", l)]
				if !m.Type.Equal(a.Type) {
					t.Fatalf("layer %d: M %v, A %v", l, m.Type, a.Type)
				}
				want := meanNorms(m.Float64s(), a.Float64s(), testSeqLen*testSeqLen)
				got := scalar(t, out, OutputLayerLoss+fmt.Sprint(l))
				if e := relErr(got, want); e > lossTol {
					t.Errorf("layer %d loss %.15g, Go reference %.15g (relative error %.2g > %g)", l, got, want, e, lossTol)
				}
				t.Logf("layer %d: loss %.12g, reference %.12g, relative error %.2g", l, got, want, relErr(got, want))
				total += want
			}
			if got := scalar(t, out, "loss"); relErr(got, total) > lossTol {
				t.Errorf("loss %.15g, Go reference %.15g", got, total)
			}
		})
	}
}

// llamaBlock is a Llama block's MLP half in Go: h₁ + down(silu(gate(n)) ⊙
// up(n)) with n = RMSNorm(h₁)·w, h₁ [rows, C], params of teacher layer l.
func llamaBlock(params map[string]*graph.Tensor, l int, h1 []float64, d int, eps float64) []float64 {
	p := fmt.Sprintf("%smodel.layers.%d.", TeacherPrefix, l)
	w := params[p+"post_attention_layernorm.weight"].Float64s()
	gate, up, down := params[p+"mlp.gate_proj.weight"], params[p+"mlp.up_proj.weight"], params[p+"mlp.down_proj.weight"]
	f := gate.Shape[0]
	rows := len(h1) / d
	out := make([]float64, len(h1))
	for r := 0; r < rows; r++ {
		x := h1[r*d : (r+1)*d]
		ms := 0.0
		for _, v := range x {
			ms += v * v
		}
		inv := 1 / math.Sqrt(ms/float64(d)+eps)
		n := make([]float64, d)
		for c := range n {
			n[c] = x[c] * inv * w[c]
		}
		act := make([]float64, f)
		for j := 0; j < f; j++ {
			g, u := 0.0, 0.0
			for c := 0; c < d; c++ {
				g += gate.At(j*d+c) * n[c]
				u += up.At(j*d+c) * n[c]
			}
			act[j] = g / (1 + math.Exp(-g)) * u
		}
		for c := 0; c < d; c++ {
			s := 0.0
			for j := 0; j < f; j++ {
				s += down.At(c*f+j) * act[j]
			}
			out[r*d+c] = x[c] + s
		}
	}
	return out
}

// Stage 2's loss is Σ_l mean over (batch, position) of ‖ŷ_l − y_l‖₂ over
// the hidden dim: ŷ the student mixer's output on the teacher's u_l against
// the teacher's attention output, or (block_output) the block rebuilt around
// the student's mixer against the teacher's block. For Phi's parallel block
// the two targets give the same loss (the block differs from the mixer by
// the same residual and MLP terms on both sides); for Llama's sequential
// block the MLP half is recomputed in Go.
func TestHiddenStateAlignmentLossMatchesGoNorms(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		cfg          func() models.HFConfig
	}{
		{"phi/attention_output", TargetAttentionOutput, phiTeacher},
		{"phi/block_output", TargetBlockOutput, phiTeacher},
		{"llama/attention_output", TargetAttentionOutput, llamaTeacher},
		{"llama/block_output", TargetBlockOutput, llamaTeacher},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			opt := Options{Kind: HiddenStateAlignment, Teacher: cfg, Mixers: allMamba(), Batch: testBatch, SeqLen: testSeqLen, DType: graph.F64, Seed: testSeed, Target: tc.target}
			progs := build(t, opt)
			params := programParams(progs, 8)
			inputs := batchInputs(9)
			out := evaluate(t, graphOf(t, progs[0]), params, inputs)
			taps := teacherTaps(t, cfg, params, inputs, false)
			const d = 32
			total := 0.0
			for l := 0; l < 2; l++ {
				tap := func(name string) []float64 { return taps[fmt.Sprintf("%s/%d", name, l)].Float64s() }
				y := runFragment(t, cfg, discreteMamba(), l, mixer.FragmentForward, taps[fmt.Sprintf("input/%d", l)], params)[mixer.OutputY].Float64s()
				pred, target := y, tap("mixer")
				if tc.target == TargetBlockOutput && cfg.Family == models.FamilyLlama {
					h1 := tap("residual")
					for i := range h1 {
						h1[i] += y[i]
					}
					pred, target = llamaBlock(params, l, h1, d, cfg.Llama.Defaults().RMSNormEps), tap("block")
				}
				want := meanNorms(pred, target, d)
				got := scalar(t, out, OutputLayerLoss+fmt.Sprint(l))
				if e := relErr(got, want); e > lossTol {
					t.Errorf("layer %d loss %.15g, Go reference %.15g (relative error %.2g > %g)", l, got, want, e, lossTol)
				}
				t.Logf("layer %d: loss %.12g, reference %.12g, relative error %.2g", l, got, want, relErr(got, want))
				total += want
			}
			if got := scalar(t, out, "loss"); relErr(got, total) > lossTol {
				t.Errorf("loss %.15g, Go reference %.15g", got, total)
			}
		})
	}
}

// Knowledge distillation's loss is the soft cross-entropy of the student's
// logits against the teacher's (τ² times, at temperature τ), plus the
// weighted hard-label cross-entropy, computed in Go from both models'
// logits run apart from the program.
func TestKnowledgeDistillationLossMatchesGoSoftCE(t *testing.T) {
	for _, tc := range []struct{ tau, hard float64 }{{1, 0}, {2, 0}, {2, 0.5}, {1, 0.25}} {
		t.Run(fmt.Sprintf("tau%g_hard%g", tc.tau, tc.hard), func(t *testing.T) {
			cfg := phiTeacher()
			mixers := map[int]models.LayerMixer{1: discreteMamba()}
			opt := Options{Kind: KnowledgeDistillation, Teacher: cfg, Mixers: mixers, Batch: testBatch, SeqLen: testSeqLen, DType: graph.F64, Seed: testSeed, Temperature: tc.tau, HardLabelWeight: tc.hard}
			progs := build(t, opt)
			params := programParams(progs, 21)
			inputs := batchInputs(22)
			got := scalar(t, evaluate(t, graphOf(t, progs[0]), params, inputs), "loss")
			zt := teacherTaps(t, cfg, params, inputs, true)["logits"].Float64s()
			zs := modelLogits(t, cfg, mixers, params, inputs).Float64s()
			want := softCE(zt, zs, inputs["targets"].I32, testVocab, tc.tau, tc.hard)
			if e := relErr(got, want); e > lossTol {
				t.Fatalf("loss %.15g, Go reference %.15g (relative error %.2g > %g)", got, want, e, lossTol)
			}
			t.Logf("loss %.12g, reference %.12g, relative error %.2g", got, want, relErr(got, want))
		})
	}
}

// Pretraining's loss is the model's mean next-token cross-entropy.
func TestPretrainLossMatchesGoCE(t *testing.T) {
	for _, tc := range teachers {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			progs := build(t, Options{Kind: Pretrain, Teacher: cfg, Batch: testBatch, SeqLen: testSeqLen, DType: graph.F64, Seed: testSeed})
			params := programParams(progs, 31)
			inputs := batchInputs(32)
			got := scalar(t, evaluate(t, graphOf(t, progs[0]), params, inputs), "loss")
			z := modelLogits(t, cfg, nil, params, inputs).Float64s()
			want := 0.0
			targets := inputs["targets"].I32
			for r := range targets {
				want -= logSoftmaxRow(z[r*testVocab : (r+1)*testVocab])[targets[r]]
			}
			want /= float64(len(targets))
			if e := relErr(got, want); e > lossTol {
				t.Fatalf("loss %.15g, Go reference %.15g (relative error %.2g)", got, want, e)
			}
			for _, n := range progs[0].TrainableNames {
				if strings.HasPrefix(n, TeacherPrefix) {
					t.Fatalf("pretraining a teacher reads %q: its params must keep their own names", n)
				}
			}
			if len(progs[0].TrainableNames) != len(progs[0].Params) {
				t.Fatalf("pretraining trains %d of %d params, expected all", len(progs[0].TrainableNames), len(progs[0].Params))
			}
		})
	}
}

func trainableOf(t *testing.T, opt Options) []string {
	t.Helper()
	var names []string
	for _, p := range build(t, opt) {
		names = append(names, p.TrainableNames...)
	}
	return names
}

func layerMixerNames(names []string, l int) []string {
	var out []string
	prefix := fmt.Sprintf("model.layers.%d.mixer.", l)
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, strings.TrimPrefix(n, prefix))
		}
	}
	return out
}

// The default trainable sets follow MOHAWK.md: stage 1 trains what the
// mixing matrix depends on (in_proj, the conv, D; not out_proj or z_bias,
// which have no gradient path to the loss), stage 2 the whole mixer, stage 3
// the whole student; never the teacher.
func TestDefaultTrainableSets(t *testing.T) {
	base := Options{Teacher: phiTeacher(), Mixers: allMamba(), Batch: testBatch, SeqLen: testSeqLen, DType: graph.F32, Seed: testSeed}
	kind := func(k Kind) Options { o := base; o.Kind = k; return o }

	stage1 := trainableOf(t, kind(MatrixOrientation))
	for l := 0; l < 2; l++ {
		if got := fmt.Sprint(layerMixerNames(stage1, l)); got != "[in_proj.weight conv1d.weight conv1d.bias D]" {
			t.Errorf("stage 1 layer %d trains %s, expected [in_proj.weight conv1d.weight conv1d.bias D]", l, got)
		}
	}
	if len(stage1) != 8 {
		t.Errorf("stage 1 trains %v, expected only the two mixers' matrix params", stage1)
	}

	stage2 := trainableOf(t, kind(HiddenStateAlignment))
	for l := 0; l < 2; l++ {
		if got := fmt.Sprint(layerMixerNames(stage2, l)); got != "[in_proj.weight conv1d.weight conv1d.bias z_bias D out_proj.weight]" {
			t.Errorf("stage 2 layer %d trains %s, expected the whole mixer", l, got)
		}
	}
	if len(stage2) != 12 {
		t.Errorf("stage 2 trains %v, expected only the two mixers", stage2)
	}

	stage3 := trainableOf(t, kind(KnowledgeDistillation))
	for _, want := range []string{"model.embed_tokens.weight", "model.layers.0.mlp.fc1.weight", "model.layers.1.mixer.out_proj.weight", "model.layers.1.input_layernorm.bias", "lm_head.weight", "lm_head.bias"} {
		if !contains(stage3, want) {
			t.Errorf("stage 3 does not train %s", want)
		}
	}
	for _, set := range [][]string{stage1, stage2, stage3} {
		for _, n := range set {
			if strings.HasPrefix(n, TeacherPrefix) || strings.Contains(n, "self_attn") {
				t.Errorf("a teacher param is trainable: %s", n)
			}
		}
	}
	if len(stage3) != 29 {
		t.Errorf("stage 3 trains %d params, expected the student's 29: %v", len(stage3), stage3)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Train replaces the default set with its matches among the params the
// loss depends on, Freeze removes its matches; a glob that matches nothing
// the stage could train, or an empty result, is an error naming the kind.
func TestTrainFreezeGlobs(t *testing.T) {
	base := Options{Teacher: phiTeacher(), Mixers: allMamba(), Batch: testBatch, SeqLen: testSeqLen, DType: graph.F32, Seed: testSeed}
	with := func(k Kind, train, freeze []string) Options {
		o := base
		o.Kind, o.Train, o.Freeze = k, train, freeze
		return o
	}
	kdMixer := trainableOf(t, with(KnowledgeDistillation, []string{"*.mixer.*"}, nil))
	if len(kdMixer) != 12 {
		t.Errorf("knowledge distillation with train [*.mixer.*] trains %v, expected the 12 mixer params", kdMixer)
	}
	kdNoMLP := trainableOf(t, with(KnowledgeDistillation, nil, []string{"*.mlp.*"}))
	if len(kdNoMLP) != 29-8 || contains(kdNoMLP, "model.layers.0.mlp.fc1.weight") {
		t.Errorf("knowledge distillation with freeze [*.mlp.*] trains %v, expected the student without its 8 MLP params", kdNoMLP)
	}
	onlyD := trainableOf(t, with(MatrixOrientation, []string{"*.D"}, nil))
	if fmt.Sprint(onlyD) != "[model.layers.0.mixer.D model.layers.1.mixer.D]" {
		t.Errorf("matrix orientation with train [*.D] trains %v", onlyD)
	}
	for _, tc := range []struct {
		opt  Options
		want string
	}{
		{with(MatrixOrientation, []string{"*.out_proj.*"}, nil), `matrix_orientation stage: train glob "*.out_proj.*" matches no parameter`},
		{with(KnowledgeDistillation, []string{"teacher/*"}, nil), `knowledge_distillation stage: train glob "teacher/*" matches no parameter`},
		{with(HiddenStateAlignment, nil, []string{"*"}), `hidden_state_alignment stage: no parameter is left to train`},
		{with(Pretrain, nil, []string{"*.mixr.*"}), `pretrain stage: freeze glob "*.mixr.*" matches no parameter`},
	} {
		_, err := Build(context.Background(), tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s train %q freeze %q: error %v, expected %q", tc.opt.Kind, tc.opt.Train, tc.opt.Freeze, err, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		glob, name string
		want       bool
	}{
		{"*.mixer.*", "model.layers.3.mixer.in_proj.weight", true},
		{"*.mixer.*", "model.layers.3.self_attn.q_proj.weight", false},
		{"*", "teacher/model.embed_tokens.weight", true},
		{"model.layers.?.mlp.*", "model.layers.1.mlp.fc1.bias", true},
		{"model.layers.?.mlp.*", "model.layers.12.mlp.fc1.bias", false},
		{"*.D", "model.layers.0.mixer.D", true},
		{"*.D", "model.layers.0.mixer.D_x", false},
		{"lm_head.weight", "lm_head.weight", true},
		{"lm_head.*", "lm_head", false},
		{"**bias", "a.b.bias", true},
		{"", "", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
	} {
		if got := Match(tc.glob, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, expected %v", tc.glob, tc.name, got, tc.want)
		}
	}
}

// Matrix orientation groups layers so that one group's matrices fit the
// budget (one layer at least), and each group's layer losses are those of
// the ungrouped program.
func TestMatrixOrientationMemoryBudgetGroups(t *testing.T) {
	cfg := phiTeacher()
	c := *cfg.Phi
	c.Layers = 3
	cfg.Phi = &c
	mixers := map[int]models.LayerMixer{0: discreteMamba(), 1: discreteMamba(), 2: discreteMamba()}
	base := Options{Kind: MatrixOrientation, Teacher: cfg, Mixers: mixers, Batch: testBatch, SeqLen: testSeqLen, DType: graph.F64, Seed: testSeed}
	perLayer := MatrixBytes(testBatch, 4, testSeqLen, graph.F64)
	if perLayer != 4*testBatch*4*testSeqLen*testSeqLen*8 {
		t.Fatalf("MatrixBytes %d", perLayer)
	}
	whole := build(t, base)
	params := programParams(whole, 41)
	inputs := batchInputs(42)
	ref := evaluate(t, graphOf(t, whole[0]), params, inputs)
	for _, tc := range []struct {
		budget int64
		groups string
	}{{0, "[[0 1 2]]"}, {1, "[[0] [1] [2]]"}, {perLayer, "[[0] [1] [2]]"}, {2*perLayer + 1, "[[0 1] [2]]"}, {3 * perLayer, "[[0 1 2]]"}} {
		opt := base
		opt.MemoryBudget = tc.budget
		progs := build(t, opt)
		var groups [][]int
		for _, p := range progs {
			groups = append(groups, p.Layers)
			out := evaluate(t, graphOf(t, p), params, inputs)
			sum := 0.0
			for _, l := range p.Layers {
				name := OutputLayerLoss + fmt.Sprint(l)
				got, want := scalar(t, out, name), scalar(t, ref, name)
				if got != want {
					t.Errorf("budget %d: layer %d loss %.17g in its group, %.17g ungrouped", tc.budget, l, got, want)
				}
				sum += want
			}
			if got := scalar(t, out, "loss"); relErr(got, sum) > 1e-15 {
				t.Errorf("budget %d: group %v loss %.17g, sum of its layer losses %.17g", tc.budget, p.Layers, got, sum)
			}
			if len(p.TrainableNames) != 4*len(p.Layers) {
				t.Errorf("budget %d: group %v trains %v", tc.budget, p.Layers, p.TrainableNames)
			}
		}
		if got := fmt.Sprint(groups); got != tc.groups {
			t.Errorf("budget %d (a layer needs %d bytes): groups %s, expected %s", tc.budget, perLayer, got, tc.groups)
		}
	}
}

// A mixer whose matrix has other heads than the teacher's attention cannot
// be fitted to it; the error says so.
func TestMatrixOrientationHeadMismatch(t *testing.T) {
	m := models.LayerMixer{Mixer: discreteMamba().Mixer, Layer: mixer.Layer{Config: schemaDefaults(mamba2.Schema, map[string]cty.Value{
		"variant": cty.StringVal("discrete"), "state_size": cty.NumberIntVal(8), "heads": cty.NumberIntVal(2),
	})}}
	_, err := Build(context.Background(), Options{Kind: MatrixOrientation, Teacher: phiTeacher(), Mixers: map[int]models.LayerMixer{0: m}, Batch: testBatch, SeqLen: testSeqLen})
	if err == nil || !strings.Contains(err.Error(), "heads") || !strings.Contains(err.Error(), "layer 0") {
		t.Fatalf("error %v, expected one about layer 0's heads", err)
	}
	t.Log(err)
}

// Layer-wise stages need replaced layers; an unknown kind or target is
// named.
func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opt  Options
		want string
	}{
		{Options{Kind: "distill", Teacher: phiTeacher(), Batch: 1}, `stage kind "distill" is unknown`},
		{Options{Kind: MatrixOrientation, Teacher: phiTeacher(), Batch: 1}, "no replaced layers"},
		{Options{Kind: HiddenStateAlignment, Teacher: phiTeacher(), Mixers: allMamba(), Batch: 1, Target: "mlp"}, `target "mlp" is unknown`},
		{Options{Kind: Pretrain, Teacher: phiTeacher()}, "batch 0"},
	} {
		_, err := Build(context.Background(), tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, expected %q", tc.opt.Kind, err, tc.want)
		}
	}
}
