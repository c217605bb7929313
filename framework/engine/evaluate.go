// Evaluate: `mohawk eval`, the validation perplexity of any model folder (a
// Hugging Face teacher folder or a saved student) on a dataset, and its
// top-1 agreement with a teacher folder when one is given.

package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/pipeline"
	"github.com/mohawk-distill/mohawk/plugins"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// EvalResult is the evaluation of one model folder.
type EvalResult struct {
	Model      string  // the folder evaluated
	Tokens     int64   // positions scored
	ValPPL     float64 // validation perplexity
	Agreement  float64 // top-1 agreement with the teacher; NaN without one
	TeacherPPL float64 // the teacher's perplexity on the same text; NaN without one
}

// DefaultEvalTokens bounds an evaluation when Options.EvalTokens is 0.
const DefaultEvalTokens = 100_000

// Evaluate scores the model folder ckpt on the validation sequences of ds
// (up to Options.EvalTokens tokens). A student folder (written by
// models.SaveStudent) is built with its mixer plugins, found and launched as
// a pipeline's are. teacher, when not "", is a Hugging Face folder of the
// student's teacher (or of a teacher of the same config) to measure top-1
// agreement against.
func Evaluate(ctx context.Context, ckpt string, ds *pipeline.Dataset, teacher string, opt Options) (*EvalResult, error) {
	if ds == nil {
		return nil, fmt.Errorf("evaluate %s: no dataset", ckpt)
	}
	p := &pipeline.Pipeline{Dir: filepath.Dir(ckpt), Backend: pipeline.Backend{Name: "cpu"}}
	e := newEngine(p, opt)
	defer e.Close()
	finder := e.finder()
	bp, err := e.launch(ctx, finder, plugins.KindBackend, "cpu", nil)
	if err != nil {
		return nil, err
	}
	e.backendPlugin, e.be, e.beInfo = bp, bp.Backend(), bp.BackendInfo()

	var tg evalTarget
	var vocab int
	tokDir := ckpt
	if isStudentFolder(ckpt) {
		cfg, infos, folder, err := models.LoadStudent(ckpt)
		if err != nil {
			return nil, err
		}
		sm := &studentModel{s: &pipeline.Student{Name: filepath.Base(ckpt), InitFrom: ckpt}, from: folder, strict: true,
			mixers: map[int]models.LayerMixer{}, infos: infos}
		e.students[sm.s.Name] = sm
		for l, in := range infos {
			mp, ok := e.mixerPlugins[in.Name]
			if !ok {
				if mp, err = e.launch(ctx, finder, plugins.KindMixer, in.Name, nil); err != nil {
					return nil, fmt.Errorf("%s: layer %d: %w", ckpt, l, err)
				}
				e.mixerPlugins[in.Name] = mp
			}
			val, err := models.UnmarshalMixerConfig(in.Config, mp.MixerInfo().Schema)
			if err != nil {
				return nil, fmt.Errorf("%s: layer %d: %w", ckpt, l, err)
			}
			sm.mixers[l] = models.LayerMixer{Mixer: mp.Mixer(), Layer: mixer.Layer{Config: val}}
		}
		tg = evalTarget{ref: modelRef("student", sm.s.Name), cfg: cfg, mixers: sm.mixers}
		vocab = cfg.Vocab()
	} else {
		tm, err := openTeacherFolder("model", ckpt)
		if err != nil {
			return nil, err
		}
		e.teachers["model"] = tm
		tg = evalTarget{ref: modelRef("teacher", "model"), cfg: tm.cfg}
		vocab = tm.cfg.Vocab()
	}
	if teacher != "" {
		tm, err := openTeacherFolder("reference", teacher)
		if err != nil {
			return nil, err
		}
		e.teachers["reference"] = tm
		if a, b := tm.cfg.FamilyConfig(), tg.cfg.FamilyConfig(); !reflect.DeepEqual(a, b) {
			return nil, fmt.Errorf("teacher %s has another config than the one %s was built from:\n  teacher %+v\n  model   %+v", teacher, ckpt, a, b)
		}
		tg.teacherRef = modelRef("teacher", "reference")
		for _, sm := range e.students {
			sm.teacher = tm
		}
		if _, err := os.Stat(filepath.Join(tokDir, "tokenizer.json")); err != nil {
			tokDir = teacher
		}
	}
	c, err := e.corpusFor(ds, tokDir, vocab, ckpt)
	if err != nil {
		return nil, err
	}
	tokens := opt.EvalTokens
	if tokens <= 0 {
		tokens = DefaultEvalTokens
	}
	sc, err := e.evaluate(ctx, tg, c.val, tokens)
	if err != nil {
		return nil, err
	}
	e.releaseEvals(ctx)
	return &EvalResult{Model: ckpt, Tokens: sc.Tokens, ValPPL: sc.ValPPL, Agreement: sc.Agreement, TeacherPPL: sc.TeacherPPL}, nil
}

// isStudentFolder reports whether dir's config.json carries the "mohawk"
// object SaveStudent writes.
func isStudentFolder(dir string) bool {
	raw, err := os.ReadFile(filepath.Join(dir, checkpoint.ConfigName))
	if err != nil {
		return false
	}
	var probe struct {
		Mohawk json.RawMessage `json:"mohawk"`
	}
	return json.Unmarshal(raw, &probe) == nil && len(probe.Mohawk) > 0
}

// openTeacherFolder opens a Hugging Face folder as a teacher named name.
func openTeacherFolder(name, dir string) (*teacherModel, error) {
	folder, err := checkpoint.LoadFolder(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := models.ConfigFromHF(folder)
	if err != nil {
		folder.Close()
		return nil, err
	}
	return &teacherModel{t: &pipeline.Teacher{Name: name, Checkpoint: dir}, cfg: cfg, config: folder.Config, folder: folder}, nil
}
