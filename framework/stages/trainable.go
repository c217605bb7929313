package stages

// trainable.go chooses the params a stage trains: by default every param of
// the trained model that the loss depends on (what that is per stage follows
// from what the stage's program reads: the whole model for pretrain,
// finetune and distillation, the replaced mixers for the layer-wise stages),
// then the stage's Train and Freeze globs.

import (
	"fmt"
	"strings"

	"github.com/mohawk-distill/mohawk/framework/train"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Match reports whether name matches glob. The rule is path.Match's without
// separators: '*' matches any run of characters, dots and slashes included
// ("*.mixer.*" matches "model.layers.3.mixer.in_proj.weight"), '?' any one
// character, and every other character itself. There are no character
// classes or escapes; param names have no use for them.
func Match(glob, name string) bool {
	// Iterative matching with backtracking to the last '*': linear in
	// practice, never exponential.
	g, n := 0, 0
	star, from := -1, 0
	for n < len(name) {
		switch {
		case g < len(glob) && (glob[g] == '?' || glob[g] == name[n]):
			g++
			n++
		case g < len(glob) && glob[g] == '*':
			star, from = g, n
			g++
		case star >= 0:
			from++
			g, n = star+1, from
		default:
			return false
		}
	}
	for g < len(glob) && glob[g] == '*' {
		g++
	}
	return g == len(glob)
}

// gradientReach marks the values the loss depends on through a path a
// gradient flows along: float values, not through StopGradient or ops
// without a derivative (as graph.Grad decides).
func gradientReach(b *graph.Builder, loss graph.Value) []bool {
	reach := make([]bool, int(loss)+1)
	reach[loss] = true
	for i := int(loss); i >= 0; i-- {
		if !reach[i] {
			continue
		}
		nd := b.Node(graph.Value(i))
		switch nd.Op {
		case graph.OpStopGradient, graph.OpLess, graph.OpEqual, graph.OpSign, graph.OpIota, graph.OpConst:
			continue
		}
		if !nd.Type.DType.IsFloat() {
			continue
		}
		for _, in := range nd.Inputs {
			reach[in] = true
		}
	}
	return reach
}

// selectTrainable fills each program's trainable set: the candidates are the
// params that are not the teacher's and that the loss depends on; Train
// replaces them by its matches, Freeze removes its matches. A glob that
// matches no candidate of any program is an error (a typo, most likely); a
// layer group of matrix orientation left with nothing to train is dropped.
func selectTrainable(opt Options, progs []*Program) ([]*Program, error) {
	usedTrain := make([]bool, len(opt.Train))
	usedFreeze := make([]bool, len(opt.Freeze))
	var kept []*Program
	var examples []string
	for _, p := range progs {
		reach := gradientReach(p.Builder, p.Loss)
		p.Trainable, p.TrainableNames = nil, nil
		for _, prm := range p.Params {
			if strings.HasPrefix(prm.Name, TeacherPrefix) || int(prm.Value) >= len(reach) || !reach[prm.Value] {
				continue
			}
			if len(examples) < 3 {
				examples = append(examples, prm.Name)
			}
			if !matchAny(opt.Train, prm.Name, usedTrain, len(opt.Train) == 0) || matchAny(opt.Freeze, prm.Name, usedFreeze, false) {
				continue
			}
			p.Trainable = append(p.Trainable, train.Param{Value: prm.Value, NoDecay: prm.NoDecay})
			p.TrainableNames = append(p.TrainableNames, prm.Name)
		}
		if len(p.Trainable) > 0 {
			kept = append(kept, p)
		}
	}
	for _, c := range []struct {
		what  string
		globs []string
		used  []bool
	}{{"train", opt.Train, usedTrain}, {"freeze", opt.Freeze, usedFreeze}} {
		for i, g := range c.globs {
			if !c.used[i] {
				such := "there are none"
				if len(examples) > 0 {
					such = "such as " + strings.Join(examples, ", ")
				}
				return nil, fmt.Errorf("%s stage: %s glob %q matches no parameter the stage could train (%s)", opt.Kind, c.what, g, such)
			}
		}
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("%s stage: no parameter is left to train (train %q, freeze %q)", opt.Kind, opt.Train, opt.Freeze)
	}
	return kept, nil
}

// matchAny reports whether name matches one of globs (or empty when there
// are none), marking the globs that match.
func matchAny(globs []string, name string, used []bool, empty bool) bool {
	if len(globs) == 0 {
		return empty
	}
	hit := false
	for i, g := range globs {
		if Match(g, name) {
			used[i], hit = true, true
		}
	}
	return hit
}
