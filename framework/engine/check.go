// Checks of the stages that need the teachers' configs and the mixers'
// capabilities, made by Open so that `mohawk validate` reports them before
// any work starts: a dataset whose tokenizer has more ids than the model's
// vocabulary, a sequence longer than a model with learned positions has, a
// matrix orientation stage over a mixer without a mixing matrix, and (as
// warnings, since a pipeline may be validated away from its data) datasets
// whose globs match no file.

package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/hashicorp/hcl/v2"

	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/pipeline"
	"github.com/mohawk-distill/mohawk/framework/stages"
)

// checkStages reports what would stop a stage of the pipeline.
func (e *Engine) checkStages(ctx context.Context) hcl.Diagnostics {
	var diags hcl.Diagnostics
	errAt := func(r hcl.Range, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rangePtr(r)})
	}
	type pair struct {
		ds      *pipeline.Dataset
		teacher string
	}
	checked := map[pair]bool{}
	checkDataset := func(ds *pipeline.Dataset, tm *teacherModel) {
		if ds == nil || tm == nil || checked[pair{ds, tm.t.Name}] {
			return
		}
		checked[pair{ds, tm.t.Name}] = true
		if tm.cfg.Family == models.FamilyGPT2 && ds.SeqLen > tm.cfg.GPT2.Positions {
			errAt(ds.Range, "Sequences too long", fmt.Sprintf("dataset %q: seq_len %d is longer than teacher %q's %d learned positions",
				ds.Name, ds.SeqLen, tm.t.Name, tm.cfg.GPT2.Positions))
		}
		tok, _, err := loadTokenizer(ds.Tokenizer, tm.t.Checkpoint)
		if errors.Is(err, fs.ErrNotExist) {
			// Like missing weights: the pipeline may be checked before its
			// teacher is downloaded.
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Tokenizer not found",
				Detail: fmt.Sprintf("dataset %q (for teacher %q): %v; a run needs it", ds.Name, tm.t.Name, err), Subject: rangePtr(ds.Range)})
			return
		}
		if err != nil {
			errAt(ds.Range, "Tokenizer unusable", fmt.Sprintf("dataset %q (for teacher %q): %v", ds.Name, tm.t.Name, err))
			return
		}
		if v := tm.cfg.Vocab(); v < tok.VocabSize() {
			errAt(ds.Range, "Tokenizer larger than the vocabulary", fmt.Sprintf("dataset %q: its tokenizer has %d ids but teacher %q's vocabulary has %d",
				ds.Name, tok.VocabSize(), tm.t.Name, v))
		}
	}
	for _, s := range e.p.Stages {
		var tm *teacherModel
		var sm *studentModel
		if s.Student != nil {
			sm = e.students[s.Student.Name]
			if sm != nil {
				tm = sm.teacher
			}
		} else if s.Teacher != nil {
			tm = e.teachers[s.Teacher.Name]
		}
		checkDataset(s.Dataset, tm)
		if e.p.Evaluate != nil {
			checkDataset(e.p.Evaluate.Dataset, tm)
		}
		if stages.Kind(s.Kind) == stages.MatrixOrientation && sm != nil {
			for _, l := range sortedInts(sm.mixers) {
				info, err := sm.mixers[l].Mixer.Info(ctx)
				if err == nil && !info.Capabilities.MixingMatrix {
					r := s.Range
					if kr, ok := s.Ranges["kind"]; ok {
						r = kr
					}
					errAt(r, "Mixer without a mixing matrix", fmt.Sprintf("stage %q: matrix orientation fits mixing matrices, but mixer %q (layer %d of student %q) has none",
						s.Name, info.Name, l, sm.s.Name))
					break
				}
			}
		}
	}
	for _, ds := range e.p.Datasets {
		files := 0
		for _, src := range sources(ds) {
			fs, err := src.Files()
			if err == nil {
				files += len(fs)
			}
		}
		if files == 0 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Dataset without files",
				Detail: fmt.Sprintf("dataset %q matches no file yet (%s); a run needs its text", ds.Name, describeSources(ds)), Subject: rangePtr(ds.Range)})
		}
	}
	return diags
}

func describeSources(ds *pipeline.Dataset) string {
	var s string
	for i, src := range sources(ds) {
		if i > 0 {
			s += ", "
		}
		s += src.String()
	}
	return s
}

func sortedInts[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}
