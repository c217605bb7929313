// Evaluation: validation perplexity of a model (and top-1 agreement with its
// teacher, for a student) over the held-out sequences of a dataset, through
// the evaluation program of framework/stages compiled once per model.

package engine

import (
	"context"
	"fmt"
	"math"

	"github.com/mohawk-distill/mohawk/framework/data"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/stages"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// evalProgram is a compiled evaluation program.
type evalProgram struct {
	id          backend.ProgramID
	params      []models.Param
	inputs      map[string]bool
	batch       int
	seqLen      int
	withTeacher bool
}

// evalScores are the sums an evaluation adds up and what they give.
type evalScores struct {
	Tokens     int64
	ValPPL     float64
	Agreement  float64 // NaN without a teacher
	TeacherPPL float64 // NaN without a teacher
}

// evalTarget is what an evaluation evaluates: a model, its config and
// mixers, and its teacher when it is a student.
type evalTarget struct {
	ref        string
	cfg        models.HFConfig
	mixers     map[int]models.LayerMixer
	teacherRef string // "" for a teacher
}

// evalBatchTokens sizes evaluation batches: about this many tokens each
// (at least one sequence), enough to keep a backend busy without the
// logits [B,T,V] of a large vocabulary taking much memory.
const evalBatchTokens = 4096

// evaluate runs target over tokens tokens of set's sequences (rounded up to
// whole batches, and at most the whole set), in a fixed order, so that every
// evaluation of a run reads the same text.
func (e *Engine) evaluate(ctx context.Context, tg evalTarget, set *data.Set, tokens int64) (evalScores, error) {
	res := evalScores{Agreement: math.NaN(), TeacherPPL: math.NaN()}
	if set.Len() == 0 {
		return res, fmt.Errorf("evaluate %s: the validation set is empty (raise the dataset's validation fraction or add text)", tg.ref)
	}
	wanted := int((tokens + int64(set.SeqLen()) - 1) / int64(set.SeqLen())) // sequences
	batch := max(1, min(evalBatchTokens/set.SeqLen(), set.Len(), wanted))
	key := fmt.Sprintf("%s/%d/%d", tg.ref, batch, set.SeqLen())
	ep, ok := e.evals[key]
	if !ok {
		g, params, err := stages.Evaluation(ctx, stages.EvalOptions{Teacher: tg.cfg, Mixers: tg.mixers,
			WithTeacher: tg.teacherRef != "", Batch: batch, SeqLen: set.SeqLen(), DType: graph.F32, ShapesOnly: true})
		if err != nil {
			return res, fmt.Errorf("evaluate %s: %w", tg.ref, err)
		}
		id, err := e.compile(ctx, g)
		if err != nil {
			return res, fmt.Errorf("evaluate %s: compile: %w", tg.ref, err)
		}
		e.log.Info().Str("model", tg.ref).Int("batch", batch).Msg("evaluation program compiled")
		ep = &evalProgram{id: id, params: params, inputs: graphInputs(g), batch: batch, seqLen: set.SeqLen(), withTeacher: tg.teacherRef != ""}
		e.evals[key] = ep
	}
	if err := e.upload(ctx, ep.params, tg.ref, tg.teacherRef); err != nil {
		return res, fmt.Errorf("evaluate %s: %w", tg.ref, err)
	}
	perBatch := int64(batch * set.SeqLen())
	n := int((tokens + perBatch - 1) / perBatch)
	it, err := set.Batches(batch, 0, 0)
	if err != nil {
		return res, err
	}
	n = max(1, min(n, it.StepsPerEpoch()))
	var nll, count, agree, tnll float64
	for i := 0; i < n; i++ {
		tok, tgt := it.Next()
		in := map[string]*graph.Tensor{}
		if ep.inputs["tokens"] {
			in["tokens"] = tok
		}
		if ep.inputs["targets"] {
			in["targets"] = tgt
		}
		out, err := e.be.Run(ctx, ep.id, in)
		if err != nil {
			return res, fmt.Errorf("evaluate %s: %w", tg.ref, err)
		}
		nll += scalar(out, "nll_sum")
		count += scalar(out, "count")
		if ep.withTeacher {
			agree += scalar(out, "agree")
			tnll += scalar(out, "teacher_nll_sum")
		}
	}
	res.Tokens = int64(count)
	res.ValPPL = math.Exp(nll / count)
	if ep.withTeacher {
		res.Agreement = agree / count
		res.TeacherPPL = math.Exp(tnll / count)
	}
	return res, nil
}

// scalar reads a rank-0 output; NaN when it is missing.
func scalar(out map[string]*graph.Tensor, name string) float64 {
	t, ok := out[name]
	if !ok || t.Len() != 1 {
		return math.NaN()
	}
	return t.At(0)
}

// graphInputs lists the names of a program's inputs.
func graphInputs(g *graph.Graph) map[string]bool {
	in := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Op == graph.OpInput {
			in[n.Name] = true
		}
	}
	return in
}

// compile decomposes the fused ops the backend lacks and compiles g.
func (e *Engine) compile(ctx context.Context, g *graph.Graph) (backend.ProgramID, error) {
	dg, err := e.beInfo.Decompose(g)
	if err != nil {
		return 0, err
	}
	return e.be.Compile(ctx, dg)
}

// releaseEvals frees the compiled evaluation programs.
func (e *Engine) releaseEvals(ctx context.Context) {
	for k, ep := range e.evals {
		e.be.Release(ctx, ep.id)
		delete(e.evals, k)
	}
}
