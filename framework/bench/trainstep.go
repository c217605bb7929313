// Package bench measures mohawk's own speed: one training step of a model
// on a backend, compiled once and run many times, reported in tokens/s.
package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"text/tabwriter"
	"time"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/train"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// TrainStepResult is the speed of one model's training step.
type TrainStepResult struct {
	Name          string
	Params        int
	TokensPerStep int
	StepSeconds   float64 // mean over the timed steps
	TokensPerSec  float64
	FirstLoss     float64
	LastLoss      float64
}

// SmallPhi is the benchmark model of the core: d_model 256, 4 layers, 4
// heads, T 256, byte vocabulary.
func SmallPhi(mixer string) models.PhiConfig {
	return models.PhiConfig{Vocab: 256, DModel: 256, Layers: 4, Heads: 4, SeqLen: 256, Mixer: mixer}
}

// TrainStep builds the model with AdamW, compiles one training step on a
// CPU backend with threads workers, runs one untimed warm-up step and then
// steps timed steps on random bytes.
func TrainStep(name string, cfg models.PhiConfig, batch, steps, threads int) (TrainStepResult, error) {
	b := graph.NewBuilder()
	lm, err := models.BuildPhi(b, cfg, graph.F32, batch, 1)
	if err != nil {
		return TrainStepResult{}, err
	}
	loss := lm.NextTokenLoss(b)
	b.Output(train.OutputLoss, loss)
	params := make([]train.Param, len(lm.Params))
	count := 0
	for i, p := range lm.Params {
		params[i] = train.Param{Value: p.Value, NoDecay: p.NoDecay}
		count += p.Init.Len()
	}
	progs, err := train.StepGraphs(b, loss, params, train.DefaultAdamW(), 1)
	if err != nil {
		return TrainStepResult{}, err
	}
	be := cpu.New(cpu.Options{Threads: threads})
	defer be.Close()
	for _, p := range lm.Params {
		if err := be.SetTensor(p.Name, p.Init); err != nil {
			return TrainStepResult{}, err
		}
	}
	for n, t := range progs.StateInit {
		if err := be.SetTensor(n, t); err != nil {
			return TrainStepResult{}, err
		}
	}
	prog, err := be.Compile(progs.Step)
	if err != nil {
		return TrainStepResult{}, err
	}
	rng := rand.New(rand.NewPCG(2, 3))
	t := cfg.SeqLen
	tokens, targets := graph.NewTensor(graph.I32, batch, t), graph.NewTensor(graph.I32, batch, t)
	inputs := progs.Feeds(1e-3, 1)
	inputs["tokens"], inputs["targets"] = tokens, targets
	res := TrainStepResult{Name: name, Params: count, TokensPerStep: batch * t}
	var elapsed time.Duration
	for s := 0; s <= steps; s++ {
		for i := range tokens.I32 {
			tokens.I32[i] = int32(rng.IntN(cfg.Vocab))
			targets.I32[i] = int32(rng.IntN(cfg.Vocab))
		}
		for k, v := range progs.Feeds(1e-3, s+1) {
			inputs[k] = v
		}
		start := time.Now()
		out, err := prog.Run(inputs)
		if err != nil {
			return res, fmt.Errorf("%s step %d: %w", name, s, err)
		}
		if s > 0 {
			elapsed += time.Since(start)
		}
		l := out[train.OutputLoss].At(0)
		if s == 0 {
			res.FirstLoss = l
		}
		res.LastLoss = l
	}
	res.StepSeconds = elapsed.Seconds() / float64(max(steps, 1))
	res.TokensPerSec = float64(res.TokensPerStep) / res.StepSeconds
	return res, nil
}

// PrintTrainSteps writes results as a table.
func PrintTrainSteps(w io.Writer, rs []TrainStepResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tparams\ttokens/step\ts/step\ttokens/s\tloss first\tloss last\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.0f\t%.4f\t%.4f\t\n", r.Name, r.Params, r.TokensPerStep, r.StepSeconds, r.TokensPerSec, r.FirstLoss, r.LastLoss)
	}
	tw.Flush()
}
