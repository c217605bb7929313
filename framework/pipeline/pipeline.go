// Package pipeline reads a mohawk pipeline file (HCL) into a Pipeline: the
// teachers, students, datasets and stages a run executes, with every default
// filled, every relative path made absolute and every static check done.
//
// Load decodes against schemas (never guessing at structure), keeps going
// after an error so that one run reports every problem, and returns the
// problems as hcl.Diagnostics whose ranges point at the offending source, so
// DiagnosticWriter prints file:line:col and the line itself. Checks that need
// a teacher's config.json or a plugin (layer indices in range, a mixer's own
// attributes, a reachable plugin) belong to the engine, which reports them
// against the ranges kept here.
package pipeline

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Vars are the values given to a pipeline's variable blocks from outside the
// file. Precedence, lowest first: a variable's default, Environ, Files (later
// files win), Flags (later flags win).
type Vars struct {
	Flags   []string // "name=value" from -var, in order
	Files   []string // -var-file paths: HCL files of name = value
	Environ []string // os.Environ(): MOHAWK_VAR_<name>=value; also what env() reads
}

// Pipeline is a decoded pipeline file.
type Pipeline struct {
	Path, Dir string               // the file, absolute, and its folder (relative paths resolve against Dir)
	Files     map[string]*hcl.File // every parsed file (pipeline and var files), for DiagnosticWriter

	Backend  Backend // default {Name: "cpu"} when there is no backend block
	Plugins  []Plugin
	Teachers []*Teacher // in file order
	Students []*Student
	Datasets []*Dataset
	Stages   []*Stage  // in file order, which is run order
	Evaluate *Evaluate // never nil once stages exist: defaults to the first stage's dataset, 100_000 tokens
	Output   Output
}

// Backend is the compute backend plugin that runs every program.
type Backend struct {
	Name    string
	Threads int    // 0: the backend's default
	Device  string // "": the backend's default
	Range   hcl.Range
}

// Plugin pins a plugin executable by kind ("mixer" or "backend") and name.
type Plugin struct {
	Kind, Name, Path, SHA256 string // Path is absolute; SHA256 is lower-case hex or ""
	Range                    hcl.Range
}

// Teacher is a Transformer to distill from (or to pretrain).
type Teacher struct {
	Name       string
	Checkpoint string         // absolute Hugging Face folder, or "" when built from Config
	Config     map[string]any // Hugging Face config.json keys, when built from scratch
	Seed       uint64
	Range      hcl.Range
}

// Student is its teacher's architecture with some layers' attention replaced
// by mixers.
type Student struct {
	Name     string
	Teacher  *Teacher
	InitFrom string // "teacher", "scratch" or an absolute folder of a saved student
	Seed     uint64
	Mixers   []*MixerBlock
	Range    hcl.Range
}

// MixerBlock is one mixer block of a student. Body holds the attributes other
// than layers; the engine decodes it with the mixer plugin's own schema
// (mixer.DecodeConfig) in EvalContext, so its diagnostics point at the file.
type MixerBlock struct {
	Name        string
	Layers      []int // nil: every layer
	Body        hcl.Body
	EvalContext *hcl.EvalContext
	Range       hcl.Range // the block's header
	LayersRange hcl.Range // the layers attribute, or the header when omitted
}

// Dataset is a corpus, its tokenizer and how it is cut into sequences.
type Dataset struct {
	Name       string
	Files      []string // absolute paths or glob patterns ("**" allowed)
	JSONL      string   // absolute path or glob of JSON-lines files
	Field      string   // the JSONL string field holding the text
	Dir, Ext   string   // an absolute folder walked for files ending in Ext
	Tokenizer  string   // "bytes", "teacher" or an absolute tokenizer.json path
	SeqLen     int
	Validation float64 // fraction of sequences held out
	MaxTokens  int64   // 0: no cap
	CacheDir   string  // absolute; default <Dir>/.mohawk/cache
	Range      hcl.Range
}

// Stage is one training phase.
type Stage struct {
	Name     string
	Kind     string   // pretrain, matrix_orientation, hidden_state_alignment, knowledge_distillation, finetune
	ModelRef string   // "teacher.x" or "student.y"
	Teacher  *Teacher // the model itself when ModelRef is a teacher, else the student's teacher
	Student  *Student // nil when the model trained is a teacher
	Dataset  *Dataset

	Tokens, BatchTokens int64
	MicroBatch          int // sequences per micro-batch

	Train, Freeze []string // globs over parameter names

	Optimizer Optimizer
	Schedule  Schedule
	Loss      Loss

	EvalEvery, CheckpointEvery int64 // tokens; 0: only at the stage's end

	Range  hcl.Range            // the block's header
	Ranges map[string]hcl.Range // attribute name ("tokens", "optimizer.lr", ...) → its range, or the header when defaulted
}

// Optimizer is AdamW's settings. Defaults: 1e-4, 0.9, 0.95, 1e-8, 0.1, 1.
type Optimizer struct{ LR, Beta1, Beta2, Eps, WeightDecay, Clip float64 }

// Schedule is the learning-rate schedule. Warmup and Decay are fractions of
// the stage's steps. Default: wsd, 0.1, 0.1, 0.
type Schedule struct {
	Kind                 string // constant, cosine, wsd
	Warmup, Decay, MinLR float64
}

// Loss tunes the stage's loss. Defaults: "attention_output", 1, 0, 1 GiB.
type Loss struct {
	Target                       string // hidden_state_alignment: attention_output or block_output
	Temperature, HardLabelWeight float64
	MemoryBudget                 int64 // bytes for matrix_orientation's materialised matrices
}

// Evaluate is the periodic and stage-end evaluation.
type Evaluate struct {
	Dataset *Dataset
	Tokens  int64
	Range   hcl.Range
}

// Output is where a run writes.
type Output struct {
	Dir  string   // absolute; default <Dir>/runs/<file base name without .hcl>
	Save []string // refs ("student.x", "teacher.y") saved as folders at the end; default every student
}

// DiagnosticWriter prints diagnostics as hcl's text writer does, with the
// offending source lines of this pipeline's files, and with each position as
// file:line:col (which editors and terminals can jump to) instead of hcl's
// "file line N".
func (p *Pipeline) DiagnosticWriter(w io.Writer, color bool) hcl.DiagnosticWriter {
	var width uint
	if color {
		width = 100 // a terminal: wrap long details
	}
	pw := &positionWriter{out: w}
	pw.inner = hcl.NewDiagnosticTextWriter(&pw.buf, p.Files, width, color)
	return pw
}

// positionWriter renders each diagnostic with hcl's writer into buf, then
// rewrites its position line.
type positionWriter struct {
	out   io.Writer
	buf   bytes.Buffer
	inner hcl.DiagnosticWriter
}

func (pw *positionWriter) WriteDiagnostic(d *hcl.Diagnostic) error {
	pw.buf.Reset()
	if err := pw.inner.WriteDiagnostic(d); err != nil {
		return err
	}
	text := pw.buf.String()
	if d.Subject != nil {
		s := d.Subject
		text = strings.Replace(text,
			fmt.Sprintf("  on %s line %d", s.Filename, s.Start.Line),
			fmt.Sprintf("  on %s:%d:%d", s.Filename, s.Start.Line, s.Start.Column), 1)
	}
	_, err := io.WriteString(pw.out, text)
	return err
}

func (pw *positionWriter) WriteDiagnostics(diags hcl.Diagnostics) error {
	for _, d := range diags {
		if err := pw.WriteDiagnostic(d); err != nil {
			return err
		}
	}
	return nil
}
