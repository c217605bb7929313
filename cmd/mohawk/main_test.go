//go:build unix

// Tests of the mohawk command as a user runs it: the built binary, with the
// built CPU backend plugin, the example linear-attention mixer plugin and
// fault plugins, for plugins list, plugins check and bench.

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// bin is the folder of the executables TestMain builds.
var bin string

// built are the packages TestMain builds, by the file name they get in bin.
var built = map[string]string{
	"mohawk":                        ".",
	"mohawk-backend-cpu":            "../../backends/cpu/cmd/mohawk-backend-cpu",
	"mohawk-mixer-linear-attention": "../../examples/mixer-linear-attention",
	"mohawk-mixer-crash":            "../../plugins/internal/faultplugins/mixercrash",
	"mohawk-backend-oldapi":         "../../plugins/internal/faultplugins/oldapi",
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mohawk-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	code := 1
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds every package of built into dir, each under its name.
func build(dir string) error {
	for name, pkg := range built {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build -o %s %s: %v\n%s", name, pkg, err, out)
		}
	}
	return nil
}

// install copies the built executables names into a new folder.
func install(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(bin, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// result is one run of the mohawk command.
type result struct {
	stdout, stderr string
	code           int
}

// mohawk runs the built command with the plugin folder pluginDir and $PATH
// path (an empty folder when ""), so that only the plugins the test put
// there are found.
func mohawk(t *testing.T, pluginDir, path string, args ...string) result {
	t.Helper()
	if path == "" {
		path = t.TempDir()
	}
	cmd := exec.Command(filepath.Join(bin, "mohawk"), args...)
	cmd.Env = append(os.Environ(), "MOHAWK_PLUGIN_DIR="+pluginDir, "PATH="+path)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	r := result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	t.Logf("mohawk %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, tail(r.stdout, 20), tail(r.stderr, 10))
	return r
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"…"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// lastLine is the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestPluginsList(t *testing.T) {
	dir := install(t, "mohawk-backend-cpu", "mohawk-mixer-linear-attention")
	// A folder of $PATH with a second CPU backend, which the first
	// shadows, and one that cannot start.
	path := install(t, "mohawk-backend-cpu", "mohawk-backend-oldapi")
	r := mohawk(t, dir, path, "plugins", "list")
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0", r.code)
	}
	// The columns start where their headers do (tabwriter pads with
	// spaces); rows by path.
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	header := lines[0]
	columns := []string{"KIND", "NAME", "VERSION", "API", "CAPABILITIES", "SOURCE", "PATH", "STATUS"}
	var starts []int
	for _, c := range columns {
		i := strings.Index(header, c)
		if i < 0 {
			t.Fatalf("no column %s in the header %q", c, header)
		}
		starts = append(starts, i)
	}
	rows := map[string]map[string]string{}
	for _, line := range lines[1:] {
		row := map[string]string{}
		for i, c := range columns {
			end := len(line)
			if i+1 < len(starts) {
				end = min(starts[i+1], len(line))
			}
			row[c] = strings.TrimSpace(line[min(starts[i], len(line)):end])
		}
		key := row["PATH"]
		if row["SOURCE"] == "built-in" { // all served by the one mohawk executable
			key = "built-in " + row["KIND"] + " " + row["NAME"]
		}
		rows[key] = row
	}
	check := func(path string, want map[string]string) {
		t.Helper()
		row, ok := rows[path]
		if !ok {
			t.Errorf("no row for %s", path)
			return
		}
		for c, w := range want {
			if !strings.Contains(row[c], w) {
				t.Errorf("row of %s: %s is %q, want it to hold %q", path, c, row[c], w)
			}
		}
	}
	cpu := map[string]string{"KIND": "backend", "NAME": "cpu", "VERSION": "0.1.0", "API": "1", "CAPABILITIES": "dtypes f32,f64,i32"}
	check(filepath.Join(dir, "mohawk-backend-cpu"), cpu)
	check(filepath.Join(dir, "mohawk-backend-cpu"), map[string]string{"SOURCE": "user-dir", "STATUS": "ok"})
	check(filepath.Join(dir, "mohawk-mixer-linear-attention"), map[string]string{"KIND": "mixer", "NAME": "linear-attention", "VERSION": "0.1.0",
		"API": "1", "CAPABILITIES": "forward,mixing_matrix,step,init_from_teacher", "SOURCE": "user-dir", "STATUS": "ok"})
	check(filepath.Join(path, "mohawk-backend-cpu"), cpu)
	check(filepath.Join(path, "mohawk-backend-cpu"), map[string]string{"SOURCE": "PATH", "STATUS": "shadowed by " + filepath.Join(dir, "mohawk-backend-cpu")})
	check(filepath.Join(path, "mohawk-backend-oldapi"), map[string]string{"KIND": "backend", "NAME": "oldapi", "VERSION": "0.1.0", "API": "99",
		"CAPABILITIES": "-", "SOURCE": "PATH", "STATUS": `error: plugin "mohawk-backend-oldapi"`})
	check(filepath.Join(path, "mohawk-backend-oldapi"), map[string]string{"STATUS": "implements backend API version 99"})
	// The built-ins, served by mohawk itself; the cpu backend found in the
	// plugin folder is the one a pipeline would use.
	check("built-in backend cpu", map[string]string{"VERSION": "0.1.0", "API": "1", "CAPABILITIES": "dtypes f32,f64,i32",
		"PATH": filepath.Join(bin, "mohawk"), "STATUS": "shadowed by " + filepath.Join(dir, "mohawk-backend-cpu")})
	for _, m := range []string{"attention", "hybrid", "mamba2"} {
		check("built-in mixer "+m, map[string]string{"VERSION": "0.1.0", "API": "1", "CAPABILITIES": "forward,mixing_matrix,step", "STATUS": "ok"})
	}
	if len(rows) != 8 {
		t.Errorf("%d rows, want 8:\n%s", len(rows), r.stdout)
	}

	// Nothing found: the built-ins alone.
	r = mohawk(t, t.TempDir(), "", "plugins", "list")
	if r.code != 0 || strings.Count(r.stdout, "built-in") != 4 || strings.Count(r.stdout, " ok\n") != 4 {
		t.Errorf("list with no plugin executables: exit %d, %q", r.code, r.stdout)
	}
}

var passLine = regexp.MustCompile(`^PASS: (\S+) passes the (backend|mixer) conformance suite \((\d+) checks`)

func TestPluginsCheck(t *testing.T) {
	dir := install(t, "mohawk-backend-cpu", "mohawk-mixer-linear-attention")
	for _, c := range []struct {
		plugin, kind string
		minChecks    int
	}{
		{"mohawk-backend-cpu", "backend", 1000},
		{"mohawk-mixer-linear-attention", "mixer", 6},
	} {
		t.Run(c.plugin, func(t *testing.T) {
			start := time.Now()
			r := mohawk(t, dir, "", "plugins", "check", filepath.Join(dir, c.plugin))
			t.Logf("took %s", time.Since(start))
			if r.code != 0 {
				t.Errorf("exit status %d, want 0", r.code)
			}
			m := passLine.FindStringSubmatch(lastLine(r.stdout))
			if m == nil || m[1] != c.plugin || m[2] != c.kind {
				t.Fatalf("last line %q, want PASS: %s passes the %s conformance suite (N checks…)", lastLine(r.stdout), c.plugin, c.kind)
			}
			n, _ := strconv.Atoi(m[3])
			oks := strings.Count(r.stdout, "\nok    ") - 1 // the handshake
			if c.kind == "mixer" {
				oks-- // the configuration
			}
			if n < c.minChecks || n != oks {
				t.Errorf("%d checks counted, %d printed as ok; want at least %d", n, oks, c.minChecks)
			}
			if !strings.Contains(r.stdout, "\nok    handshake: ") {
				t.Error("no handshake line")
			}
		})
	}
	// The kind comes from -kind when the file name does not say it, and
	// flags may follow the path.
	odd := filepath.Join(dir, "linear")
	if err := os.Link(filepath.Join(dir, "mohawk-mixer-linear-attention"), odd); err != nil {
		t.Fatal(err)
	}
	r := mohawk(t, dir, "", "plugins", "check", odd)
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL: linear: cannot tell the kind of plugin") || !strings.Contains(r.stdout, "-kind") {
		t.Errorf("check of a file not named like a plugin: exit %d, %q", r.code, r.stdout)
	}
	r = mohawk(t, dir, "", "plugins", "check", odd, "-kind", "mixer", "-config", "heads = 2\neps = 1e-5")
	if r.code != 0 || !passLine.MatchString(lastLine(r.stdout)) || !strings.Contains(r.stdout, "ok    configuration: eps = 1e-05, heads = 2") {
		t.Errorf("check -kind mixer -config: exit %d, %q", r.code, r.stdout)
	}
}

func TestPluginsCheckFails(t *testing.T) {
	dir := install(t, "mohawk-mixer-crash", "mohawk-backend-oldapi", "mohawk-mixer-linear-attention", "mohawk-backend-cpu")
	for _, c := range []struct {
		name string
		args []string
		want []string // in the FAIL line
	}{
		{"mixer that crashes", []string{"mohawk-mixer-crash"}, []string{
			"FAIL: mohawk-mixer-crash fails the mixer conformance suite: 1 of 2 checks failed; the first: default: Forward: ",
			`plugin "mohawk-mixer-crash"`, "exited during Forward: exit status 3", "mixercrash: exiting with status 3 inside Forward"}},
		{"backend of another API version", []string{"mohawk-backend-oldapi"}, []string{
			"FAIL: mohawk-backend-oldapi fails the backend handshake: ", "implements backend API version 99, but this mohawk speaks backend API version 1"}},
		{"mixer configured wrong", []string{"mohawk-mixer-linear-attention", "-config", "head = 2"}, []string{
			"FAIL: mohawk-mixer-linear-attention: no configuration for the conformance case: -config does not fit the mixer's schema"}},
		{"mixer configured for other dims", []string{"mohawk-mixer-linear-attention", "-config", "heads = 3"}, []string{
			"FAIL: mohawk-mixer-linear-attention fails the mixer conformance suite: ", "Params: heads: 3 heads must divide d_model 8"}},
		{"backend checked as a mixer", []string{"mohawk-backend-cpu", "-kind", "mixer"}, []string{
			"FAIL: mohawk-backend-cpu fails the mixer handshake: ", "it is not a mixer plugin"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"plugins", "check", filepath.Join(dir, c.args[0])}, c.args[1:]...)
			r := mohawk(t, dir, "", args...)
			if r.code != 1 {
				t.Errorf("exit status %d, want 1", r.code)
			}
			var fail string
			for _, line := range strings.Split(r.stdout, "\n") {
				if strings.HasPrefix(line, "FAIL: ") {
					fail = line
				}
			}
			for _, w := range c.want {
				if !strings.Contains(fail, w) {
					t.Errorf("the FAIL line does not hold %q: %q", w, fail)
				}
			}
		})
	}
	// The diagnostic shows the offending line.
	r := mohawk(t, dir, "", "plugins", "check", "-config", "head = 2", filepath.Join(dir, "mohawk-mixer-linear-attention"))
	if !strings.Contains(r.stdout, `An argument named "head" is not expected here. Did you mean "heads"?`) || !strings.Contains(r.stdout, "1: head = 2") {
		t.Errorf("no diagnostic for -config 'head = 2':\n%s", r.stdout)
	}
}

// TestCheckLeavesNoPlugin stops check with SIGTERM in the middle of the
// backend suite (the CLI and the kit's child process then run plugin
// processes) and checks that no process of the plugin's executable is left.
func TestCheckLeavesNoPlugin(t *testing.T) {
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Skip("needs /proc")
	}
	dir := install(t, "mohawk-backend-cpu")
	plugin := filepath.Join(dir, "mohawk-backend-cpu")
	cmd := exec.Command(filepath.Join(bin, "mohawk"), "plugins", "check", "-large", plugin)
	cmd.Env = append(os.Environ(), "MOHAWK_PLUGIN_DIR="+dir, "PATH="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Wait until the suite runs: a plugin process started by the kit's
	// child process, not by the CLI itself (its handshake check).
	deadline := time.Now().Add(20 * time.Second)
	for {
		kit := false
		for _, pid := range processesOf(plugin) {
			kit = kit || parentOf(pid) != cmd.Process.Pid
		}
		if kit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no plugin process of the kit seen within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Errorf("check after SIGTERM: %v, want exit status 143", err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		left := processesOf(plugin)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("plugin processes %v still run 5 s after the CLI exited", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesOf lists the running processes (zombies excluded) of the
// executable path.
func processesOf(path string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != path {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// parentOf is the parent process of pid, 0 when unknown.
func parentOf(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:])) // state, ppid, ...
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func TestBench(t *testing.T) {
	r := mohawk(t, t.TempDir(), "", "bench", "-steps", "1", "-batch", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "tokens/s") || !strings.Contains(r.stdout, "phi (discrete mamba-2)") {
		t.Errorf("bench: exit %d, %q", r.code, r.stdout)
	}
}

func TestUsage(t *testing.T) {
	if r := mohawk(t, t.TempDir(), "", "nonsense"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "nonsense"`) {
		t.Errorf("an unknown command: exit %d, %q", r.code, r.stderr)
	}
	if r := mohawk(t, t.TempDir(), "", "plugins", "check"); r.code != 2 || !strings.Contains(r.stderr, "want one plugin path") {
		t.Errorf("check without a path: exit %d, %q", r.code, r.stderr)
	}
}

// TestParseKit reads a kit's -test.v output as testing writes it.
func TestParseKit(t *testing.T) {
	out := `=== RUN   conformance
    suite.go:9: backend x: dtypes [f32]
=== RUN   conformance/a
=== RUN   conformance/a/x
    k.go:15: hello
        second line
=== RUN   conformance/a/y
    k.go:16: bad thing
=== NAME  conformance/a
    k.go:17: parent after
=== RUN   conformance/b
    k.go:18: b failed by itself
=== RUN   conformance/s
    k.go:19: not supported
--- FAIL: conformance (0.01s)
    --- FAIL: conformance/a (0.00s)
        --- PASS: conformance/a/x (0.00s)
        --- FAIL: conformance/a/y (0.00s)
    --- FAIL: conformance/b (0.00s)
    --- SKIP: conformance/s (0.00s)
FAIL
`
	res, err := parseKit(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	res.exit = 1
	if res.passedN != 1 || res.failedN != 2 || res.skippedN != 1 {
		t.Errorf("passed %d, failed %d, skipped %d; want 1, 2, 1", res.passedN, res.failedN, res.skippedN)
	}
	if res.firstFailure != "a/y: bad thing" {
		t.Errorf("first failure %q", res.firstFailure)
	}
	var b strings.Builder
	res.print(&b)
	want := `ok    a/x
FAIL  a/y
        k.go:16: bad thing
FAIL  b
        k.go:18: b failed by itself
skip  s: not supported
`
	if b.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", b.String(), want)
	}
	if v := res.verdict("mohawk-backend-x", "backend"); v != "FAIL: mohawk-backend-x fails the backend conformance suite: 2 of 4 checks failed; the first: a/y: bad thing" {
		t.Errorf("verdict %q", v)
	}
}

func TestMixerConfig(t *testing.T) {
	s := mixer.Schema{Attributes: []mixer.Attribute{
		{Name: "state", Type: cty.Number, Required: true},
		{Name: "eps", Type: cty.Number, Default: cty.NumberFloatVal(1e-6)},
	}}
	if _, err := mixerConfig(s, ""); err == nil || !strings.Contains(err.Error(), `requires "state", which has no default`) || !strings.Contains(err.Error(), "-config 'state = …'") {
		t.Errorf("defaults of a schema with a required attribute: %v", err)
	}
	v, err := mixerConfig(s, "state = 16")
	if err != nil {
		t.Fatal(err)
	}
	if got := describeConfig(v); got != "eps = 1e-06, state = 16" {
		t.Errorf("config %s", got)
	}
	if _, err := mixerConfig(s, "state = "); err == nil || !strings.Contains(err.Error(), "on -config line 1") {
		t.Errorf("config with a syntax error: %v", err)
	}
}
