// Weights: every model's params live on the host, by model ref and param
// name, and are uploaded to the backend when a program needs them. One
// backend holds one set of resident names, and a distillation program reads
// the student at its Hugging Face names and the teacher under
// stages.TeacherPrefix, while a teacher's own pretraining reads the teacher
// at its Hugging Face names: the same resident name serves different models
// in different stages. The engine therefore tracks which model's param each
// resident name holds, uploads on a change, and reads a stage's trained
// params back to the host at the stage's end (and at each checkpoint).

package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/stages"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// owner says whose param a program's resident name is: the model ref and the
// param's name within that model.
func owner(resident, modelRef, teacherRef string) (ref, name string) {
	if n, ok := strings.CutPrefix(resident, stages.TeacherPrefix); ok {
		return teacherRef, n
	}
	return modelRef, resident
}

// upload makes every param of params resident with the value of its owner:
// modelRef for plain names, teacherRef for names under stages.TeacherPrefix.
// Params already resident with their owner's current value are not sent
// again.
func (e *Engine) upload(ctx context.Context, params []models.Param, modelRef, teacherRef string) error {
	for _, p := range params {
		ref, name := owner(p.Name, modelRef, teacherRef)
		key := ref + "\x00" + name
		if e.resident[p.Name] == key {
			continue
		}
		t, err := e.weight(ctx, ref, name, p.Shape)
		if err != nil {
			return err
		}
		if err := e.be.SetTensor(ctx, p.Name, t); err != nil {
			return fmt.Errorf("upload %s of %s: %w", name, ref, err)
		}
		e.resident[p.Name] = key
	}
	return nil
}

// download reads the resident values of names (a stage's trained params,
// read under the model's own names) back into the host copy of modelRef.
func (e *Engine) download(ctx context.Context, names []string, modelRef string) error {
	store := e.store(modelRef)
	for _, n := range names {
		t, err := e.be.Tensor(ctx, n)
		if err != nil {
			return fmt.Errorf("read back %s of %s: %w", n, modelRef, err)
		}
		store[n] = t
	}
	return nil
}

// forgetResident drops the residency records (after the backend's tensors
// were overwritten outside upload, as Plan's calibration does).
func (e *Engine) forgetResident() { e.resident = map[string]string{} }

func (e *Engine) store(ref string) map[string]*graph.Tensor {
	s := e.weights[ref]
	if s == nil {
		s = map[string]*graph.Tensor{}
		e.weights[ref] = s
	}
	return s
}

// weight returns param name of model ref, initialising it on first use;
// shape, when not nil, is the shape the caller expects. Host tensors are
// never changed in place (a trained param is replaced by the tensor read
// back), so a student's copy of a teacher param shares the teacher's tensor:
//   - a teacher's from its checkpoint folder, or from its own random
//     initialisation (its config built with its seed) when it has none;
//   - a student's from the saved student it starts from, else (init_from
//     "teacher") what its mixer's InitFromTeacher computes from the teacher's
//     attention or the teacher's param of the same name and shape, else its
//     random initial value: the one the student's own build with its seed
//     gives (see studentInit).
//
// Once set, a param keeps its value until a stage trains it, so every
// program sees the same model whatever it was built from.
func (e *Engine) weight(ctx context.Context, ref, name string, shape graph.Shape) (*graph.Tensor, error) {
	store := e.store(ref)
	if t, ok := store[name]; ok {
		return t, nil
	}
	kind, model, _ := strings.Cut(ref, ".")
	var t *graph.Tensor
	var err error
	switch kind {
	case "teacher":
		t, err = e.teacherWeight(ctx, e.teachers[model], name)
	case "student":
		sm := e.students[model]
		if sm == nil {
			return nil, fmt.Errorf("no student %q", model)
		}
		t, err = e.studentWeight(ctx, sm, name, shape)
	default:
		return nil, fmt.Errorf("param %s: unknown model %q", name, ref)
	}
	if err != nil {
		return nil, err
	}
	if shape != nil && !t.Shape.Equal(shape) {
		return nil, fmt.Errorf("%s of %s: expected shape %v, found %v", name, ref, shape, t.Shape)
	}
	store[name] = t
	return t, nil
}

func (e *Engine) teacherWeight(ctx context.Context, tm *teacherModel, name string) (*graph.Tensor, error) {
	if tm == nil {
		return nil, fmt.Errorf("param %s: no such teacher", name)
	}
	if tm.weightsErr != nil {
		return nil, fmt.Errorf("teacher %q: %w", tm.t.Name, tm.weightsErr)
	}
	if tm.folder != nil {
		t, err := tm.folder.Tensor(name)
		if err != nil {
			return nil, fmt.Errorf("teacher %q: %w", tm.t.Name, err)
		}
		return t, nil
	}
	init, err := e.teacherInit(ctx, tm)
	if err != nil {
		return nil, err
	}
	t, ok := init[name]
	if !ok {
		return nil, fmt.Errorf("teacher %q has no param %s", tm.t.Name, name)
	}
	return t, nil
}

// teacherInit is the random initialisation of a teacher built from scratch:
// its config built with its seed. It is made once per teacher.
func (e *Engine) teacherInit(ctx context.Context, tm *teacherModel) (map[string]*graph.Tensor, error) {
	if tm.init != nil {
		return tm.init, nil
	}
	params, err := modelParams(ctx, tm.cfg, nil, tm.t.Seed, nil)
	if err != nil {
		return nil, fmt.Errorf("teacher %q: %w", tm.t.Name, err)
	}
	tm.init = map[string]*graph.Tensor{}
	for _, p := range params {
		tm.init[p.Name] = p.Init
	}
	return tm.init, nil
}

// hasTeacherParam reports whether the teacher has a param name of shape.
func (e *Engine) hasTeacherParam(ctx context.Context, tm *teacherModel, name string, shape graph.Shape) bool {
	if tm.weightsErr != nil {
		return true // weight then reports why the weights cannot be read
	}
	if tm.folder != nil {
		info, err := tm.folder.Info(name)
		return err == nil && graph.Shape(info.Shape).Equal(shape)
	}
	init, err := e.teacherInit(ctx, tm)
	if err != nil {
		return false
	}
	t, ok := init[name]
	return ok && t.Shape.Equal(shape)
}

func (e *Engine) studentWeight(ctx context.Context, sm *studentModel, name string, shape graph.Shape) (*graph.Tensor, error) {
	if sm.from != nil {
		if _, err := sm.from.Info(name); err == nil {
			return sm.from.Tensor(name)
		} else if sm.strict {
			return nil, fmt.Errorf("student %s: %w", sm.from.Dir, err)
		}
	}
	if sm.s.InitFrom == "teacher" && sm.teacher != nil {
		t, err := e.fromTeacher(ctx, sm, name)
		if err != nil {
			return nil, err
		}
		if t != nil {
			return t, nil
		}
	}
	if sm.s.InitFrom == "teacher" && sm.teacher != nil && shape != nil && e.hasTeacherParam(ctx, sm.teacher, name, shape) {
		// The teacher's current value: trained in an earlier stage, or read
		// from its folder.
		t, err := e.weight(ctx, modelRef("teacher", sm.teacher.t.Name), name, shape)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	return e.studentInit(ctx, sm, name)
}

// suppliedElsewhere reports whether studentWeight finds student param p
// somewhere other than its random initialisation: in the student folder it
// starts from, or (init_from "teacher") in its mixer's InitFromTeacher
// outputs or the teacher's params. An error counts as supplied: reading
// the param then reports it.
func (e *Engine) suppliedElsewhere(ctx context.Context, sm *studentModel, p models.Param) bool {
	if sm.from != nil {
		if _, err := sm.from.Info(p.Name); err == nil || sm.strict {
			return true
		}
	}
	if sm.s.InitFrom == "teacher" && sm.teacher != nil {
		if t, err := e.fromTeacher(ctx, sm, p.Name); err != nil || t != nil {
			return true
		}
		return e.hasTeacherParam(ctx, sm.teacher, p.Name, p.Shape)
	}
	return false
}

// studentInit is the random initial value of student param name: the value
// the student's full build with its seed gives, whichever program reads it
// first. The first call makes, in one build, the values of every param
// that nothing else supplies (suppliedElsewhere), and no others: a student
// whose params come from its teacher costs no random values but its
// mixers'.
func (e *Engine) studentInit(ctx context.Context, sm *studentModel, name string) (*graph.Tensor, error) {
	if t, ok := sm.init[name]; ok {
		return t, nil
	}
	if sm.teacher == nil {
		return nil, fmt.Errorf("student %q: param %s has no value (no teacher config to build it from)", sm.s.Name, name)
	}
	cfg := sm.teacher.cfg
	want := map[string]bool{name: true}
	if sm.init == nil {
		sm.init = map[string]*graph.Tensor{}
		all, err := modelParams(ctx, cfg, sm.mixers, sm.s.Seed, noParams)
		if err != nil {
			return nil, fmt.Errorf("student %q: %w", sm.s.Name, err)
		}
		for _, p := range all {
			if !e.suppliedElsewhere(ctx, sm, p) {
				want[p.Name] = true
			}
		}
	}
	params, err := modelParams(ctx, cfg, sm.mixers, sm.s.Seed, func(n string) bool { return want[n] })
	if err != nil {
		return nil, fmt.Errorf("student %q: %w", sm.s.Name, err)
	}
	for _, p := range params {
		if p.Init != nil {
			sm.init[p.Name] = p.Init
		}
	}
	t, ok := sm.init[name]
	if !ok {
		return nil, fmt.Errorf("student %q has no param %s", sm.s.Name, name)
	}
	return t, nil
}

// noParams accepts no param name: a shapes-only build.
func noParams(string) bool { return false }

// modelParams builds a model (the teacher when mixers is nil) on a scratch
// builder for its full list of params, with the random initial values of
// those that only accepts (all when only is nil; see
// models.BuildOptions.InitOnly).
func modelParams(ctx context.Context, cfg models.HFConfig, mixers map[int]models.LayerMixer, seed uint64, only func(string) bool) ([]models.Param, error) {
	b := graph.NewBuilder()
	lm, err := models.BuildModel(ctx, b, cfg, graph.F32, 1, models.BuildOptions{Mixers: mixers, SeqLen: 8, Seed: seed, InitOnly: only})
	if err != nil {
		return nil, err
	}
	return lm.Params, nil
}
