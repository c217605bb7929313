// Tests of the diagnostics for bad pipelines under testdata/bad: each must
// say what is wrong (with a suggestion where one is close) and point at the
// right line and column.

package pipeline

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// want is one diagnostic a bad pipeline must produce: text within
// "Summary: Detail", at file:line:col (file "" means the pipeline itself;
// line 0 means no source position).
type want struct {
	text      string
	file      string
	line, col int
}

func TestBadPipelines(t *testing.T) {
	cases := []struct {
		file  string
		vars  Vars
		wants []want
	}{
		{file: "typo_block.hcl", wants: []want{
			{text: `Unsupported block type: Blocks of type "stgae" are not expected here. Did you mean "stage"?`, line: 4, col: 1},
		}},
		{file: "typo_attr.hcl", wants: []want{
			{text: `Unsupported argument: An argument named "tokns" is not expected here. Did you mean "tokens"?`, line: 10, col: 3},
			{text: `Missing required argument: The argument "tokens" is required`, line: 8, col: 13},
		}},
		{file: "wrong_type.hcl", wants: []want{
			{text: `seq_len must be a number; found the string "long".`, line: 6, col: 13},
			{text: `micro_batch must be a whole number; found 2.5.`, line: 11, col: 17},
		}},
		{file: "missing_teacher.hcl", wants: []want{
			{text: `Missing teacher: Student "mamba" needs a teacher, and the pipeline has no teacher block.`, line: 1, col: 1},
		}},
		{file: "unknown_ref.hcl", wants: []want{
			{text: `Unknown reference: There is nothing named "techer" here; references are var.<name>, teacher.<name>, student.<name> and dataset.<name>. Did you mean "teacher"?`, line: 8, col: 13},
			{text: `Unknown student: There is no student block named "mamab"; declared: mamba, other. Did you mean student.mamba?`, line: 17, col: 13},
			{text: `dataset must be a reference such as dataset.<name>; found "go". Did you mean dataset.go (without quotes)?`, line: 18, col: 13},
			{text: `Unknown variable: There is no variable named "stpes"; declare it with a variable block. Did you mean var.steps?`, line: 19, col: 13},
			{text: `There is no variable named "stepz"; declare it with a variable block. Did you mean var.steps?`, line: 24, col: 18},
		}},
		{file: "small_budget.hcl", wants: []want{
			{text: `stage "x": tokens 1000 is smaller than one batch (batch_tokens 8192)`, line: 13, col: 3},
			{text: `stage "y": batch_tokens 1000 must be a multiple of micro_batch*seq_len (1*256 = 256)`, line: 19, col: 3},
		}},
		{file: "bad_kind.hcl", wants: []want{
			{text: `init_from must be "teacher", "scratch" or a saved student's folder; found "teachr", which is not a folder. Did you mean "teacher"?`, line: 5, col: 15},
			{text: `A layer index must be 0 or more (layers count from 0); found -1.`, line: 7, col: 14},
			{text: `found "byte", which is not a file. Did you mean "bytes"?`, line: 13, col: 15},
			{text: `kind must be one of "pretrain", "matrix_orientation", "hidden_state_alignment", "knowledge_distillation", "finetune"; found "matrix_orientaton". Did you mean "matrix_orientation"?`, line: 16, col: 12},
			{text: `kind must be one of "constant", "cosine", "wsd"; found "wds". Did you mean "wsd"?`, line: 19, col: 12},
			{text: `found "block_outputs". Did you mean "block_output"?`, line: 22, col: 14},
		}},
		{file: "checks.hcl", wants: []want{
			{text: `Duplicate teacher: A teacher named "phi" was already declared at`, line: 4, col: 1},
			{text: `Missing config.json: checkpoint: the folder ` + absTestdata("src") + ` has no config.json`, line: 2, col: 16},
			{text: `config must set model_type`, line: 8, col: 12},
			{text: `already takes every layer of student "a"`, line: 16, col: 14},
			{text: `Dataset "go" sets files and jsonl; use only one of files, jsonl and dir.`, line: 21, col: 3},
			{text: `A matrix_orientation stage trains a student against its teacher; model is teacher.gen.`, line: 27, col: 3},
			{text: `Dataset "go" uses the teacher's tokenizer, but teacher "gen" of stage "x" is built from config`, line: 25, col: 1},
		}},
		{file: "ambiguous.hcl", wants: []want{
			{text: `A plugin's kind must be one of "mixer", "backend"; found "mixr". Did you mean "mixer"?`, line: 1, col: 8},
			{text: `sha256 must be 64 hexadecimal digits; found "abc".`, line: 6, col: 12},
			{text: `Ambiguous teacher: Student "s" must say which teacher it distills (teacher = teacher.<name>); the pipeline declares teacher.a, teacher.b.`, line: 14, col: 1},
			{text: `Layer 1 is already given to the mixer at`, line: 19, col: 14},
			{text: `field names the text field of jsonl files, and dataset "y" sets no jsonl.`, line: 30, col: 3},
			{text: `Stage "st" must say which dataset it reads`, line: 32, col: 1},
			{text: `Duplicate stage: A stage named "st" was already declared at testdata/bad/ambiguous.hcl:32:1.`, line: 36, col: 1},
			{text: `each element of save must be a reference such as student.<name> or teacher.<name>; found "dataset.x".`, line: 41, col: 10},
		}},
		{file: "vars.hcl", wants: []want{
			{text: `Missing value for variable: Variable "name" has no default and no value; set it with -var name=..., a -var-file, or MOHAWK_VAR_name.`, line: 5, col: 1},
		}},
		{file: "vars.hcl", vars: Vars{Flags: []string{"nmae=x", "tokens"}}, wants: []want{
			{text: `Undeclared variable: -var nmae=x: the pipeline declares no variable "nmae". Did you mean "name"?`},
			{text: `Invalid -var option: -var expects name=value; found "tokens".`},
		}},
		{file: "vars.hcl", vars: Vars{Flags: []string{"name=x", "tokens=lots"}}, wants: []want{
			{text: `-var tokens: variable "tokens" must be a number; found "lots".`},
		}},
		{file: "vars.hcl", vars: Vars{Flags: []string{"name=x"}, Files: []string{"testdata/bad/vars_file.hcl"}}, wants: []want{
			{text: `Undeclared variable: The pipeline declares no variable "nmae". Did you mean "name"?`, file: "vars_file.hcl", line: 2, col: 1},
		}},
	}
	for _, c := range cases {
		t.Run(c.file+fmt.Sprint(c.vars.Flags), func(t *testing.T) {
			path := filepath.Join("testdata", "bad", c.file)
			p, diags := Load(path, c.vars)
			if p == nil {
				t.Fatal("Load returned a nil Pipeline")
			}
			if !diags.HasErrors() {
				t.Fatal("Load reported no error")
			}
			for _, w := range c.wants {
				file := c.file
				if w.file != "" {
					file = w.file
				}
				if !findDiag(diags, w, file) {
					t.Errorf("no diagnostic %q at %s:%d:%d; got:\n%s", w.text, file, w.line, w.col, listDiags(diags))
				}
			}
		})
	}
}

// An unknown mixer name close to a built-in is a warning, not an error: an
// installed plugin may have that name, which only the engine can tell.
func TestUnknownMixerWarns(t *testing.T) {
	_, diags := Load("testdata/bad/ambiguous.hcl", Vars{})
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning && strings.Contains(d.Detail, `"mamba" is not a built-in mixer or a plugin declared in this file. Did you mean "mamba2"?`) &&
			d.Subject != nil && d.Subject.Start.Line == 15 && d.Subject.Start.Column == 9 {
			return
		}
	}
	t.Errorf("no warning for mixer \"mamba\" at line 15:9; got:\n%s", listDiags(diags))
}

func findDiag(diags hcl.Diagnostics, w want, file string) bool {
	for _, d := range diags {
		if d.Severity != hcl.DiagError || !strings.Contains(d.Summary+": "+d.Detail, w.text) {
			continue
		}
		if w.line == 0 {
			return d.Subject == nil
		}
		if d.Subject != nil && filepath.Base(d.Subject.Filename) == file && d.Subject.Start.Line == w.line && d.Subject.Start.Column == w.col {
			return true
		}
	}
	return false
}

func listDiags(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		pos := "-"
		if d.Subject != nil {
			pos = fmt.Sprintf("%s:%d:%d", filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Subject.Start.Column)
		}
		fmt.Fprintf(&b, "  %s %s: %s\n", pos, d.Summary, d.Detail)
	}
	return b.String()
}

func absTestdata(rel string) string {
	a, _ := filepath.Abs(filepath.Join("testdata", rel))
	return a
}
