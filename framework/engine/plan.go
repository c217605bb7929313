// Plan: what each stage will do and cost before any of it runs: its
// trainable and frozen parameter counts, tokens, steps, FLOPs, a memory
// estimate and a time estimate on the pipeline's backend.

package engine

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mohawk-distill/mohawk/framework/stages"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// StagePlan is the plan of one stage.
type StagePlan struct {
	Name, Kind, Model string
	// Trainable and Frozen count the parameters (elements) the stage's
	// programs train and only read.
	Trainable, Frozen int64
	Tokens            int64
	Steps             int
	MicroBatches      int // per optimizer step
	Programs          int // more than one when matrix orientation groups layers
	// FLOPs of the whole stage, counted from its forward and backward
	// graphs: 2·M·N·K per matrix product and one per output element of
	// every other arithmetic op, times micro-batches and steps, plus the
	// optimizer update. The teacher's forward pass, the attention matrices
	// (T² terms) and the backward pass are all in the graphs, so they are
	// all counted.
	FLOPs float64
	// PeakBytes estimates the backend memory: every param read, the
	// gradient accumulators and the two AdamW moments of the trainable
	// params, and every value of one micro-batch's forward pass (the
	// activations kept for the backward pass; buffer reuse makes the real
	// figure lower, recomputation in the backward pass higher).
	PeakBytes int64
	// StepSeconds is one optimizer step's time: measured on the backend
	// (Calibrated: the faster of two steps after a warm-up one) or FLOPs
	// per step over AssumedFLOPS.
	StepSeconds float64
	Calibrated  bool
	// NotTimed says why a stage was not timed although calibration was
	// asked for ("" when it was timed, or not asked for).
	NotTimed string
	Seconds  float64 // Steps · StepSeconds
}

// Plan is a pipeline's plan.
type Plan struct {
	Backend string
	// AssumedFLOPS is the throughput that uncalibrated estimates assume.
	AssumedFLOPS float64
	Stages       []StagePlan
	FLOPs        float64
	Seconds      float64
}

// assumedFLOPS is the throughput assumed without calibration: about what
// the CPU backend sustains per thread on this kind of program, and a modest
// GPU figure for any other backend.
func (e *Engine) assumedFLOPS() float64 {
	if e.p.Backend.Name == "cpu" {
		threads := e.p.Backend.Threads
		if threads <= 0 {
			threads = runtime.NumCPU()
		}
		return 10e9 * float64(threads)
	}
	return 1e12
}

// Plan builds every stage's programs (shapes only: no param takes memory
// for its value) and estimates their cost. Unless Options.NoCalibrate, it
// times optimizer steps of each stage on the backend (at learning rate 0, on
// token id 0) to estimate the time; a stage whose teacher has no weights
// yet, or whose models would not fit in memory, is estimated from its
// FLOPs instead, and StagePlan.NotTimed says why.
func (e *Engine) Plan() (*Plan, error) {
	ctx := context.Background()
	if e.be == nil {
		return nil, fmt.Errorf("engine: Plan on an engine that is not open")
	}
	pl := &Plan{Backend: e.p.Backend.Name, AssumedFLOPS: e.assumedFLOPS()}
	defer e.forgetResident() // calibration overwrote resident tensors
	for _, s := range e.p.Stages {
		m, err := e.stageModel(s)
		if err != nil {
			return nil, err
		}
		micro, steps, err := stageShape(s)
		if err != nil {
			return nil, err
		}
		sp := StagePlan{Name: s.Name, Kind: s.Kind, Model: m.ref, Tokens: s.Tokens, Steps: steps, MicroBatches: micro}
		progs, err := e.buildStage(ctx, s, m)
		if err != nil {
			return nil, err
		}
		sp.Programs = len(progs)
		trainable, read := map[string]bool{}, map[string]int64{}
		var flopsPerStep, activations float64
		for _, p := range progs {
			for _, n := range p.TrainableNames {
				trainable[n] = true
			}
			for _, prm := range p.Params {
				read[prm.Name] = prm.Size()
			}
			fwd, err := p.Builder.Build()
			if err != nil {
				return nil, fmt.Errorf("stage %q: %w", s.Name, err)
			}
			f, err := stepFLOPs(fwd, p, micro)
			if err != nil {
				return nil, fmt.Errorf("stage %q: %w", s.Name, err)
			}
			flopsPerStep += f
			activations += graphValues(fwd)
		}
		for n, size := range read {
			if trainable[n] {
				sp.Trainable += size
			} else {
				sp.Frozen += size
			}
		}
		optState := 2.0
		if micro > 1 {
			optState = 3 // the gradient accumulators too
		}
		sp.PeakBytes = int64(4 * (float64(sp.Trainable+sp.Frozen) + optState*float64(sp.Trainable) + activations))
		sp.FLOPs = flopsPerStep * float64(steps)
		sp.StepSeconds = flopsPerStep / pl.AssumedFLOPS
		if !e.opt.NoCalibrate {
			sp.NotTimed = e.whyNotTimed(m, sp)
			if sp.NotTimed == "" {
				sps, err := e.stageSteps(ctx, s, m, micro, nil)
				if err != nil {
					return nil, err
				}
				sp.StepSeconds, err = e.timeStep(ctx, sps, s.MicroBatch, s.Dataset.SeqLen)
				e.release(ctx, sps)
				if err != nil {
					return nil, fmt.Errorf("stage %q: calibration: %w", s.Name, err)
				}
				sp.Calibrated = true
			}
		}
		sp.Seconds = sp.StepSeconds * float64(steps)
		pl.FLOPs += sp.FLOPs
		pl.Seconds += sp.Seconds
		pl.Stages = append(pl.Stages, sp)
	}
	return pl, nil
}

// whyNotTimed says why a stage's step cannot be timed on the backend ("" if
// it can): its teacher's weights are not there (a config.json alone), or
// its programs need more memory than the machine has free.
func (e *Engine) whyNotTimed(m stageModel, sp StagePlan) string {
	if m.teacher != nil && m.teacher.weightsErr != nil {
		return fmt.Sprintf("teacher %q has no weights to run with", m.teacher.t.Name)
	}
	// The host keeps a copy of every param besides what the backend holds.
	need := sp.PeakBytes + 4*(sp.Trainable+sp.Frozen)
	if avail := hostAvailable(); avail > 0 && float64(need) > 0.8*float64(avail) {
		return fmt.Sprintf("it needs about %s, the host has %s free", fmtBytes(need), fmtBytes(avail))
	} else if avail <= 0 && need > 4<<30 {
		return fmt.Sprintf("it needs about %s and the host's free memory is unknown", fmtBytes(need))
	}
	if e.beInfo != nil {
		for _, d := range e.beInfo.Devices {
			if d.Kind != "cpu" && d.MemoryBytes > 0 && sp.PeakBytes > d.MemoryBytes {
				return fmt.Sprintf("it needs about %s, device %s has %s", fmtBytes(sp.PeakBytes), d.Name, fmtBytes(d.MemoryBytes))
			}
		}
	}
	return ""
}

// hostAvailable is the memory the host has available (MemAvailable of
// /proc/meminfo), 0 when unknown.
func hostAvailable() int64 {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

// optimizerFLOPs is the arithmetic of one AdamW update with global-norm
// clipping, per trained element: about two for the squared norm, one for
// the clip, six for the moments and seven for the update.
const optimizerFLOPs = 16

// stepFLOPs counts one optimizer step of program p (forward graph fwd) over
// micro micro-batches: the forward and backward passes of each micro-batch
// (the gradient built as train.StepGraphs builds it), the gradients' sums
// when there are several, and the update.
func stepFLOPs(fwd *graph.Graph, p *stages.Program, micro int) (float64, error) {
	sb := graph.Extend(fwd)
	wrt := make([]graph.Value, len(p.Trainable))
	var trained float64
	for i, t := range p.Trainable {
		wrt[i] = t.Value
		trained += float64(fwd.Type(t.Value).Shape.Size())
	}
	if _, err := graph.Grad(sb, p.Loss, wrt); err != nil {
		return 0, err
	}
	if err := sb.Err(); err != nil {
		return 0, err
	}
	f := graphFLOPs(sb.NumValues(), sb.Node) * float64(micro)
	if micro > 1 {
		f += trained * float64(micro)
	}
	return f + optimizerFLOPs*trained, nil
}

// timeStep runs one untimed and two timed optimizer steps of the compiled
// programs at learning rate 0 and returns the faster timed step's seconds
// (the minimum is the least disturbed by other work on the machine).
func (e *Engine) timeStep(ctx context.Context, sps []*stepProgram, batch, seqLen int) (float64, error) {
	micro := sps[0].tp.MicroBatches
	batches := make([][2]*graph.Tensor, micro)
	for i := range batches {
		batches[i] = [2]*graph.Tensor{graph.NewTensor(graph.I32, batch, seqLen), graph.NewTensor(graph.I32, batch, seqLen)}
	}
	best := math.Inf(1)
	for round := 0; round < 3; round++ {
		start := time.Now()
		for _, sp := range sps {
			if _, err := e.runStep(ctx, sp, batches, sp.tp.Feeds(0, 1)); err != nil {
				return 0, err
			}
		}
		if round > 0 {
			best = min(best, time.Since(start).Seconds())
		}
	}
	return best, nil
}

// graphFLOPs counts a program's arithmetic: 2·M·N·K per matrix product
// (batch dims included in M·N, the output's size) and one per output
// element of every other op that computes.
// The graph is given by its node count and a node lookup (a built
// graph's, or a builder's, so that no copy is made).
func graphFLOPs(count int, node func(graph.Value) *graph.Node) float64 {
	var f float64
	typ := func(v graph.Value) graph.Type { return node(v).Type }
	for i := 0; i < count; i++ {
		n := node(graph.Value(i))
		size := float64(n.Type.Shape.Size())
		switch n.Op {
		case graph.OpInput, graph.OpParam, graph.OpState, graph.OpConst, graph.OpIota,
			graph.OpReshape, graph.OpTranspose, graph.OpSlice, graph.OpPad, graph.OpConcat, graph.OpBroadcast,
			graph.OpStopGradient, graph.OpCast, graph.OpGather:
			// Movement and bookkeeping: no arithmetic.
		case graph.OpMatMul:
			x := typ(n.Inputs[0]).Shape
			k := x[len(x)-1]
			if n.Attrs.TransA {
				k = x[len(x)-2]
			}
			f += 2 * size * float64(k)
		case graph.OpReduceSum, graph.OpReduceMax, graph.OpScatterAdd:
			f += float64(typ(n.Inputs[len(n.Inputs)-1]).Shape.Size())
		case graph.OpSoftmax, graph.OpLogSoftmax, graph.OpLayerNorm, graph.OpRMSNorm, graph.OpCrossEntropy:
			f += 5 * float64(typ(n.Inputs[0]).Shape.Size())
		default:
			f += size
		}
	}
	return f
}

// graphValues counts the elements of every computed value of a graph.
func graphValues(g *graph.Graph) float64 {
	var v float64
	for _, n := range g.Nodes {
		switch n.Op {
		case graph.OpParam, graph.OpState, graph.OpConst:
		default:
			v += float64(n.Type.Shape.Size())
		}
	}
	return v
}

// Print writes the plan as an aligned table.
func (pl *Plan) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "stage\tkind\tmodel\ttrainable\tfrozen\ttokens\tsteps\tmicro\tFLOPs\tmemory\ttime\t")
	for _, s := range pl.Stages {
		t := fmtDuration(s.Seconds)
		if !s.Calibrated {
			t = "~" + t
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t\n", s.Name, s.Kind, s.Model, fmtCount(float64(s.Trainable)),
			fmtCount(float64(s.Frozen)), fmtCount(float64(s.Tokens)), s.Steps, s.MicroBatches, fmtCount(s.FLOPs),
			fmtBytes(s.PeakBytes), t)
	}
	fmt.Fprintf(tw, "total\t\t\t\t\t\t\t\t%s\t\t%s\t\n", fmtCount(pl.FLOPs), fmtDuration(pl.Seconds))
	tw.Flush()
	calibrated := len(pl.Stages) > 0
	for _, s := range pl.Stages {
		calibrated = calibrated && s.Calibrated
	}
	fmt.Fprintln(w, "memory: params, optimizer state and one micro-batch's forward values without buffer reuse (an upper bound)")
	if calibrated {
		fmt.Fprintf(w, "times: one step of each stage timed on the %s backend; evaluation not included\n", pl.Backend)
	} else {
		fmt.Fprintf(w, "times (~): FLOPs at an assumed %s FLOP/s on the %s backend; evaluation not included\n", fmtCount(pl.AssumedFLOPS), pl.Backend)
	}
	for _, s := range pl.Stages {
		if s.NotTimed != "" {
			fmt.Fprintf(w, "stage %s not timed: %s\n", s.Name, s.NotTimed)
		}
	}
}

// fmtCount writes a count with an SI suffix: 1.2k, 3.4M, 5.6G, 7.8T.
func fmtCount(x float64) string {
	for _, u := range []struct {
		f float64
		s string
	}{{1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(x) >= u.f {
			return fmt.Sprintf("%.3g%s", x/u.f, u.s)
		}
	}
	return fmt.Sprintf("%.0f", x)
}

func fmtBytes(b int64) string {
	x := float64(b)
	for _, u := range []struct {
		f float64
		s string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if x >= u.f {
			return fmt.Sprintf("%.3g %s", x/u.f, u.s)
		}
	}
	return fmt.Sprintf("%d B", b)
}

func fmtDuration(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
