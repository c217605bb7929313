// StageStep: one MOHAWK stage training step (hidden-state alignment or
// knowledge distillation) at a real model's dimensions, on any backend.

package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/stages"
	"github.com/mohawk-distill/mohawk/framework/train"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// Phi15 is Phi-1.5's architecture (d_model 2048, 24 layers, 32 heads of 64,
// MLP 8192, rotary on 32 channels, vocabulary 51200) at sequence length T.
func Phi15(seqLen int) models.HFConfig {
	return models.HFConfig{Family: models.FamilyPhi, Phi: &models.PhiConfig{
		Vocab: 51200, DModel: 2048, Layers: 24, Heads: 32, SeqLen: seqLen, MLPHidden: 8192, RotaryDim: 32,
	}}
}

// PhiMamba is Phi-Mamba's mixer: discrete Mamba-2 with one B and C per head,
// state 64, chunk 128 (pipelines/phi-mamba.hcl). heads and state follow the
// teacher when 0.
func PhiMamba(heads, state, chunk int) models.LayerMixer {
	attrs := map[string]cty.Value{}
	for _, a := range mamba2.Schema.Attributes {
		attrs[a.Name] = a.Default
	}
	attrs["variant"] = cty.StringVal(mamba2.VariantDiscrete)
	attrs["heads"] = cty.NumberIntVal(int64(heads))
	attrs["n_qk_heads"] = cty.NumberIntVal(int64(heads))
	attrs["state_size"] = cty.NumberIntVal(int64(state))
	attrs["chunk"] = cty.NumberIntVal(int64(chunk))
	return models.LayerMixer{Mixer: mamba2.Mixer{}, Layer: mixer.Layer{Config: cty.ObjectVal(attrs)}}
}

// StageModel is a teacher and student mixer the stage-step benchmarks run
// by name: "small" (Phi-style, d 256, 4 layers, 4 heads, T 256; state and
// chunk 64) or "phi-1.5" (Phi15 at T 2048 with PhiMamba's mixer); ok is
// false for any other name.
func StageModel(name string) (teacher models.HFConfig, mix models.LayerMixer, ok bool) {
	switch name {
	case "small":
		return models.HFConfig{Family: models.FamilyPhi, Phi: &models.PhiConfig{Vocab: 256, DModel: 256, Layers: 4, Heads: 4, SeqLen: 256}},
			PhiMamba(4, 64, 64), true
	case "phi-1.5":
		return Phi15(2048), PhiMamba(32, 64, 128), true
	}
	return models.HFConfig{}, models.LayerMixer{}, false
}

// StageStepOptions describe the step to time.
type StageStepOptions struct {
	Kind          stages.Kind // stages.HiddenStateAlignment or stages.KnowledgeDistillation
	Teacher       models.HFConfig
	Mixer         models.LayerMixer // replaces the attention of every layer
	Batch, SeqLen int
	Warmup, Steps int         // untimed, then timed steps
	Opt           train.AdamW // zero: β (0.9, 0.95), ε 1e-8, decay 0.1, no clipping
	LR            float64     // zero: 1e-4
	// Loss, when set, receives every step's loss (warm-up steps included).
	Loss func(step int, loss float64)
}

// StageStepResult is the speed of the step.
type StageStepResult struct {
	Kind                stages.Kind
	Trainable, Resident int // params trained; elements of every resident param
	TokensPerStep       int
	BuildSeconds        float64 // graph, autodiff and Compile
	UploadSeconds       float64 // params and optimizer state to the backend
	StepSeconds         float64 // median over the timed steps
	TokensPerSec        float64
	FirstLoss, LastLoss float64
	Steps               int
	Backend, Device     string
}

// StageStep builds the stage's program on random weights, compiles one
// AdamW step on be (decomposing the fused ops be does not run natively, as
// the engine does), makes the params resident and times Run on one fixed
// random batch. Every step is a whole forward, backward and update.
func StageStep(ctx context.Context, be backend.Backend, o StageStepOptions) (StageStepResult, error) {
	if o.Opt == (train.AdamW{}) {
		o.Opt = train.AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	}
	if o.LR == 0 {
		o.LR = 1e-4
	}
	res := StageStepResult{Kind: o.Kind, Steps: o.Steps, TokensPerStep: o.Batch * o.SeqLen}
	info, err := be.Info(ctx)
	if err != nil {
		return res, err
	}
	res.Backend = info.Name
	if len(info.Devices) > 0 {
		res.Device = info.Devices[0].Name
	}
	start := time.Now()
	layers := o.Teacher.Layers()
	mixers := make(map[int]models.LayerMixer, layers)
	for l := range layers {
		mixers[l] = o.Mixer
	}
	progs, err := stages.Build(ctx, stages.Options{Kind: o.Kind, Teacher: o.Teacher, Mixers: mixers,
		Batch: o.Batch, SeqLen: o.SeqLen, ShapesOnly: true})
	if err != nil {
		return res, err
	}
	if len(progs) != 1 {
		return res, fmt.Errorf("bench: %s builds %d programs, expected one", o.Kind, len(progs))
	}
	p := progs[0]
	steps, err := train.StepGraphs(p.Builder, p.Loss, p.Trainable, o.Opt, 1)
	if err != nil {
		return res, err
	}
	g, err := info.Decompose(steps.Step)
	if err != nil {
		return res, err
	}
	id, err := be.Compile(ctx, g)
	if err != nil {
		return res, fmt.Errorf("bench: compiling the %s step: %w", o.Kind, err)
	}
	defer be.Release(ctx, id)
	res.BuildSeconds = time.Since(start).Seconds()

	start = time.Now()
	pool := normalPool(1<<20, 0.02)
	for i, prm := range p.Params {
		t := fillParam(prm, pool, i)
		res.Resident += t.Len()
		if slices.Contains(p.TrainableNames, prm.Name) {
			res.Trainable += t.Len()
		}
		if err := be.SetTensor(ctx, prm.Name, t); err != nil {
			return res, fmt.Errorf("bench: param %s %v: %w", prm.Name, prm.Shape, err)
		}
		defer be.DeleteTensor(ctx, prm.Name)
	}
	for name, t := range steps.StateInit {
		if err := be.SetTensor(ctx, name, t); err != nil {
			return res, fmt.Errorf("bench: optimizer state %s: %w", name, err)
		}
		defer be.DeleteTensor(ctx, name)
	}
	res.UploadSeconds = time.Since(start).Seconds()

	tokens, targets := randomBatch(o.Teacher.Vocab(), o.Batch, o.SeqLen)
	inputs := map[string]*graph.Tensor{}
	for _, n := range g.Nodes {
		if n.Op != graph.OpInput {
			continue
		}
		switch n.Name {
		case "tokens":
			inputs["tokens"] = tokens
		case "targets":
			inputs["targets"] = targets
		}
	}
	var times []float64
	for s := 1; s <= o.Warmup+o.Steps; s++ {
		for k, v := range steps.Feeds(o.LR, s) {
			inputs[k] = v
		}
		t0 := time.Now()
		out, err := be.Run(ctx, id, inputs)
		if err != nil {
			return res, fmt.Errorf("bench: %s step %d: %w", o.Kind, s, err)
		}
		if s > o.Warmup {
			times = append(times, time.Since(t0).Seconds())
		}
		l := out[train.OutputLoss].At(0)
		if o.Loss != nil {
			o.Loss(s, l)
		}
		if s == 1 {
			res.FirstLoss = l
		}
		res.LastLoss = l
	}
	if len(times) > 0 {
		slices.Sort(times)
		res.StepSeconds = times[len(times)/2]
		res.TokensPerSec = float64(res.TokensPerStep) / res.StepSeconds
	}
	return res, nil
}

// randomBatch is the one fixed batch every step runs on.
func randomBatch(vocab, batch, seqLen int) (tokens, targets *graph.Tensor) {
	rng := rand.New(rand.NewPCG(7, 11))
	tokens = graph.NewTensor(graph.I32, batch, seqLen)
	targets = graph.NewTensor(graph.I32, batch, seqLen)
	for i := range tokens.I32 {
		tokens.I32[i] = int32(rng.IntN(vocab))
		targets.I32[i] = int32(rng.IntN(vocab))
	}
	return tokens, targets
}

// normalPool is n samples of N(0, std²): weights are filled from it, not
// drawn one by one, so a billion-parameter model is ready in seconds. The
// step's speed does not depend on the values, only on their being sane.
func normalPool(n int, std float64) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	pool := make([]float32, n)
	for i := range pool {
		pool[i] = float32(std * rng.NormFloat64())
	}
	return pool
}

// fillParam is a value for prm: norm scales and the SSM skip D are ones,
// other parameters without weight decay (biases) zeros, and everything else
// a slice of the pool starting at a per-param offset.
func fillParam(prm models.Param, pool []float32, k int) *graph.Tensor {
	t := graph.NewTensor(graph.F32, prm.Shape...)
	switch {
	case prm.NoDecay && (strings.Contains(prm.Name, "norm") || strings.Contains(prm.Name, "ln") || strings.HasSuffix(prm.Name, ".D")) && len(prm.Shape) == 1:
		for i := range t.F32 {
			t.F32[i] = 1
		}
	case prm.NoDecay:
	default:
		off := (k * 7919) % len(pool)
		for i := 0; i < len(t.F32); {
			i += copy(t.F32[i:], pool[off:])
			off = 0
		}
	}
	return t
}

// PrintStageSteps writes results as a table.
func PrintStageSteps(w io.Writer, rs []StageStepResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tbackend\ttrained params\ttokens/step\tbuild s\tupload s\ts/step (median)\ttokens/s\tloss first\tloss last\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%.1f\t%.3f\t%.0f\t%.4g\t%.4g\t\n", r.Kind, r.Backend, r.Trainable, r.TokensPerStep,
			r.BuildSeconds, r.UploadSeconds, r.StepSeconds, r.TokensPerSec, r.FirstLoss, r.LastLoss)
	}
	tw.Flush()
}
