package stages

// eval.go builds the evaluation program: sums over one micro-batch that the
// engine adds up over the validation set (perplexity = exp(nll_sum/count),
// agreement = agree/count).

import (
	"context"
	"fmt"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// EvalOptions describe an evaluation program.
type EvalOptions struct {
	Teacher models.HFConfig
	// Mixers are the student's replaced layers; nil evaluates the teacher's
	// family itself (a teacher, or a pretrained baseline).
	Mixers map[int]models.LayerMixer
	// WithTeacher adds the frozen teacher (under TeacherPrefix) for
	// agreement and its own perplexity.
	WithTeacher   bool
	Batch, SeqLen int         // SeqLen 0: the config's
	DType         graph.DType // F32 when unset
	// ShapesOnly leaves the params' random initial values out (Init nil).
	ShapesOnly bool
}

// Evaluation output names; each is an f32 rank-0 sum over the micro-batch.
const (
	OutputNLLSum        = "nll_sum"         // Σ next-token cross-entropy of the model
	OutputCount         = "count"           // positions scored
	OutputAgree         = "agree"           // positions where the model's and the teacher's top-1 tokens agree
	OutputTeacherNLLSum = "teacher_nll_sum" // Σ next-token cross-entropy of the teacher
)

// Evaluation builds the evaluation program over the inputs "tokens" and
// "targets" [B,T] and returns it with every param it reads (the model at
// its own names, the teacher under TeacherPrefix), initialised at random
// unless ShapesOnly.
func Evaluation(ctx context.Context, opt EvalOptions) (*graph.Graph, []models.Param, error) {
	if opt.Batch <= 0 || opt.SeqLen < 0 {
		return nil, nil, fmt.Errorf("evaluation: batch %d and sequence length %d must be positive", opt.Batch, opt.SeqLen)
	}
	if opt.DType == graph.Invalid {
		opt.DType = graph.F32
	}
	b := graph.NewBuilder()
	model, err := models.BuildModel(ctx, b, opt.Teacher, opt.DType, opt.Batch, models.BuildOptions{Mixers: opt.Mixers, SeqLen: opt.SeqLen, ShapesOnly: opt.ShapesOnly})
	if err != nil {
		return nil, nil, fmt.Errorf("evaluation: %w", err)
	}
	params := model.Params
	shape := b.Shape(model.Logits) // [B,T,V]
	targets := b.Input("targets", graph.I32, shape[0], shape[1])
	nllSum := func(logits graph.Value) graph.Value {
		return b.Cast(b.Sum(b.CrossEntropy(logits, targets)), graph.F32)
	}
	b.Output(OutputNLLSum, nllSum(model.Logits))
	b.Output(OutputCount, b.Scalar(graph.F32, float64(shape[0]*shape[1])))
	if opt.WithTeacher {
		teacher, err := models.BuildModel(ctx, b, opt.Teacher, opt.DType, opt.Batch, models.BuildOptions{Prefix: TeacherPrefix, SeqLen: opt.SeqLen, ShapesOnly: opt.ShapesOnly})
		if err != nil {
			return nil, nil, fmt.Errorf("evaluation teacher: %w", err)
		}
		params = append(params, teacher.Params...)
		same := b.Cast(b.Equal(argmax(b, model.Logits), argmax(b, teacher.Logits)), graph.F32)
		b.Output(OutputAgree, b.Sum(same))
		b.Output(OutputTeacherNLLSum, nllSum(teacher.Logits))
	}
	g, err := b.Build()
	if err != nil {
		return nil, nil, fmt.Errorf("evaluation: %w", err)
	}
	return g, params, nil
}

// argmax is the index of the largest logit of z [B,T,V] along V, as a value
// of z's dtype [B,T,1]. Ties go to the lowest index (the same rule for the
// model and the teacher, so tied logits still compare deterministically):
// the smallest index among those equal to the maximum. Indices are exact in
// f32 up to 2²⁴, far above any vocabulary.
func argmax(b *graph.Builder, z graph.Value) graph.Value {
	s := b.Shape(z)
	dt := b.DType(z)
	top := b.ReduceMax(z, -1) // [B,T,1]
	index := b.Iota(dt, 2, s...)
	notTop := b.Full(dt, float64(s[2]), s...)
	candidates := b.Where(b.Equal(z, top), index, notTop)
	return b.Neg(b.ReduceMax(b.Neg(candidates), -1)) // the least candidate
}
