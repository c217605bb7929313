// Initialisation of a student's mixers from the teacher's attention: for a
// student with init_from = "teacher", each replaced layer whose mixer
// declares InitFromTeacher gets the params that fragment computes from the
// teacher layer's q, k, v and output projections (an attention layer kept
// as is copies them; a Mamba-2 layer with init = "attention" maps them onto
// its projections). Params the fragment does not output keep their random
// initial value.

package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// mixerParamLayer splits a student param name into its layer and the
// mixer's own name for it: "model.layers.3.mixer.in_proj.weight" → 3,
// "in_proj.weight".
func mixerParamLayer(cfg models.HFConfig, name string) (int, string, bool) {
	rest, ok := strings.CutPrefix(name, "model.layers.")
	if cfg.Family == models.FamilyGPT2 {
		rest, ok = strings.CutPrefix(name, "transformer.h.")
	}
	if !ok {
		return 0, "", false
	}
	num, rel, ok := strings.Cut(rest, ".mixer.")
	if !ok {
		return 0, "", false
	}
	l, err := strconv.Atoi(num)
	if err != nil || cfg.MixerPrefix(l)+rel != name {
		return 0, "", false
	}
	return l, rel, true
}

// fromTeacher returns the value InitFromTeacher gives the student param
// name, or nil when the param is not a mixer's, its mixer has no
// InitFromTeacher, or the fragment leaves it out. Each layer's fragment is
// evaluated once.
func (e *Engine) fromTeacher(ctx context.Context, sm *studentModel, name string) (*graph.Tensor, error) {
	cfg := sm.teacher.cfg
	l, rel, ok := mixerParamLayer(cfg, name)
	if !ok {
		return nil, nil
	}
	lm, ok := sm.mixers[l]
	if !ok {
		return nil, nil
	}
	if sm.initOut == nil {
		sm.initOut = map[int]map[string]*graph.Tensor{}
	}
	out, done := sm.initOut[l]
	if !done {
		var err error
		if out, err = e.runInitFromTeacher(ctx, sm, l, lm); err != nil {
			return nil, fmt.Errorf("student %q, layer %d: InitFromTeacher: %w", sm.s.Name, l, err)
		}
		sm.initOut[l] = out
	}
	return out[rel], nil
}

// runInitFromTeacher evaluates layer l's InitFromTeacher fragment (nil
// outputs when the mixer has none) on the teacher layer's attention params.
func (e *Engine) runInitFromTeacher(ctx context.Context, sm *studentModel, l int, lm models.LayerMixer) (map[string]*graph.Tensor, error) {
	info, err := lm.Mixer.Info(ctx)
	if err != nil {
		return nil, err
	}
	if !info.Capabilities.InitFromTeacher {
		return nil, nil
	}
	layer := lm.Layer
	layer.Dims = sm.teacher.cfg.LayerDims(1, max(teacherSeqLen(sm.teacher.cfg), 1), l, graph.F32)
	frag, err := lm.Mixer.InitFromTeacher(ctx, layer)
	if err != nil {
		return nil, err
	}
	bind := map[string]*graph.Tensor{}
	tref := modelRef("teacher", sm.teacher.t.Name)
	for name := range graphInputs(frag) {
		role, ok := strings.CutPrefix(name, mixer.TeacherPrefix)
		if !ok {
			return nil, fmt.Errorf("the fragment reads input %q, which is not a teacher role", name)
		}
		t, err := e.teacherRole(ctx, sm.teacher, tref, l, role)
		if err != nil {
			return nil, err
		}
		bind[name] = t
	}
	out, _, err := graph.Evaluate(frag, bind)
	if err != nil {
		return nil, err
	}
	// The reference interpreter may compute in float64; params are f32.
	for n, t := range out {
		if t.DType != graph.F32 {
			c := graph.NewTensor(graph.F32, t.Shape...)
			for i := 0; i < t.Len(); i++ {
				c.Set(i, t.At(i))
			}
			out[n] = c
		}
	}
	return out, nil
}

// teacherRole reads one attention param of teacher layer l by its role
// (mixer.TeacherRoles), in PyTorch layout [out, in].
func (e *Engine) teacherRole(ctx context.Context, tm *teacherModel, tref string, l int, role string) (*graph.Tensor, error) {
	proj, kind, _ := strings.Cut(role, ".") // "q_proj", "weight"
	switch tm.cfg.Family {
	case models.FamilyPhi, models.FamilyLlama:
		if tm.cfg.Family == models.FamilyPhi && proj == "o_proj" {
			proj = "dense"
		}
		return e.weight(ctx, tref, fmt.Sprintf("model.layers.%d.self_attn.%s.%s", l, proj, kind), nil)
	case models.FamilyGPT2:
		// GPT-2 fuses q, k, v in c_attn and stores Conv1D weights [in, out].
		p := fmt.Sprintf("transformer.h.%d.attn.", l)
		if proj == "o_proj" {
			t, err := e.weight(ctx, tref, p+"c_proj."+kind, nil)
			if err != nil || kind == "bias" {
				return t, err
			}
			return transpose2(t), nil
		}
		idx := strings.Index("qkv", proj[:1])
		t, err := e.weight(ctx, tref, p+"c_attn."+kind, nil)
		if err != nil {
			return nil, err
		}
		if kind == "bias" {
			c := t.Shape[0] / 3
			return graph.FromF32(append([]float32(nil), t.F32[idx*c:(idx+1)*c]...), c), nil
		}
		in, c := t.Shape[0], t.Shape[1]/3
		out := graph.NewTensor(graph.F32, c, in)
		for i := 0; i < in; i++ {
			for j := 0; j < c; j++ {
				out.F32[j*in+i] = t.F32[i*t.Shape[1]+idx*c+j]
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("teacher family %q has no attention roles", tm.cfg.Family)
}

// transpose2 transposes a 2-D f32 tensor.
func transpose2(t *graph.Tensor) *graph.Tensor {
	r, c := t.Shape[0], t.Shape[1]
	out := graph.NewTensor(graph.F32, c, r)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out.F32[j*r+i] = t.F32[i*c+j]
		}
	}
	return out
}
