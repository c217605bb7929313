// The conformance kits outside `go test`, for mohawk plugins check.
//
// backendtest.Run and mixertest.Run take a *testing.T, which only the
// testing package makes, and only while it runs tests, from testing.Main or
// testing.MainStart. MainStart (what go test's generated main calls) needs
// a value of testing's unexported testDeps interface, whose methods change
// between Go releases and are outside the Go 1 promise. testing.Main brings
// its own and is kept for programs that run tests without go test, but it
// ends the process with os.Exit once the tests are done.
//
// So check runs the kit in a child process: mohawk re-executes itself as
// `mohawk plugins run-kit [the check's flags] PATH`. The child calls
// testing.Init, sets -test.v and -test.run (the one test, "conformance") on
// flag.CommandLine, where testing registered them, parses it with no
// arguments (so testing leaves the child's command line alone), and calls
// testing.Main with that one test, which launches the plugin through
// package plugins, as the CLI does, and runs the kit against it. The
// child's exit, a panic in the kit or a hang stays in the child; every
// plugin it started is closed by the test's cleanups, and by the child's
// own CleanupOnSignals when the parent goes (Linux: the parent-death
// signal). The parent reads the child's -test.v output (its stdout; the
// log goes to the shared stderr), prints every check with the messages of
// the failed ones, counts them and prints the verdict.

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/mohawk-distill/mohawk/plugins"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/backendtest"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/mixertest"
)

const (
	// kitCommand is the plugins subcommand of the child process that runs a
	// kit; it is not in the usage text.
	kitCommand = "run-kit"
	// kitTestName is the name of the one test of the child.
	kitTestName = "conformance"
)

// kitDims are the sizes of the one case the mixer kit checks: small enough
// for the float64 reference evaluator to take a moment.
var kitDims = mixer.Dims{Batch: 2, SeqLen: 8, DModel: 8, Heads: 2, KVHeads: 2}

// runKit is the child: it runs the kit of the plugin's kind as the test
// kitTestName under testing.Main, which exits the process.
func runKit(args []string) int {
	fs := flag.NewFlagSet(kitCommand, flag.ContinueOnError)
	var o checkOptions
	o.register(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintf(os.Stderr, "mohawk plugins %s: want one plugin path, found %d arguments\n", kitCommand, len(pos))
		return 2
	}
	logger, err := newLogger(o.logLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mohawk plugins %s: %v\n", kitCommand, err)
		return 2
	}
	fd, err := o.resolve(pos[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "mohawk plugins %s: %v\n", kitCommand, err)
		return 1
	}
	launch := func(t *testing.T) *plugins.Plugin {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		defer cancel()
		p, err := plugins.Launch(ctx, fd, plugins.Options{Logger: logger, StartTimeout: o.timeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	var test func(t *testing.T)
	switch fd.Kind {
	case plugins.KindBackend:
		test = func(t *testing.T) {
			t.Cleanup(plugins.Shutdown) // runs last, after every subtest's Close
			// The suite wants a backend without resident tensors from
			// every call, and the wire cannot list a backend's tensors:
			// each call launches a fresh plugin process.
			backendtest.Run(t, func(t *testing.T) backend.Backend { return launch(t).Backend() },
				backendtest.Options{Large: o.large})
		}
	case plugins.KindMixer:
		test = func(t *testing.T) {
			t.Cleanup(plugins.Shutdown)
			p := launch(t)
			cfg, err := mixerConfig(p.MixerInfo().Schema, o.config)
			if err != nil {
				t.Fatal(err)
			}
			mixertest.Run(t, p.Mixer(), []mixertest.Case{{Name: "default", Layer: mixer.Layer{Config: cfg, Dims: kitDims}}})
		}
	default:
		fmt.Fprintf(os.Stderr, "mohawk plugins %s: no conformance kit for %s plugins\n", kitCommand, fd.Kind)
		return 1
	}

	testing.Init()
	for name, value := range map[string]string{"test.v": "true", "test.run": "^" + kitTestName + "$"} {
		if err := flag.CommandLine.Set(name, value); err != nil {
			fmt.Fprintf(os.Stderr, "mohawk plugins %s: -%s: %v\n", kitCommand, name, err)
			return 1
		}
	}
	if err := flag.CommandLine.Parse(nil); err != nil {
		fmt.Fprintf(os.Stderr, "mohawk plugins %s: %v\n", kitCommand, err)
		return 1
	}
	testing.Main(regexp.MatchString, []testing.InternalTest{{Name: kitTestName, F: test}}, nil, nil)
	return 1 // not reached: testing.Main exits
}

// runKitProcess runs the kit of o's kind against the plugin at path in a
// child process, prints every check to out and returns the results.
func runKitProcess(path string, o checkOptions, out io.Writer) (*kitResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the mohawk executable to run the kit: %w", err)
	}
	cmd := exec.Command(exe, append(append([]string{"plugins", kitCommand}, o.args()...), "--", path)...)
	cmd.Stderr = os.Stderr // the log, plugins' stderr included
	setKitProcAttr(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	res, perr := parseKit(stdout)
	_, _ = io.Copy(io.Discard, stdout) // after a read error, let the child finish
	werr := cmd.Wait()
	if perr != nil {
		return nil, perr
	}
	res.took = time.Since(start)
	res.exit = cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return nil, werr
	}
	if werr != nil {
		res.state = cmd.ProcessState.String()
	}
	res.print(out)
	return res, nil
}

// checkResult is one test or subtest as -test.v reports it.
type checkResult struct {
	name   string // without the kitTestName/ prefix
	status string // PASS, FAIL or SKIP
	leaf   bool   // no subtests: one check
	// failedAlone is a failure of the test itself: it failed and none of
	// its subtests did.
	failedAlone bool
}

// kitResult is what a kit run reported.
type kitResult struct {
	results  []checkResult       // in the order reported (parents first)
	messages map[string][]string // each test's own output lines
	exit     int                 // the child's exit code
	state    string              // how the child ended, when not with 0
	took     time.Duration

	passedN, failedN, skippedN int
	firstFailure               string // "check: message"
}

var resultLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (.+) \([0-9.]+s\)$`)

// parseKit reads the -test.v output of a kit run: the "=== RUN", "=== NAME"
// and "=== CONT" lines say whose output follows (each test's log and error
// lines, indented), and the "--- PASS/FAIL/SKIP" lines, which testing
// prints for a top-level test and all its subtests when it ends, parents
// before their subtests, give the results.
func parseKit(r io.Reader) (*kitResult, error) {
	res := &kitResult{messages: map[string][]string{}}
	current := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "=== "); ok {
			verb, name, _ := strings.Cut(rest, " ")
			switch verb {
			case "RUN", "NAME", "CONT":
				current = displayName(strings.TrimSpace(name))
			}
			continue
		}
		if m := resultLine.FindStringSubmatch(line); m != nil {
			res.results = append(res.results, checkResult{name: displayName(m[2]), status: m[1]})
			continue
		}
		if line == "PASS" || line == "FAIL" || strings.HasPrefix(line, "testing: ") {
			continue // testing's own summary
		}
		if current != "" && strings.TrimSpace(line) != "" {
			res.messages[current] = append(res.messages[current], strings.TrimPrefix(line, "    "))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the kit's output: %w", err)
	}
	// A check is a test without subtests, or one that failed while none of
	// its subtests did: it failed by itself (a parent's own log lines look
	// like error lines in this output, so a parent whose subtests failed is
	// taken to have failed through them).
	for i := range res.results {
		name := res.results[i].name
		under := func(o checkResult) bool {
			return o.name != name && (name == kitTestName || strings.HasPrefix(o.name, name+"/"))
		}
		res.results[i].leaf = !slices.ContainsFunc(res.results, under)
		res.results[i].failedAlone = res.results[i].status == "FAIL" && !slices.ContainsFunc(res.results, func(o checkResult) bool {
			return under(o) && o.status == "FAIL"
		})
	}
	for _, c := range res.results {
		switch {
		case c.failedAlone:
			res.failedN++
			if res.firstFailure == "" {
				res.firstFailure = c.name + ": " + firstMessage(res.messages[c.name])
			}
		case !c.leaf:
		case c.status == "PASS":
			res.passedN++
		case c.status == "SKIP":
			res.skippedN++
		}
	}
	return res, nil
}

// displayName drops the name of the kit's test from a subtest's name.
func displayName(name string) string {
	if rest, ok := strings.CutPrefix(name, kitTestName+"/"); ok {
		return rest
	}
	return name
}

var fileLinePrefix = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)

// firstMessage is the first line of a failed check's output, without the
// file:line prefix of testing, shortened for the verdict line.
func firstMessage(lines []string) string {
	if len(lines) == 0 {
		return "failed (no message)"
	}
	msg := fileLinePrefix.ReplaceAllString(lines[0], "")
	if len(msg) > 400 {
		msg = msg[:400] + "…"
	}
	return msg
}

// print writes every check, with the messages of the failed and skipped
// ones.
func (res *kitResult) print(out io.Writer) {
	for _, c := range res.results {
		msgs := res.messages[c.name]
		switch {
		case c.failedAlone:
			fmt.Fprintf(out, "FAIL  %s\n", c.name)
			for _, m := range msgs {
				fmt.Fprintf(out, "        %s\n", m)
			}
		case !c.leaf:
		case c.status == "PASS":
			fmt.Fprintf(out, "ok    %s\n", c.name)
		case c.status == "SKIP":
			fmt.Fprintf(out, "skip  %s: %s\n", c.name, firstMessage(msgs))
		}
	}
}

func (res *kitResult) passed() bool {
	return res.exit == 0 && res.failedN == 0 && res.passedN > 0
}

// verdict is the last line of check.
func (res *kitResult) verdict(program, kind string) string {
	total := res.passedN + res.failedN + res.skippedN
	switch {
	case res.passed():
		skipped := ""
		if res.skippedN > 0 {
			skipped = fmt.Sprintf(", %d skipped", res.skippedN)
		}
		return fmt.Sprintf("PASS: %s passes the %s conformance suite (%d checks%s, %.1fs)", program, kind, res.passedN, skipped, res.took.Seconds())
	case res.failedN > 0:
		return fmt.Sprintf("FAIL: %s fails the %s conformance suite: %d of %d checks failed; the first: %s",
			program, kind, res.failedN, total, res.firstFailure)
	case res.exit != 0:
		return fmt.Sprintf("FAIL: %s: the %s conformance suite ended (%s) after %d checks without reporting a failure; see its output above",
			program, kind, res.state, total)
	default:
		return fmt.Sprintf("FAIL: %s: the %s conformance suite ran no checks", program, kind)
	}
}

// mixerConfig is the configuration of the kit's case: text, in HCL, decoded
// against the mixer's schema, or the schema's defaults when text is empty.
func mixerConfig(s mixer.Schema, text string) (cty.Value, error) {
	if strings.TrimSpace(text) == "" {
		var required []string
		for _, a := range s.Attributes {
			if a.Required {
				required = append(required, strconv.Quote(a.Name))
			}
		}
		if len(required) > 0 {
			return cty.NilVal, fmt.Errorf("the mixer's schema requires %s, which has no default; give a configuration with -config (for example -config '%s = …')",
				strings.Join(required, ", "), strings.Trim(required[0], `"`))
		}
		v, diags := mixer.DecodeConfig(hcl.EmptyBody(), s, nil)
		if diags.HasErrors() {
			return cty.NilVal, errors.New(diags.Error())
		}
		return v, nil
	}
	const filename = "-config"
	f, diags := hclsyntax.ParseConfig([]byte(text), filename, hcl.InitialPos)
	var v cty.Value
	if !diags.HasErrors() {
		v, diags = mixer.DecodeConfig(f.Body, s, nil)
	}
	if diags.HasErrors() {
		var b strings.Builder
		files := map[string]*hcl.File{}
		if f != nil {
			files[filename] = f
		}
		w := hcl.NewDiagnosticTextWriter(&b, files, 100, false)
		_ = w.WriteDiagnostics(diags)
		return cty.NilVal, fmt.Errorf("-config does not fit the mixer's schema:\n%s", strings.TrimRight(b.String(), "\n"))
	}
	return v, nil
}

// describeConfig writes a configuration as HCL attributes.
func describeConfig(v cty.Value) string {
	if v.IsNull() || !v.Type().IsObjectType() || len(v.Type().AttributeTypes()) == 0 {
		return "(no attributes)"
	}
	var names []string
	for name := range v.Type().AttributeTypes() {
		names = append(names, name)
	}
	slices.Sort(names)
	var parts []string
	for _, name := range names {
		parts = append(parts, name+" = "+ctyString(v.GetAttr(name)))
	}
	return strings.Join(parts, ", ")
}

func ctyString(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('g', -1)
	case v.Type() == cty.String:
		return strconv.Quote(v.AsString())
	case v.Type() == cty.Bool:
		return strconv.FormatBool(v.True())
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return v.GoString()
	}
	return string(b)
}
