package stages

// layerwise.go builds MOHAWK's two layer-wise stages. Both run the frozen
// teacher (under TeacherPrefix, only up to the last replaced layer) to get
// each replaced layer's input u, and fit the student's mixer of that layer,
// inlined on u, to the teacher's layer: its attention matrix (matrix
// orientation) or its output (hidden-state alignment). Every layer is
// independent, so one step trains all of them on the sum of their losses.

import (
	"context"
	"fmt"
	"strconv"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/train"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// normFloor keeps a norm's square away from 0 before its square root, so
// that a layer fitted exactly gets a zero gradient instead of 0·∞ = NaN. It
// changes no norm above 1e-15.
const normFloor = 1e-30

// layerNorms is Σ over axes of x², square-rooted: the unsquared L2 (or
// Frobenius) norm over those axes.
func layerNorms(b *graph.Builder, x graph.Value, axes ...int) graph.Value {
	s := b.ReduceSum(b.Square(x), axes...)
	return b.Sqrt(b.Max(s, b.Scalar(b.DType(s), normFloor)))
}

// inlineMixer declares the params that layer l's mixer fragment of kind
// reads, named as models.BuildStudent names them (so their random initial
// values are the student's too), and inlines the fragment on u [B,T,C].
func inlineMixer(ctx context.Context, b *graph.Builder, opt Options, l int, kind mixer.FragmentKind, u graph.Value) (map[string]graph.Value, []models.Param, error) {
	lm := opt.Mixers[l]
	if lm.Mixer == nil {
		return nil, nil, fmt.Errorf("layer %d: the mixer is nil", l)
	}
	layer := lm.Layer
	layer.Dims = opt.Teacher.LayerDims(opt.Batch, opt.SeqLen, l, opt.DType)
	specs, err := lm.Mixer.Params(ctx, layer)
	if err != nil {
		return nil, nil, fmt.Errorf("layer %d mixer params: %w", l, err)
	}
	var frag *graph.Graph
	switch kind {
	case mixer.FragmentMixingMatrix:
		frag, err = lm.Mixer.MixingMatrix(ctx, layer)
	default:
		frag, err = lm.Mixer.Forward(ctx, layer)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("layer %d mixer %s: %w", l, kind, err)
	}
	reads := map[string]bool{}
	for i := range frag.Nodes {
		if n := &frag.Nodes[i]; n.Op == graph.OpParam {
			reads[n.Name] = true
		}
	}
	prefix := opt.Teacher.MixerPrefix(l)
	var params []models.Param
	for _, s := range specs {
		if !reads[s.Name] {
			continue // a param the fragment does not read has no place in the program
		}
		delete(reads, s.Name)
		name := prefix + s.Name
		var init *graph.Tensor
		if opt.ShapesOnly {
			err = s.Check()
		} else {
			init, err = s.Realize(name, opt.DType, opt.Seed)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("layer %d mixer: %w", l, err)
		}
		v := b.Param(name, opt.DType, s.Shape...)
		params = append(params, models.Param{Name: name, Value: v, Shape: graph.Shape(s.Shape).Clone(), DType: opt.DType, Init: init, NoDecay: s.NoDecay})
	}
	for name := range reads {
		return nil, nil, fmt.Errorf("layer %d mixer: the %s fragment reads parameter %q, which Params does not declare", l, kind, name)
	}
	out, err := b.Inline(frag, prefix, map[string]graph.Value{mixer.InputU: u})
	if err != nil {
		return nil, nil, fmt.Errorf("layer %d mixer %s: %w", l, kind, err)
	}
	return out, params, nil
}

// teacherUpTo builds the frozen teacher's first last+1 blocks.
func teacherUpTo(ctx context.Context, b *graph.Builder, opt Options, last int) (*models.LM, error) {
	lm, err := models.BuildModel(ctx, b, opt.Teacher, opt.DType, opt.Batch, models.BuildOptions{Prefix: TeacherPrefix, Layers: last + 1, SeqLen: opt.SeqLen, Seed: opt.Seed, ShapesOnly: opt.ShapesOnly})
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	return lm, nil
}

// MatrixBytes estimates the memory one layer of matrix orientation needs:
// the teacher's A and the student's M [B,H,T,T] and their gradients.
func MatrixBytes(batch, heads, seqLen int, dt graph.DType) int64 {
	return 4 * int64(batch) * int64(heads) * int64(seqLen) * int64(seqLen) * int64(dt.Size())
}

// layerGroups splits layers into consecutive groups of at most as many
// layers as budget holds (one at least; all when budget ≤ 0).
func layerGroups(layers []int, perLayer, budget int64) [][]int {
	n := len(layers)
	if budget > 0 && perLayer > 0 {
		n = int(min(int64(len(layers)), max(1, budget/perLayer)))
	}
	var groups [][]int
	for i := 0; i < len(layers); i += n {
		groups = append(groups, layers[i:min(i+n, len(layers))])
	}
	return groups
}

// buildMatrixOrientation is MOHAWK's stage 1: per replaced layer l, the
// student mixer's materialised matrix M on the teacher's u_l against the
// teacher's attention probabilities A (both [B,H,T,T]); the layer's loss is
// the mean over (batch, head) of ‖M − A‖_F, the stage's their sum. Layers
// are grouped into programs whose matrices fit the memory budget.
func buildMatrixOrientation(ctx context.Context, opt Options) ([]*Program, error) {
	layers := layersOf(opt.Mixers)
	for _, l := range layers {
		lm := opt.Mixers[l]
		if lm.Mixer == nil {
			return nil, fmt.Errorf("layer %d: the mixer is nil", l)
		}
		info, err := lm.Mixer.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("layer %d mixer info: %w", l, err)
		}
		if !info.Capabilities.MixingMatrix {
			return nil, fmt.Errorf("layer %d: mixer %q has no materialised mixing matrix (capability MixingMatrix), so it cannot be fitted to attention matrices; start with hidden_state_alignment instead", l, info.Name)
		}
	}
	perLayer := MatrixBytes(opt.Batch, opt.Teacher.Heads(), opt.SeqLen, opt.DType)
	var progs []*Program
	for _, group := range layerGroups(layers, perLayer, opt.MemoryBudget) {
		p, err := buildOrientationGroup(ctx, opt, group)
		if err != nil {
			return nil, err
		}
		progs = append(progs, p)
	}
	return progs, nil
}

func buildOrientationGroup(ctx context.Context, opt Options, group []int) (*Program, error) {
	b := graph.NewBuilder()
	teacher, err := teacherUpTo(ctx, b, opt, group[len(group)-1])
	if err != nil {
		return nil, err
	}
	p := &Program{Builder: b, Layers: group, Params: teacher.Params}
	loss := graph.NoValue
	for _, l := range group {
		taps := teacher.Layers[l]
		if taps.Probs == graph.NoValue {
			return nil, fmt.Errorf("layer %d: the teacher's layer has no attention matrix", l)
		}
		u := b.StopGradient(taps.Input)      // [B,T,C]
		target := b.StopGradient(taps.Probs) // A [B,H,T,T]
		out, params, err := inlineMixer(ctx, b, opt, l, mixer.FragmentMixingMatrix, u)
		if err != nil {
			return nil, err
		}
		p.Params = append(p.Params, params...)
		m, ok := out[mixer.OutputMatrix]
		if !ok {
			return nil, fmt.Errorf("layer %d: the mixing-matrix fragment has no output %q", l, mixer.OutputMatrix)
		}
		if got, want := b.Type(m), b.Type(target); !got.Equal(want) {
			return nil, fmt.Errorf("layer %d: the student's mixing matrix is %v but the teacher's attention matrix is %v [batch, heads, T, T]; the mixer must have the teacher's %d heads", l, got, want, opt.Teacher.Heads())
		}
		// ‖M − A‖_F per (batch, head): [B,H,1,1], then its mean.
		layerLoss := b.Reshape(b.Mean(layerNorms(b, b.Sub(m, target), 2, 3)))
		b.Output(OutputLayerLoss+strconv.Itoa(l), layerLoss)
		if loss == graph.NoValue {
			loss = layerLoss
		} else {
			loss = b.Add(loss, layerLoss)
		}
	}
	b.Output(train.OutputLoss, loss)
	if err := b.Err(); err != nil {
		return nil, err
	}
	p.Loss = loss
	return p, nil
}

// buildHiddenStateAlignment is MOHAWK's stage 2: per replaced layer l, the
// student mixer's output on the teacher's u_l against the teacher's
// attention sublayer output (or, with TargetBlockOutput, the block's output
// rebuilt around the student mixer against the teacher's block output); the
// layer's loss is the mean over (batch, position) of the unsquared L2 norm
// over the hidden dimension, the stage's their sum.
func buildHiddenStateAlignment(ctx context.Context, opt Options) (*Program, error) {
	if opt.Target != TargetAttentionOutput && opt.Target != TargetBlockOutput {
		return nil, fmt.Errorf("target %q is unknown (expected %q or %q)", opt.Target, TargetAttentionOutput, TargetBlockOutput)
	}
	layers := layersOf(opt.Mixers)
	b := graph.NewBuilder()
	teacher, err := teacherUpTo(ctx, b, opt, layers[len(layers)-1])
	if err != nil {
		return nil, err
	}
	p := &Program{Builder: b, Layers: layers, Params: teacher.Params}
	loss := graph.NoValue
	for _, l := range layers {
		taps := teacher.Layers[l]
		u := b.StopGradient(taps.Input) // [B,T,C]
		out, params, err := inlineMixer(ctx, b, opt, l, mixer.FragmentForward, u)
		if err != nil {
			return nil, err
		}
		p.Params = append(p.Params, params...)
		y, ok := out[mixer.OutputY]
		if !ok {
			return nil, fmt.Errorf("layer %d: the forward fragment has no output %q", l, mixer.OutputY)
		}
		if got, want := b.Type(y), b.Type(taps.Input); !got.Equal(want) {
			return nil, fmt.Errorf("layer %d: the mixer's output is %v, expected %v [batch, T, d_model]", l, got, want)
		}
		pred, target := y, b.StopGradient(taps.Mixer)
		if opt.Target == TargetBlockOutput {
			// The block's norms and MLP are the teacher's own (frozen); only
			// the mixer in it is the student's.
			pred, target = taps.WithMixer(y), b.StopGradient(taps.Block)
		}
		// ‖pred − target‖₂ over C per (batch, position): [B,T,1], then its mean.
		layerLoss := b.Reshape(b.Mean(layerNorms(b, b.Sub(pred, target), 2)))
		b.Output(OutputLayerLoss+strconv.Itoa(l), layerLoss)
		if loss == graph.NoValue {
			loss = layerLoss
		} else {
			loss = b.Add(loss, layerLoss)
		}
	}
	b.Output(train.OutputLoss, loss)
	if err := b.Err(); err != nil {
		return nil, err
	}
	p.Loss = loss
	return p, nil
}
