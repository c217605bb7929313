// Package stages builds the programs of a distillation pipeline's stages:
// for each stage kind (MOHAWK.md), the forward pass of the models involved
// and the stage's loss, as a graph ready for train.StepGraphs, together with
// the params it trains by default (or as the stage's globs say), and the
// evaluation program (validation perplexity and top-1 agreement with the
// teacher).
//
// Names: the model a stage trains (a student, or a teacher being pre- or
// fine-trained) keeps its Hugging Face param names; a frozen teacher beside
// it reads its params under TeacherPrefix. Programs read the i32 inputs
// "tokens" [B,T] and, where a next-token loss needs them, "targets" [B,T].
package stages

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/train"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Kind is a stage's kind.
type Kind string

// The stage kinds.
const (
	Pretrain              Kind = "pretrain"
	MatrixOrientation     Kind = "matrix_orientation"
	HiddenStateAlignment  Kind = "hidden_state_alignment"
	KnowledgeDistillation Kind = "knowledge_distillation"
	Finetune              Kind = "finetune"
)

// Kinds lists every kind in pipeline order.
var Kinds = []Kind{Pretrain, MatrixOrientation, HiddenStateAlignment, KnowledgeDistillation, Finetune}

// TeacherPrefix starts the resident names of the frozen teacher's params in
// distillation programs.
const TeacherPrefix = "teacher/"

// Targets of hidden-state alignment.
const (
	TargetAttentionOutput = "attention_output" // the teacher's attention sublayer output
	TargetBlockOutput     = "block_output"     // the teacher's whole block output
)

// Options describe one stage's program.
type Options struct {
	Kind Kind
	// Teacher is the teacher's config; for pretrain/finetune of a teacher,
	// the model trained.
	Teacher models.HFConfig
	// Mixers are the student's replaced layers; nil: the model trained is
	// the teacher itself.
	Mixers        map[int]models.LayerMixer
	Batch, SeqLen int         // one micro-batch; SeqLen 0: the config's
	DType         graph.DType // F32 when unset
	Seed          uint64      // of the random initial values in Program.Params
	// Target is what hidden-state alignment matches: TargetAttentionOutput
	// (default) or TargetBlockOutput.
	Target string
	// Temperature (default 1) and HardLabelWeight of knowledge distillation.
	Temperature, HardLabelWeight float64
	// MemoryBudget bounds the bytes of matrix orientation's materialised
	// matrices per program; layers are grouped to fit, one layer at least
	// per program. 0: no bound, one program.
	MemoryBudget int64
	// Train, when not empty, replaces the default trainable set by the
	// params whose names match one of its globs; Freeze then removes the
	// matches of its globs. See Match for the glob rule.
	Train, Freeze []string
	// ShapesOnly builds the programs without the params' random initial
	// values (every Program.Params[i].Init nil): for a caller that counts
	// them or supplies the values itself.
	ShapesOnly bool
}

// Program is one stage program: a forward pass and its loss.
type Program struct {
	Builder *graph.Builder // outputs "loss" and, for layer-wise stages, "layer_loss/<l>"
	Loss    graph.Value    // rank-0
	// Trainable are the params the stage trains, in the order of
	// TrainableNames.
	Trainable      []train.Param
	TrainableNames []string
	// Params is every param the program reads, by resident name, with its
	// shape and, unless Options.ShapesOnly, a random initial value (the
	// engine replaces it by loaded weights).
	Params []models.Param
	Layers []int // the layers of a layer-wise program, ascending
}

// OutputLayerLoss starts the names of per-layer loss outputs:
// "layer_loss/3".
const OutputLayerLoss = "layer_loss/"

// Build builds the programs of a stage: one, or for matrix orientation one
// per group of layers that fits the memory budget.
func Build(ctx context.Context, opt Options) ([]*Program, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	var progs []*Program
	switch opt.Kind {
	case Pretrain, Finetune:
		p, err := buildNextToken(ctx, opt)
		if err != nil {
			return nil, err
		}
		progs = []*Program{p}
	case KnowledgeDistillation:
		p, err := buildDistillation(ctx, opt)
		if err != nil {
			return nil, err
		}
		progs = []*Program{p}
	case MatrixOrientation:
		progs, err = buildMatrixOrientation(ctx, opt)
	case HiddenStateAlignment:
		var p *Program
		p, err = buildHiddenStateAlignment(ctx, opt)
		progs = []*Program{p}
	}
	if err != nil {
		return nil, fmt.Errorf("%s stage: %w", opt.Kind, err)
	}
	return selectTrainable(opt, progs)
}

func (opt Options) withDefaults() (Options, error) {
	known := false
	for _, k := range Kinds {
		known = known || k == opt.Kind
	}
	if !known {
		names := make([]string, len(Kinds))
		for i, k := range Kinds {
			names[i] = string(k)
		}
		return opt, fmt.Errorf("stage kind %q is unknown (expected one of %s)", opt.Kind, strings.Join(names, ", "))
	}
	if opt.Batch <= 0 || opt.SeqLen < 0 {
		return opt, fmt.Errorf("%s stage: batch %d and sequence length %d must be positive", opt.Kind, opt.Batch, opt.SeqLen)
	}
	if opt.SeqLen == 0 {
		opt.SeqLen = opt.Teacher.LayerDims(opt.Batch, 0, 0, graph.F32).SeqLen
	}
	if opt.DType == graph.Invalid {
		opt.DType = graph.F32
	}
	if !opt.DType.IsFloat() {
		return opt, fmt.Errorf("%s stage: dtype %v is not floating point", opt.Kind, opt.DType)
	}
	if opt.Target == "" {
		opt.Target = TargetAttentionOutput
	}
	if opt.Temperature == 0 {
		opt.Temperature = 1
	}
	if opt.Temperature < 0 || opt.HardLabelWeight < 0 {
		return opt, fmt.Errorf("%s stage: temperature %g and hard_label_weight %g must not be negative", opt.Kind, opt.Temperature, opt.HardLabelWeight)
	}
	switch opt.Kind {
	case MatrixOrientation, HiddenStateAlignment:
		if len(opt.Mixers) == 0 {
			return opt, fmt.Errorf("%s stage: the model has no replaced layers to align (a student with mixer blocks is expected)", opt.Kind)
		}
	}
	return opt, nil
}

// layersOf returns the replaced layers, ascending.
func layersOf(mixers map[int]models.LayerMixer) []int {
	ls := make([]int, 0, len(mixers))
	for l := range mixers {
		ls = append(ls, l)
	}
	sort.Ints(ls)
	return ls
}

// buildNextToken is pretrain and finetune: the next-token cross-entropy of
// the model (the teacher's family, with opt.Mixers replacing layers when
// set), every param trainable.
func buildNextToken(ctx context.Context, opt Options) (*Program, error) {
	b := graph.NewBuilder()
	lm, err := models.BuildModel(ctx, b, opt.Teacher, opt.DType, opt.Batch, models.BuildOptions{Mixers: opt.Mixers, SeqLen: opt.SeqLen, Seed: opt.Seed, ShapesOnly: opt.ShapesOnly})
	if err != nil {
		return nil, err
	}
	loss := lm.NextTokenLoss(b)
	b.Output(train.OutputLoss, loss)
	if err := b.Err(); err != nil {
		return nil, err
	}
	return &Program{Builder: b, Loss: loss, Params: lm.Params}, nil
}

// buildDistillation is knowledge distillation: the frozen teacher's and the
// student's logits over the same tokens; the loss is the mean over
// positions of the cross-entropy of the student's softened distribution
// against the teacher's, times τ² (so gradients keep their scale across
// temperatures, as Hinton et al. do), plus HardLabelWeight times the
// next-token cross-entropy against "targets" when it is positive.
func buildDistillation(ctx context.Context, opt Options) (*Program, error) {
	b := graph.NewBuilder()
	teacher, err := models.BuildModel(ctx, b, opt.Teacher, opt.DType, opt.Batch, models.BuildOptions{Prefix: TeacherPrefix, SeqLen: opt.SeqLen, Seed: opt.Seed, ShapesOnly: opt.ShapesOnly})
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	student, err := models.BuildModel(ctx, b, opt.Teacher, opt.DType, opt.Batch, models.BuildOptions{Mixers: opt.Mixers, SeqLen: opt.SeqLen, Seed: opt.Seed, ShapesOnly: opt.ShapesOnly})
	if err != nil {
		return nil, fmt.Errorf("student: %w", err)
	}
	tau := opt.Temperature
	zt := b.StopGradient(teacher.Logits) // [B,T,V]
	zs := student.Logits                 // [B,T,V]
	if tau != 1 {
		zt, zs = b.MulScalar(zt, 1/tau), b.MulScalar(zs, 1/tau)
	}
	// soft[b,t] = −Σ_v softmax(zt)_v · log_softmax(zs)_v   [B,T,1]
	soft := b.Neg(b.ReduceSum(b.Mul(b.Softmax(zt), b.LogSoftmax(zs)), -1))
	loss := b.Reshape(b.Mean(soft))
	if tau != 1 {
		loss = b.MulScalar(loss, tau*tau)
	}
	if opt.HardLabelWeight > 0 {
		hard := student.NextTokenLoss(b)
		b.Output("soft_loss", loss)
		b.Output("hard_loss", hard)
		loss = b.Add(loss, b.MulScalar(hard, opt.HardLabelWeight))
	}
	b.Output(train.OutputLoss, loss)
	if err := b.Err(); err != nil {
		return nil, err
	}
	return &Program{Builder: b, Loss: loss, Params: append(teacher.Params, student.Params...)}, nil
}
