// Tests of Load on the pipelines under testdata: a full pipeline decoded to
// the expected struct, defaults, functions, variables and their precedence.

package pipeline

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// mustLoad loads a testdata pipeline and fails on any error diagnostic.
func mustLoad(t *testing.T, path string, vars Vars) *Pipeline {
	t.Helper()
	p, diags := Load(path, vars)
	if diags.HasErrors() {
		var buf bytes.Buffer
		_ = p.DiagnosticWriter(&buf, false).WriteDiagnostics(diags)
		t.Fatalf("Load(%s): unexpected errors:\n%s", path, buf.String())
	}
	return p
}

// stripPositions zeroes what depends on source positions or is opaque, so a
// decoded pipeline compares with a literal.
func stripPositions(p *Pipeline) {
	p.Files = nil
	p.Backend.Range = hcl.Range{}
	for i := range p.Plugins {
		p.Plugins[i].Range = hcl.Range{}
	}
	for _, t := range p.Teachers {
		t.Range = hcl.Range{}
	}
	for _, s := range p.Students {
		s.Range = hcl.Range{}
		for _, m := range s.Mixers {
			m.Range, m.LayersRange, m.Body, m.EvalContext = hcl.Range{}, hcl.Range{}, nil, nil
		}
	}
	for _, d := range p.Datasets {
		d.Range = hcl.Range{}
	}
	for _, st := range p.Stages {
		st.Range, st.Ranges = hcl.Range{}, nil
	}
	if p.Evaluate != nil {
		p.Evaluate.Range = hcl.Range{}
	}
}

func abs(t *testing.T, rel string) string {
	t.Helper()
	a, err := filepath.Abs(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestLoadFullPipeline(t *testing.T) {
	p := mustLoad(t, "testdata/full.hcl", Vars{})
	stripPositions(p)

	phi := &Teacher{Name: "phi", Checkpoint: abs(t, "teacher"), Seed: 7}
	scratch := &Teacher{Name: "scratch", Seed: 1,
		Config: map[string]any{"model_type": "phi", "vocab_size": 256.0, "hidden_size": 64.0}}
	mamba := &Student{Name: "mamba", Teacher: phi, InitFrom: "teacher", Seed: 1, Mixers: []*MixerBlock{
		{Name: "mamba2", Layers: []int{0, 1}},
		{Name: "attention", Layers: []int{2}},
	}}
	goData := &Dataset{Name: "go", Files: []string{abs(t, "src/**/*.go"), abs(t, "src/x.txt")},
		Tokenizer: "bytes", SeqLen: 256, Validation: 0.02, MaxTokens: 2e7, CacheDir: abs(t, ".mohawk/cache")}
	docs := &Dataset{Name: "docs", JSONL: abs(t, "data/*.jsonl"), Field: "text", Tokenizer: "bytes",
		SeqLen: 128, Validation: 0.01, CacheDir: abs(t, ".mohawk/cache")}
	want := &Pipeline{
		Path:     abs(t, "full.hcl"),
		Dir:      abs(t, ""),
		Backend:  Backend{Name: "cpu", Threads: 2},
		Plugins:  []Plugin{{Kind: "mixer", Name: "linattn", Path: abs(t, "bin/mohawk-mixer-linattn"), SHA256: "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"}},
		Teachers: []*Teacher{phi, scratch},
		Students: []*Student{mamba},
		Datasets: []*Dataset{goData, docs},
		Stages: []*Stage{
			{Name: "orient", Kind: "matrix_orientation", ModelRef: "student.mamba", Teacher: phi, Student: mamba, Dataset: goData,
				Tokens: 2e6, BatchTokens: 8192, MicroBatch: 8, Train: []string{"*.mixer.*"}, Freeze: []string{},
				Optimizer: Optimizer{LR: 1e-3, Beta1: 0.8, Beta2: 0.9, Eps: 1e-6, WeightDecay: 0, Clip: 0.5},
				Schedule:  Schedule{Kind: "cosine", Warmup: 0.05, Decay: 0.2, MinLR: 1e-5},
				Loss:      Loss{Target: "attention_output", Temperature: 1, MemoryBudget: 512 << 20},
				EvalEvery: 5e5, CheckpointEvery: 1e6},
			{Name: "pre", Kind: "pretrain", ModelRef: "teacher.scratch", Teacher: scratch, Dataset: docs,
				Tokens: 1e5, BatchTokens: 1024, MicroBatch: 8,
				Optimizer: defaultOptimizer, Schedule: defaultSchedule,
				Loss: Loss{Target: "block_output", Temperature: 2, HardLabelWeight: 0.5, MemoryBudget: 1000}},
		},
		Evaluate: &Evaluate{Dataset: docs, Tokens: 5e4},
		Output:   Output{Dir: abs(t, "runs/full-X"), Save: []string{"student.mamba", "teacher.scratch"}},
	}
	if !reflect.DeepEqual(p, want) {
		got, _ := json.MarshalIndent(p, "", "  ")
		exp, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("decoded pipeline differs\n got: %s\nwant: %s", got, exp)
	}
}

func TestLoadFillsDefaults(t *testing.T) {
	p := mustLoad(t, "testdata/minimal.hcl", Vars{})
	if p.Backend.Name != "cpu" {
		t.Errorf("backend %q, want cpu", p.Backend.Name)
	}
	orient, kd, ft := p.Stages[0], p.Stages[1], p.Stages[2]
	if orient.ModelRef != "student.mamba" || orient.Student != p.Students[0] || orient.Teacher != p.Teachers[0] {
		t.Errorf("orient model %q student %v teacher %v: want the only student and its teacher", orient.ModelRef, orient.Student, orient.Teacher)
	}
	if p.Students[0].Teacher != p.Teachers[0] || p.Students[0].InitFrom != "teacher" {
		t.Errorf("student teacher %v init_from %q: want the only teacher, \"teacher\"", p.Students[0].Teacher, p.Students[0].InitFrom)
	}
	if m := p.Students[0].Mixers[0]; m.Layers != nil || m.Body == nil || m.EvalContext == nil {
		t.Errorf("mixer layers %v body %v ctx %v: want nil (all), a body and a context", m.Layers, m.Body, m.EvalContext)
	}
	if orient.Dataset != p.Datasets[0] || p.Datasets[0].Tokenizer != "bytes" || p.Datasets[0].Validation != 0.01 || p.Datasets[0].Dir != abs(t, "src") {
		t.Errorf("dataset defaults wrong: %+v", p.Datasets[0])
	}
	if orient.MicroBatch != 8 || orient.BatchTokens != 8*256 {
		t.Errorf("orient micro_batch %d batch_tokens %d, want 8 and 2048", orient.MicroBatch, orient.BatchTokens)
	}
	if kd.MicroBatch != 3 || kd.BatchTokens != 768 {
		t.Errorf("kd micro_batch %d batch_tokens %d, want 3 (largest divisor of 3 up to 8) and 768", kd.MicroBatch, kd.BatchTokens)
	}
	if ft.MicroBatch != 8 || ft.BatchTokens != 2048 {
		t.Errorf("ft (micro_batch = null) micro_batch %d batch_tokens %d, want the defaults 8 and 2048", ft.MicroBatch, ft.BatchTokens)
	}
	if r, ok := orient.Ranges["loss.memory_budget"]; !ok || r != orient.Range {
		t.Errorf("Ranges[loss.memory_budget] = %v, %v; want the stage's range without a loss block", r, ok)
	}
	if orient.Optimizer != defaultOptimizer || orient.Schedule != defaultSchedule || orient.Loss != defaultLoss {
		t.Errorf("defaults: %+v %+v %+v", orient.Optimizer, orient.Schedule, orient.Loss)
	}
	if p.Evaluate == nil || p.Evaluate.Dataset != p.Datasets[0] || p.Evaluate.Tokens != 100_000 {
		t.Errorf("evaluate %+v, want the first stage's dataset with 100000 tokens", p.Evaluate)
	}
	if p.Output.Dir != abs(t, "runs/minimal") || !reflect.DeepEqual(p.Output.Save, []string{"student.mamba"}) {
		t.Errorf("output %+v, want runs/minimal saving student.mamba", p.Output)
	}
	for _, name := range []string{"kind", "tokens", "batch_tokens", "model", "dataset"} {
		if _, ok := orient.Ranges[name]; !ok {
			t.Errorf("Ranges has no %q", name)
		}
	}
	if r := kd.Ranges["batch_tokens"]; r.Start.Line != 19 {
		t.Errorf("Ranges[batch_tokens] starts at line %d, want 19", r.Start.Line)
	}
	if r := kd.Ranges["model"]; r.Start.Line != 16 {
		t.Errorf("Ranges[model] of a defaulted model starts at line %d, want the block's line 16", r.Start.Line)
	}
}

func TestLoadFunctions(t *testing.T) {
	p := mustLoad(t, "testdata/functions.hcl", Vars{Environ: []string{"MOHAWK_TEST_DATA=/data"}})
	if p.Teachers[0].Checkpoint != abs(t, "teacher") {
		t.Errorf("abspath: %q", p.Teachers[0].Checkpoint)
	}
	if want := []string{filepath.Join(goroot(), "src/**/*.go"), "/data/*.txt"}; !reflect.DeepEqual(p.Datasets[0].Files, want) {
		t.Errorf("files %q, want %q", p.Datasets[0].Files, want)
	}
	if goroot() == "" && runtime.GOROOT() != "" {
		t.Errorf("goroot() is empty")
	}
	if p.Datasets[0].SeqLen != 128 || p.Stages[0].Tokens != 1e6 {
		t.Errorf("seq_len %d tokens %d, want 128 and 1e6", p.Datasets[0].SeqLen, p.Stages[0].Tokens)
	}
	if p.Output.Dir != abs(t, "runs/tiny-3") {
		t.Errorf("output dir %q", p.Output.Dir)
	}
	m := p.Students[0].Mixers[0]
	if !reflect.DeepEqual(m.Layers, []int{0, 1}) {
		t.Errorf("layers %v from var.layers, want [0 1]", m.Layers)
	}
	// The mixer's own attributes stay in Body, evaluable in EvalContext.
	attrs, diags := m.Body.JustAttributes()
	if diags.HasErrors() || len(attrs) != 1 || attrs["note"] == nil {
		t.Fatalf("mixer body attributes %v (%v), want only note", attrs, diags)
	}
	v, diags := attrs["note"].Expr.Value(m.EvalContext)
	if diags.HasErrors() || v.AsString() != "a note" {
		t.Errorf("note = %#v (%v), want \"a note\" read by file()", v, diags)
	}
}

func TestVariablePrecedence(t *testing.T) {
	const path = "testdata/bad/vars.hcl"
	env := []string{"MOHAWK_VAR_tokens=2000", "MOHAWK_VAR_name=env", "MOHAWK_VAR_other=ignored"}
	cases := []struct {
		name       string
		vars       Vars
		tokens     int64
		outputName string
	}{
		{"default and flag", Vars{Flags: []string{"name=flag"}}, 1000, "flag"},
		{"env over default", Vars{Environ: env}, 2000, "env"},
		{"file over env", Vars{Environ: env, Files: []string{"testdata/bad/vars_ok.hcl"}}, 3000, "file"},
		{"flag over file", Vars{Environ: env, Files: []string{"testdata/bad/vars_ok.hcl"}, Flags: []string{"tokens=4e3", "name=a=b"}}, 4000, "a=b"},
		{"later flag wins", Vars{Flags: []string{"tokens=5000", "name=x", "tokens=6000"}}, 6000, "x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustLoad(t, path, c.vars)
			if p.Stages[0].Tokens != c.tokens {
				t.Errorf("tokens %d, want %d", p.Stages[0].Tokens, c.tokens)
			}
			if want := abs(t, "bad/runs/"+c.outputName); p.Output.Dir != want {
				t.Errorf("output dir %q, want %q", p.Output.Dir, want)
			}
		})
	}
}

func TestVariableFlagTypes(t *testing.T) {
	p := mustLoad(t, "testdata/functions.hcl", Vars{Flags: []string{"layers=[2, 3]"}})
	if got := p.Students[0].Mixers[0].Layers; !reflect.DeepEqual(got, []int{2, 3}) {
		t.Errorf("-var layers=[2, 3] gave layers %v", got)
	}
	_, diags := Load("testdata/functions.hcl", Vars{Flags: []string{"layers=many"}})
	if !hasDiag(diags, `-var layers: variable "layers" must be a list of numbers; found "many".`) {
		t.Errorf("a list variable given a word: %v", diags)
	}
}

func hasDiag(diags hcl.Diagnostics, text string) bool {
	for _, d := range diags {
		if strings.Contains(d.Summary+": "+d.Detail, text) {
			return true
		}
	}
	return false
}

// The writer prints file:line and the source line for a diagnostic.
func TestDiagnosticWriterShowsSource(t *testing.T) {
	p, diags := Load("testdata/bad/small_budget.hcl", Vars{})
	var buf bytes.Buffer
	if err := p.DiagnosticWriter(&buf, false).WriteDiagnostics(diags); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Error: Token budget smaller than one batch",
		"on testdata/bad/small_budget.hcl:13:3, in stage \"x\":",
		"tokens       = 1000",
		`stage "x": tokens 1000 is smaller than one batch (batch_tokens 8192)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"stage", "teacher", "student", "dataset"}
	for name, want := range map[string]string{"stgae": "stage", "techer": "teacher", "studnet": "student", "xyz": "", "s": "", "datasets": "dataset"} {
		if got := suggest(name, cands); got != want {
			t.Errorf("suggest(%q) = %q, want %q", name, got, want)
		}
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance = %d, want 3", d)
	}
}

// A missing file is a diagnostic, and the Pipeline is still usable for
// printing.
func TestLoadMissingFile(t *testing.T) {
	p, diags := Load("testdata/none.hcl", Vars{})
	if p == nil || !diags.HasErrors() {
		t.Fatalf("Load of a missing file: p %v diags %v", p, diags)
	}
	var buf bytes.Buffer
	_ = p.DiagnosticWriter(&buf, false).WriteDiagnostics(diags)
	if !strings.Contains(buf.String(), "none.hcl") {
		t.Errorf("the error does not name the file: %s", buf.String())
	}
}

// FuzzLoad feeds arbitrary pipeline sources to Load, which must return
// diagnostics and never panic. Run with go test -fuzz FuzzLoad.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"testdata/minimal.hcl", "testdata/bad/bad_kind.hcl"} {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(`stage "x" { kind = 1 tokens = [] model = {} }`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		path := filepath.Join(dir, "fuzz.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		p, diags := Load(path, Vars{Flags: []string{"x=1"}})
		if p == nil {
			t.Fatal("nil Pipeline")
		}
		for _, d := range diags {
			if d.Summary == "Internal error" {
				t.Fatalf("Load recovered from a panic: %s", d.Detail)
			}
		}
	})
}
