// Run: the stages of a pipeline in order. For each stage the programs are
// built (framework/stages), turned into optimizer steps (framework/train),
// compiled on the backend and fed batches; losses are read back every step,
// written to metrics.jsonl and shown as progress; the model is evaluated
// every eval_every tokens and at the stage's end, and checkpointed every
// checkpoint_every tokens and at the stage's end. At the end the models of
// output.save are written as folders and report.md summarises the run.

package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/pipeline"
	"github.com/mohawk-distill/mohawk/framework/stages"
	"github.com/mohawk-distill/mohawk/framework/train"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Row is one result of a run: a model evaluated after a stage (or, for a
// teacher read from a checkpoint, before any).
type Row struct {
	Model, Stage string
	Tokens       int64   // tokens the model has been trained on in this run
	ValPPL       float64 // validation perplexity
	Agreement    float64 // top-1 agreement with the teacher; NaN for a teacher
	TeacherPPL   float64 // the teacher's perplexity on the same text; NaN for a teacher
	Seconds      float64 // the stage's training time
}

// Result is what a run produced.
type Result struct {
	Dir     string            // the output folder
	Metrics string            // metrics.jsonl
	Report  string            // report.md
	Rows    []Row             // the same rows as the report
	Saved   map[string]string // model ref → folder written
}

// StageError is a stage stopped by a non-finite loss.
type StageError struct {
	Stage      string
	Step       int    // the 0-based optimizer step whose loss was not finite
	Checkpoint string // the last good checkpoint, "" when there is none
	Err        error  // the loss guard's error
}

func (e *StageError) Error() string {
	where := "no checkpoint was written before it"
	if e.Checkpoint != "" {
		where = "the last good checkpoint is " + e.Checkpoint
	}
	return fmt.Sprintf("stage %q stopped at step %d: %v; %s", e.Stage, e.Step, e.Err, where)
}

func (e *StageError) Unwrap() error { return e.Err }

// run holds what one Run shares between its stages.
type run struct {
	e         *Engine
	out       string
	st        *runState
	metrics   *metricsFile
	ckptN     int
	lastCkpt  string
	optResume map[string]*graph.Tensor // optimizer state of the stage resumed
}

// Run runs every stage of the pipeline in order (continuing from the last
// checkpoint with Options.Resume), then saves the models of output.save and
// writes report.md.
func (e *Engine) Run(ctx context.Context) (*Result, error) {
	if e.be == nil {
		return nil, errors.New("engine: Run on an engine that is not open")
	}
	out := e.p.Output.Dir
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	// Every run starts from the models' initial values (a resumed one then
	// loads its checkpoint over them), whatever an earlier Run or Plan of
	// this engine left on the host or the backend.
	e.weights = map[string]map[string]*graph.Tensor{}
	for _, sm := range e.students {
		sm.initOut, sm.init = nil, nil
	}
	e.forgetResident()
	r := &run{e: e, out: out, st: &runState{Version: stateVersion, ModelTokens: map[string]int64{}}}
	keep := int64(-1)
	if e.opt.Resume {
		dir, n, err := lastCheckpoint(out)
		if err != nil {
			return nil, err
		}
		if dir == "" {
			e.log.Warn().Str("dir", out).Msg("no checkpoint to resume from; starting from the beginning")
		} else {
			st, weights, opt, err := readCheckpoint(dir)
			if err != nil {
				return nil, fmt.Errorf("resume: %w", err)
			}
			for ref, m := range weights {
				e.weights[ref] = m
			}
			if st.ModelTokens == nil {
				st.ModelTokens = map[string]int64{}
			}
			r.st, r.ckptN, r.lastCkpt, r.optResume, keep = st, n, dir, opt, st.MetricsBytes
			e.forgetResident()
			e.log.Info().Str("checkpoint", dir).Int("stage", st.Stage).Int("step", st.Step).Msg("resuming")
		}
	} else {
		if dir, _, _ := lastCheckpoint(out); dir != "" {
			e.log.Info().Str("dir", ckptDir(out)).Msg("a new run: removing the checkpoints of the previous one (use resume to continue it)")
		}
		if err := os.RemoveAll(ckptDir(out)); err != nil {
			return nil, err
		}
	}
	mf, err := openMetrics(filepath.Join(out, "metrics.jsonl"), keep)
	if err != nil {
		return nil, err
	}
	r.metrics = mf
	defer mf.close()
	defer e.releaseEvals(context.WithoutCancel(ctx))

	if r.st.Stage == 0 && r.st.Step == 0 && len(r.st.Rows) == 0 {
		if err := r.teacherRows(ctx); err != nil {
			return nil, err
		}
	}
	for i := r.st.Stage; i < len(e.p.Stages); i++ {
		if err := r.stage(ctx, i); err != nil {
			res := r.result(nil)
			// What was done is still worth a report, with why it stopped.
			if werr := writeReport(out, e.p, res, "The run stopped: "+err.Error()); werr != nil {
				e.log.Warn().Err(werr).Msg("report not written")
			}
			return res, err
		}
		// The report grows stage by stage, so a long run can be read early.
		if err := writeReport(out, e.p, r.result(nil)); err != nil {
			return r.result(nil), err
		}
	}
	saved, err := r.save(ctx)
	if err != nil {
		return r.result(saved), err
	}
	res := r.result(saved)
	if err := writeReport(out, e.p, res); err != nil {
		return res, err
	}
	printRows(e.opt.Stdout, res.Rows)
	return res, nil
}

func (r *run) result(saved map[string]string) *Result {
	res := &Result{Dir: r.out, Metrics: filepath.Join(r.out, "metrics.jsonl"), Report: filepath.Join(r.out, "report.md"), Saved: saved}
	for _, row := range r.st.Rows {
		res.Rows = append(res.Rows, row.row())
	}
	return res
}

// teacherRows evaluates, once, every teacher read from a checkpoint that a
// student of the pipeline distils: the perplexity students aim at.
func (r *run) teacherRows(ctx context.Context) error {
	e := r.e
	if e.p.Evaluate == nil || e.p.Evaluate.Dataset == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, s := range e.p.Stages {
		if s.Student == nil || s.Teacher == nil || seen[s.Teacher.Name] {
			continue
		}
		seen[s.Teacher.Name] = true
		tm := e.teachers[s.Teacher.Name]
		if tm == nil || tm.t.Checkpoint == "" {
			continue // built by this pipeline: its stage-end rows say it
		}
		c, err := e.corpus(e.p.Evaluate.Dataset, tm)
		if err != nil {
			return err
		}
		ref := modelRef("teacher", tm.t.Name)
		sc, err := e.evaluate(ctx, evalTarget{ref: ref, cfg: tm.cfg}, c.val, e.p.Evaluate.Tokens)
		if err != nil {
			return err
		}
		r.st.Rows = append(r.st.Rows, savedRow(Row{Model: ref, Stage: "checkpoint", ValPPL: sc.ValPPL, Agreement: math.NaN(), TeacherPPL: math.NaN()}))
		e.log.Info().Str("model", ref).Float64("val_ppl", sc.ValPPL).Msg("teacher evaluated")
	}
	return nil
}

// stageModel is the model a stage trains and what it is built from.
type stageModel struct {
	ref, teacherRef string // teacherRef "" when the model is a teacher
	cfg             models.HFConfig
	mixers          map[int]models.LayerMixer
	teacher         *teacherModel
	student         *studentModel // nil when the model is a teacher
	seed            uint64
}

func (e *Engine) stageModel(s *pipeline.Stage) (stageModel, error) {
	if s.Student != nil {
		sm := e.students[s.Student.Name]
		if sm == nil || sm.teacher == nil {
			return stageModel{}, fmt.Errorf("stage %q: student %q has no teacher", s.Name, s.Student.Name)
		}
		return stageModel{ref: modelRef("student", s.Student.Name), teacherRef: modelRef("teacher", sm.teacher.t.Name),
			cfg: sm.teacher.cfg, mixers: sm.mixers, teacher: sm.teacher, student: sm, seed: s.Student.Seed}, nil
	}
	if s.Teacher == nil || e.teachers[s.Teacher.Name] == nil {
		return stageModel{}, fmt.Errorf("stage %q: no model", s.Name)
	}
	tm := e.teachers[s.Teacher.Name]
	return stageModel{ref: modelRef("teacher", tm.t.Name), cfg: tm.cfg, teacher: tm, seed: tm.t.Seed}, nil
}

// stepProgram is one compiled optimizer step of a stage program (a stage
// has several only when matrix orientation groups layers to fit memory).
type stepProgram struct {
	prog               *stages.Program
	tp                 *train.Programs
	step, accum, apply backend.ProgramID
	inputs             map[string]bool // inputs of Step or Accumulate
}

// buildStage builds the programs of stage s for model m, shapes only (the
// engine supplies every value; see weight). The layer-wise stages leave
// out the layers a student keeps as the teacher's attention (keptAttention):
// nothing in them trains or decays those layers.
func (e *Engine) buildStage(ctx context.Context, s *pipeline.Stage, m stageModel) ([]*stages.Program, error) {
	mixers := m.mixers
	if k := stages.Kind(s.Kind); (k == stages.MatrixOrientation || k == stages.HiddenStateAlignment) && m.student != nil {
		kept, err := keptAttention(m.student)
		if err != nil {
			return nil, fmt.Errorf("stage %q: %w", s.Name, err)
		}
		if len(kept) > 0 {
			mixers = map[int]models.LayerMixer{}
			for l, lm := range m.mixers {
				if !kept[l] {
					mixers[l] = lm
				}
			}
			skipped := sortedInts(kept)
			if len(mixers) == 0 {
				return nil, fmt.Errorf("stage %q: student %q keeps every replaced layer (%v) as the teacher's attention, so %s has no layer to fit", s.Name, m.student.s.Name, skipped, s.Kind)
			}
			e.log.Info().Str("stage", s.Name).Ints("layers", skipped).Msg("layers kept as the teacher's attention skip this stage")
		}
	}
	progs, err := stages.Build(ctx, stages.Options{Kind: stages.Kind(s.Kind), Teacher: m.cfg, Mixers: mixers,
		Batch: s.MicroBatch, SeqLen: s.Dataset.SeqLen, DType: graph.F32, Seed: m.seed,
		Target: s.Loss.Target, Temperature: s.Loss.Temperature, HardLabelWeight: s.Loss.HardLabelWeight,
		MemoryBudget: s.Loss.MemoryBudget, Train: s.Train, Freeze: s.Freeze, ShapesOnly: true})
	if err != nil {
		return nil, fmt.Errorf("stage %q: %w", s.Name, err)
	}
	return progs, nil
}

// stageAdamW is the stage's optimizer.
func stageAdamW(s *pipeline.Stage) train.AdamW {
	return train.AdamW{Beta1: s.Optimizer.Beta1, Beta2: s.Optimizer.Beta2, Eps: s.Optimizer.Eps,
		WeightDecay: s.Optimizer.WeightDecay, ClipNorm: s.Optimizer.Clip}
}

// stageSteps builds and compiles the step programs of stage s and makes
// their params and optimizer state resident.
func (e *Engine) stageSteps(ctx context.Context, s *pipeline.Stage, m stageModel, micro int, optState map[string]*graph.Tensor) ([]*stepProgram, error) {
	progs, err := e.buildStage(ctx, s, m)
	if err != nil {
		return nil, err
	}
	opt := stageAdamW(s)
	var sps []*stepProgram
	for _, p := range progs {
		tp, err := train.StepGraphs(p.Builder, p.Loss, p.Trainable, opt, micro)
		if err != nil {
			return nil, fmt.Errorf("stage %q: %w", s.Name, err)
		}
		sp := &stepProgram{prog: p, tp: tp}
		if micro == 1 {
			if sp.step, err = e.compile(ctx, tp.Step); err != nil {
				return nil, fmt.Errorf("stage %q: compile: %w", s.Name, err)
			}
			sp.inputs = graphInputs(tp.Step)
		} else {
			if sp.accum, err = e.compile(ctx, tp.Accumulate); err != nil {
				return nil, fmt.Errorf("stage %q: compile: %w", s.Name, err)
			}
			if sp.apply, err = e.compile(ctx, tp.Apply); err != nil {
				return nil, fmt.Errorf("stage %q: compile: %w", s.Name, err)
			}
			sp.inputs = graphInputs(tp.Accumulate)
		}
		if err := e.upload(ctx, p.Params, m.ref, m.teacherRef); err != nil {
			return nil, fmt.Errorf("stage %q: %w", s.Name, err)
		}
		for _, name := range sortedKeys(tp.StateInit) {
			t := tp.StateInit[name]
			if saved, ok := optState[name]; ok {
				t = saved
			}
			if err := e.be.SetTensor(ctx, name, t); err != nil {
				return nil, fmt.Errorf("stage %q: optimizer state %s: %w", s.Name, name, err)
			}
		}
		sps = append(sps, sp)
	}
	return sps, nil
}

// release frees the stage's programs and optimizer state.
func (e *Engine) release(ctx context.Context, sps []*stepProgram) {
	for _, sp := range sps {
		for _, id := range []backend.ProgramID{sp.step, sp.accum, sp.apply} {
			if id != 0 {
				e.be.Release(ctx, id)
			}
		}
		for name := range sp.tp.StateInit {
			e.be.DeleteTensor(ctx, name)
		}
	}
}

// stepOutcome is what one optimizer step of one program reports.
type stepOutcome struct {
	loss, gradNorm float64
	layerLoss      map[string]float64
}

// runStep runs one optimizer step of sp on the micro-batches. A non-finite
// loss returns before the update when there are micro-batches to
// accumulate (a single Step program has applied it already).
func (e *Engine) runStep(ctx context.Context, sp *stepProgram, batches [][2]*graph.Tensor, feeds map[string]*graph.Tensor) (stepOutcome, error) {
	oc := stepOutcome{layerLoss: map[string]float64{}}
	bind := func(b [2]*graph.Tensor) map[string]*graph.Tensor {
		in := map[string]*graph.Tensor{}
		if sp.inputs["tokens"] {
			in["tokens"] = b[0]
		}
		if sp.inputs["targets"] {
			in["targets"] = b[1]
		}
		return in
	}
	collect := func(out map[string]*graph.Tensor, weight float64) {
		oc.loss += weight * scalar(out, train.OutputLoss)
		for name, t := range out {
			if l, ok := strings.CutPrefix(name, "layer_loss/"); ok && t.Len() == 1 {
				oc.layerLoss[l] += weight * t.At(0)
			}
		}
	}
	if sp.tp.MicroBatches == 1 {
		in := bind(batches[0])
		for k, v := range feeds {
			in[k] = v
		}
		out, err := e.be.Run(ctx, sp.step, in)
		if err != nil {
			return oc, err
		}
		collect(out, 1)
		oc.gradNorm = scalar(out, train.OutputGradNorm)
		return oc, nil
	}
	w := 1 / float64(len(batches))
	for _, b := range batches {
		out, err := e.be.Run(ctx, sp.accum, bind(b))
		if err != nil {
			return oc, err
		}
		collect(out, w)
	}
	if math.IsNaN(oc.loss) || math.IsInf(oc.loss, 0) {
		return oc, nil // the caller stops the stage; the params stay as they were
	}
	out, err := e.be.Run(ctx, sp.apply, feeds)
	if err != nil {
		return oc, err
	}
	oc.gradNorm = scalar(out, train.OutputGradNorm)
	return oc, nil
}

// schedule is the stage's learning-rate schedule.
func schedule(s *pipeline.Stage) train.Schedule {
	lr := s.Optimizer.LR
	switch s.Schedule.Kind {
	case "constant":
		return train.Constant{LR0: lr}
	case "cosine":
		return train.Cosine{LR0: lr, MinLR: s.Schedule.MinLR, Warmup: s.Schedule.Warmup}
	}
	return train.WSD{LR0: lr, MinLR: s.Schedule.MinLR, Warmup: s.Schedule.Warmup, Decay: s.Schedule.Decay}
}

// stageShape is a stage's step arithmetic.
func stageShape(s *pipeline.Stage) (micro, steps int, err error) {
	per := int64(s.MicroBatch) * int64(s.Dataset.SeqLen)
	if per <= 0 || s.BatchTokens%per != 0 || s.BatchTokens < per {
		return 0, 0, fmt.Errorf("stage %q: batch_tokens %d is not a multiple of micro_batch × seq_len = %d", s.Name, s.BatchTokens, per)
	}
	if s.Tokens < s.BatchTokens {
		return 0, 0, fmt.Errorf("stage %q: tokens %d is less than one batch of %d", s.Name, s.Tokens, s.BatchTokens)
	}
	return int(s.BatchTokens / per), int(s.Tokens / s.BatchTokens), nil
}

// stage runs stage idx from where the run state says it stands.
func (r *run) stage(ctx context.Context, idx int) error {
	e, st := r.e, r.st
	s := e.p.Stages[idx]
	if st.Stage == idx && st.Step > 0 && st.StageName != s.Name {
		e.log.Warn().Str("checkpoint_stage", st.StageName).Str("stage", s.Name).
			Msg("the checkpoint was taken in a stage of another name (was the pipeline edited?): this stage starts from its first step")
	}
	if st.Stage != idx || st.StageName != s.Name {
		st.Stage, st.StageName, st.Step, st.Tokens, st.DataStep, st.HaveLoss, st.Seconds = idx, s.Name, 0, 0, 0, false, 0
	}
	m, err := e.stageModel(s)
	if err != nil {
		return err
	}
	micro, steps, err := stageShape(s)
	if err != nil {
		return err
	}
	c, err := e.corpus(s.Dataset, m.teacher)
	if err != nil {
		return err
	}
	log := e.log.With().Str("stage", s.Name).Str("kind", s.Kind).Str("model", m.ref).Logger()
	log.Info().Int("steps", steps).Int("micro_batches", micro).Int64("tokens", s.Tokens).Int("from_step", st.Step).Msg("stage starts")

	optState := r.optResume
	r.optResume = nil
	built := time.Now()
	sps, err := e.stageSteps(ctx, s, m, micro, optState)
	if err != nil {
		return err
	}
	defer e.release(context.WithoutCancel(ctx), sps)
	log.Info().Int("programs", len(sps)).Float64("seconds", time.Since(built).Seconds()).Msg("stage programs built, compiled and loaded")

	// The data order depends only on the model's seed and the stage, so a
	// resumed run reads the batches an uninterrupted one would.
	st.DataSeed = m.seed*0x9E3779B97F4A7C15 + uint64(idx) + 1
	it, err := c.train.Batches(s.MicroBatch, st.DataSeed, st.DataStep)
	if err != nil {
		return fmt.Errorf("stage %q: %w", s.Name, err)
	}
	var guard train.LossGuard
	if st.HaveLoss {
		guard.CheckLoss(st.LastLossStep, st.LastLoss)
	}
	sched := schedule(s)
	bar := newProgress(e.opt.Progress, log, s.Name, s.Tokens, st.Tokens)
	defer bar.finish()
	nextMark := func(every int64) int64 {
		if every <= 0 {
			return math.MaxInt64
		}
		return (st.Tokens/every + 1) * every
	}
	nextEval, nextCkpt := nextMark(s.EvalEvery), nextMark(s.CheckpointEvery)
	startSeconds := st.Seconds
	began := time.Now()

	for step := st.Step; step < steps; step++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		batches := make([][2]*graph.Tensor, micro)
		for i := range batches {
			tok, tgt := it.Next()
			batches[i] = [2]*graph.Tensor{tok, tgt}
		}
		lr := sched.LR(step, steps)
		var oc stepOutcome
		oc.layerLoss = map[string]float64{}
		var gn2 float64
		for _, sp := range sps {
			o, err := e.runStep(ctx, sp, batches, sp.tp.Feeds(lr, step+1))
			if err != nil {
				return fmt.Errorf("stage %q: step %d: %w", s.Name, step, err)
			}
			oc.loss += o.loss
			gn2 += o.gradNorm * o.gradNorm
			for k, v := range o.layerLoss {
				oc.layerLoss[k] = v
			}
		}
		oc.gradNorm = math.Sqrt(gn2)
		if err := guard.CheckLoss(step, oc.loss); err != nil {
			log.Error().Int("step", step).Msg(err.Error())
			return &StageError{Stage: s.Name, Step: step, Checkpoint: r.lastCkpt, Err: err}
		}
		st.Step, st.Tokens, st.DataStep = step+1, st.Tokens+s.BatchTokens, it.Step()
		st.LastLoss, st.LastLossStep, st.HaveLoss = oc.loss, step, true
		st.ModelTokens[m.ref] += s.BatchTokens
		st.Seconds = startSeconds + time.Since(began).Seconds()
		line := stepMetrics{Time: now(), Stage: s.Name, Kind: s.Kind, Step: step + 1, Tokens: st.Tokens, Loss: oc.loss,
			LR: lr, GradNorm: finiteOr(oc.gradNorm, -1), TokensPerS: float64(s.BatchTokens) / time.Since(t0).Seconds()}
		if len(oc.layerLoss) > 0 {
			line.LayerLoss = oc.layerLoss
		}
		if err := r.metrics.write(line); err != nil {
			return err
		}
		bar.step(step, steps, st.Tokens, oc.loss)
		last := step+1 == steps
		if st.Tokens >= nextEval && !last {
			nextEval = nextMark(s.EvalEvery)
			if _, err := r.evalModel(ctx, s, m, false); err != nil {
				return err
			}
		}
		if st.Tokens >= nextCkpt && !last {
			nextCkpt = nextMark(s.CheckpointEvery)
			if err := r.checkpoint(ctx, m, sps, true); err != nil {
				return err
			}
		}
	}
	bar.finish()

	// The stage's end: its params back on the host, an evaluation, a row of
	// results and a checkpoint from which the next stage starts.
	for _, sp := range sps {
		if err := e.download(ctx, sp.prog.TrainableNames, m.ref); err != nil {
			return err
		}
	}
	if !contains(st.Trained, m.ref) {
		st.Trained = append(st.Trained, m.ref)
	}
	sc, err := r.evalModel(ctx, s, m, true)
	if err != nil {
		return err
	}
	st.Rows = append(st.Rows, savedRow(Row{Model: m.ref, Stage: s.Name, Tokens: st.ModelTokens[m.ref], ValPPL: sc.ValPPL,
		Agreement: sc.Agreement, TeacherPPL: sc.TeacherPPL, Seconds: st.Seconds}))
	done := log.Info().Float64("val_ppl", sc.ValPPL).Float64("seconds", st.Seconds)
	if !math.IsNaN(sc.Agreement) {
		done = done.Float64("agreement", sc.Agreement)
	}
	done.Msg("stage done")
	st.Stage, st.StageName, st.Step, st.Tokens, st.DataStep, st.HaveLoss, st.Seconds = idx+1, "", 0, 0, 0, false, 0
	return r.checkpoint(ctx, m, nil, false)
}

// evalModel evaluates the stage's model on the pipeline's evaluation
// dataset and writes a metrics line.
func (r *run) evalModel(ctx context.Context, s *pipeline.Stage, m stageModel, stageEnd bool) (evalScores, error) {
	e := r.e
	ev := e.p.Evaluate
	ds, tokens := s.Dataset, int64(100_000)
	if ev != nil && ev.Dataset != nil {
		ds = ev.Dataset
		if ev.Tokens > 0 {
			tokens = ev.Tokens
		}
	}
	c, err := e.corpus(ds, m.teacher)
	if err != nil {
		return evalScores{}, err
	}
	sc, err := e.evaluate(ctx, evalTarget{ref: m.ref, cfg: m.cfg, mixers: m.mixers, teacherRef: m.teacherRef}, c.val, tokens)
	if err != nil {
		return sc, fmt.Errorf("stage %q: %w", s.Name, err)
	}
	step, tok := r.st.Step, r.st.Tokens
	err = r.metrics.write(evalMetrics{Time: now(), Stage: s.Name, Kind: s.Kind, Model: m.ref, Step: step, Tokens: tok, Eval: evalMap(sc)})
	return sc, err
}

func evalMap(sc evalScores) map[string]float64 {
	m := map[string]float64{"val_ppl": finiteOr(sc.ValPPL, -1)}
	if !math.IsNaN(sc.Agreement) {
		m["agreement"] = sc.Agreement
	}
	if !math.IsNaN(sc.TeacherPPL) {
		m["teacher_ppl"] = sc.TeacherPPL
	}
	return m
}

// checkpoint writes a checkpoint. Mid-stage (midStage true) it first reads
// the trained params and their optimizer moments back from the backend.
func (r *run) checkpoint(ctx context.Context, m stageModel, sps []*stepProgram, midStage bool) error {
	e, st := r.e, r.st
	var opt map[string]*graph.Tensor
	if midStage {
		opt = map[string]*graph.Tensor{}
		for _, sp := range sps {
			if err := e.download(ctx, sp.prog.TrainableNames, m.ref); err != nil {
				return err
			}
			for _, n := range sp.prog.TrainableNames {
				for _, prefix := range []string{train.StateM, train.StateV} {
					t, err := e.be.Tensor(ctx, prefix+n)
					if err != nil {
						return fmt.Errorf("checkpoint: %w", err)
					}
					opt[prefix+n] = t
				}
			}
		}
	}
	// Teachers read from a folder and never trained are read from it again
	// on resume; everything else is saved.
	st.Models = st.Models[:0]
	for _, ref := range sortedKeys(e.weights) {
		if strings.HasPrefix(ref, "teacher.") && !contains(st.Trained, ref) {
			if tm := e.teachers[strings.TrimPrefix(ref, "teacher.")]; tm != nil && tm.t.Checkpoint != "" {
				continue
			}
		}
		st.Models = append(st.Models, ref)
	}
	size, err := r.metrics.sync()
	if err != nil {
		return err
	}
	st.MetricsBytes = size
	r.ckptN++
	dir, err := writeCheckpoint(r.out, r.ckptN, st, e.weights, opt)
	if err != nil {
		return err
	}
	r.lastCkpt = dir
	e.log.Debug().Str("checkpoint", dir).Msg("checkpoint written")
	if hook := os.Getenv(checkpointHookEnv); hook != "" {
		// Tests kill the process here to check that a run resumes exactly.
		if n, _ := strconv.Atoi(hook); n == r.ckptN {
			os.Stderr.WriteString("mohawk: checkpoint hook reached\n")
			for {
				time.Sleep(time.Hour)
			}
		}
	}
	return nil
}

// checkpointHookEnv, when it holds n, makes a run stop (block forever, to be
// killed) right after writing its n-th checkpoint: the resume test's way to
// interrupt a run at a known point.
const checkpointHookEnv = "MOHAWK_TEST_BLOCK_AFTER_CHECKPOINT"

// save writes every model of output.save as a folder under the output
// folder: students with models.SaveStudent, teachers as Hugging Face folders.
func (r *run) save(ctx context.Context) (map[string]string, error) {
	e := r.e
	saved := map[string]string{}
	for _, ref := range e.p.Output.Save {
		kind, name, _ := strings.Cut(ref, ".")
		dir := filepath.Join(r.out, name)
		switch kind {
		case "student":
			sm := e.students[name]
			if sm == nil || sm.teacher == nil {
				return saved, fmt.Errorf("output.save: no student %q", name)
			}
			params, err := e.fullParams(ctx, ref, sm.teacher.cfg, sm.mixers, sm.s.Seed)
			if err != nil {
				return saved, err
			}
			if err := models.SaveStudent(dir, sm.teacher.cfg, sm.infos, params, tokenizerFolder(sm.teacher)); err != nil {
				return saved, fmt.Errorf("save %s: %w", ref, err)
			}
		case "teacher":
			tm := e.teachers[name]
			if tm == nil {
				return saved, fmt.Errorf("output.save: no teacher %q", name)
			}
			params, err := e.fullParams(ctx, ref, tm.cfg, nil, tm.t.Seed)
			if err != nil {
				return saved, err
			}
			if err := checkpoint.SaveFolder(dir, tm.config, params, tokenizerFolder(tm)); err != nil {
				return saved, fmt.Errorf("save %s: %w", ref, err)
			}
		default:
			return saved, fmt.Errorf("output.save: %q is not a teacher or student", ref)
		}
		saved[ref] = dir
		e.log.Info().Str("model", ref).Str("dir", dir).Msg("model saved")
	}
	return saved, nil
}

// fullParams is every param of model ref, initialising those no stage read.
func (e *Engine) fullParams(ctx context.Context, ref string, cfg models.HFConfig, mixers map[int]models.LayerMixer, seed uint64) (map[string]*graph.Tensor, error) {
	params, err := modelParams(ctx, cfg, mixers, seed, noParams)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	out := make(map[string]*graph.Tensor, len(params))
	for _, p := range params {
		t, err := e.weight(ctx, ref, p.Name, p.Shape)
		if err != nil {
			return nil, err
		}
		out[p.Name] = t
	}
	return out, nil
}

// rowJSON is a Row in state.json, where NaN cannot be written.
type rowJSON struct {
	Model      string   `json:"model"`
	Stage      string   `json:"stage"`
	Tokens     int64    `json:"tokens"`
	ValPPL     *float64 `json:"val_ppl"`
	Agreement  *float64 `json:"agreement"`
	TeacherPPL *float64 `json:"teacher_ppl"`
	Seconds    float64  `json:"seconds"`
}

func savedRow(r Row) rowJSON {
	ptr := func(x float64) *float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return &x
	}
	return rowJSON{Model: r.Model, Stage: r.Stage, Tokens: r.Tokens, ValPPL: ptr(r.ValPPL), Agreement: ptr(r.Agreement),
		TeacherPPL: ptr(r.TeacherPPL), Seconds: r.Seconds}
}

func (j rowJSON) row() Row {
	val := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	return Row{Model: j.Model, Stage: j.Stage, Tokens: j.Tokens, ValPPL: val(j.ValPPL), Agreement: val(j.Agreement),
		TeacherPPL: val(j.TeacherPPL), Seconds: j.Seconds}
}
