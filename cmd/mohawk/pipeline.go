// mohawk run, validate and plan: the commands that take a pipeline file.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"

	"github.com/mohawk-distill/mohawk/framework/engine"
	"github.com/mohawk-distill/mohawk/framework/pipeline"
)

// repeated is a flag that may be given several times (-var a=1 -var b=2),
// keeping every value in order.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// pipelineFlags are the flags of every command that loads a pipeline.
type pipelineFlags struct {
	vars, varFiles repeated
	logLevel       string
}

func (pf *pipelineFlags) register(fs *flag.FlagSet, logLevel string) {
	fs.Var(&pf.vars, "var", "set a pipeline variable, name=value (repeatable; overrides -var-file and MOHAWK_VAR_<name>)")
	fs.Var(&pf.varFiles, "var-file", "read pipeline variables from an HCL file of name = value lines (repeatable)")
	fs.StringVar(&pf.logLevel, "log-level", logLevel, "level of the log on stderr: trace, debug, info, warn, error")
}

// load loads the pipeline at path and prints its diagnostics (warnings too)
// on stderr with the offending source lines; it returns nil when there are
// errors.
func (pf *pipelineFlags) load(path string) *pipeline.Pipeline {
	p, _ := pf.loadDiags(path)
	return p
}

// loadDiags is load that also returns the diagnostics it printed.
func (pf *pipelineFlags) loadDiags(path string) (*pipeline.Pipeline, hcl.Diagnostics) {
	p, diags := pipeline.Load(path, pipeline.Vars{Flags: pf.vars, Files: pf.varFiles, Environ: os.Environ()})
	printDiagnostics(p, diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return p, diags
}

// printDiagnostics writes diags to stderr with the pipeline's
// DiagnosticWriter (file:line:col, the source lines, the detail), in colour
// on a terminal.
func printDiagnostics(p *pipeline.Pipeline, diags hcl.Diagnostics) {
	if len(diags) == 0 {
		return
	}
	if p == nil {
		fmt.Fprintln(os.Stderr, diags.Error())
		return
	}
	fd := os.Stderr.Fd()
	color := isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
	p.DiagnosticWriter(os.Stderr, color).WriteDiagnostics(diags)
}

// onePipeline parses a pipeline command's arguments (flags before or after
// the file) and returns the file, or the exit status when the command ends
// here (0 after -h, 2 for bad arguments).
func onePipeline(fs *flag.FlagSet, args []string) (string, int) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return "", flagExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintf(os.Stderr, "mohawk %s: want one pipeline file, got %d arguments %q\n\n", fs.Name(), len(pos), pos)
		fs.Usage()
		return "", 2
	}
	return pos[0], -1
}

// flagExit is the exit status after a flag parsing error: 0 when the user
// asked for help (-h), 2 otherwise.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

const runUsage = `usage: mohawk run FILE [-var name=value]... [-var-file F]... [-resume] [-progress auto|on|off] [-log-level L]

Runs the pipeline FILE: checks it (as validate does), then trains each stage
in order, evaluating and checkpointing as the file says, and writes the run
folder (output.dir): metrics.jsonl, checkpoints/, report.md with its plots,
and the models of output.save. The results table is printed at the end.
With -resume, continues from the run folder's last checkpoint.

Progress goes to stderr: a bar on a terminal, otherwise log lines (JSON when
stderr is not a terminal) every few seconds; -log-level auto logs at info
without the bar and at warn with it.

flags:
`

func runRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var pf pipelineFlags
	pf.register(fs, "auto")
	resume := fs.Bool("resume", false, "continue from the last checkpoint in the run folder")
	progress := fs.String("progress", "auto", "progress bar on stderr: auto (on a terminal), on, off")
	fs.Usage = func() { fmt.Fprint(fs.Output(), runUsage); fs.PrintDefaults() }
	file, code := onePipeline(fs, args)
	if code >= 0 {
		return code
	}
	mode, ok := map[string]int{"auto": 0, "on": 1, "off": -1}[*progress]
	if !ok {
		fmt.Fprintf(os.Stderr, "mohawk run: -progress %q: want auto, on or off\n", *progress)
		return 2
	}
	if pf.logLevel == "auto" {
		// Without the progress bar, the log's info lines are the progress
		// (structured JSON when stderr is not a terminal); with the bar,
		// they would only break it up.
		fd := os.Stderr.Fd()
		bar := mode > 0 || (mode == 0 && (isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)))
		pf.logLevel = map[bool]string{true: "warn", false: "info"}[bar]
	}
	logger, err := newLogger(pf.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk run:", err)
		return 2
	}
	p := pf.load(file)
	if p == nil {
		return 1
	}
	ctx := context.Background()
	e, diags := engine.Open(ctx, p, engine.Options{Log: logger, Progress: mode, Resume: *resume, Stdout: os.Stdout})
	printDiagnostics(p, diags)
	if diags.HasErrors() {
		return 1
	}
	defer e.Close()
	res, err := e.Run(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk run:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "run folder: %s\nreport: %s\n", res.Dir, res.Report)
	return 0
}

const validateUsage = `usage: mohawk validate FILE [-var name=value]... [-var-file F]... [-log-level L]

Checks the pipeline FILE without training: the HCL (types, references,
budgets), then what needs the teachers' configs and the plugins (layer
indices, mixer settings, plugins that cannot start). Every problem is printed
with its file:line:col and source line; the exit status is 1 when there is
an error, 0 otherwise.

flags:
`

func runValidate(args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	var pf pipelineFlags
	pf.register(fs, defaultLogLevel)
	fs.Usage = func() { fmt.Fprint(fs.Output(), validateUsage); fs.PrintDefaults() }
	file, code := onePipeline(fs, args)
	if code >= 0 {
		return code
	}
	logger, err := newLogger(pf.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk validate:", err)
		return 2
	}
	p, loadDiags := pf.loadDiags(file)
	if p == nil {
		return 1
	}
	e, diags := engine.Open(context.Background(), p, engine.Options{Log: logger, Progress: -1})
	printDiagnostics(p, diags)
	if diags.HasErrors() {
		return 1
	}
	e.Close()
	line := fmt.Sprintf("%s: valid (%s)", file, summary(p))
	if n := len(loadDiags) + len(diags); n == 1 {
		line += ", 1 warning"
	} else if n > 1 {
		line += fmt.Sprintf(", %d warnings", n)
	}
	fmt.Println(line)
	return 0
}

// summary is a pipeline in one line: its models, datasets and stages.
func summary(p *pipeline.Pipeline) string {
	count := func(n int, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	kinds := make([]string, len(p.Stages))
	for i, s := range p.Stages {
		kinds[i] = s.Kind
	}
	parts := []string{count(len(p.Teachers), "teacher"), count(len(p.Students), "student"), count(len(p.Datasets), "dataset"),
		count(len(p.Stages), "stage")}
	s := strings.Join(parts, ", ")
	if len(kinds) > 0 {
		s += ": " + strings.Join(kinds, ", ")
	}
	return s + "; backend " + p.Backend.Name
}
