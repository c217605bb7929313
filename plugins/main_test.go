//go:build unix

// Shared set-up of the tests: the real CPU backend plugin, the example
// linear-attention mixer plugin, the fault plugins and the test host are
// built once, into one folder, before any test runs.

package plugins

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// bin is the folder of the executables built by TestMain.
var bin string

// built are the packages TestMain builds, by the file name they get in bin.
var built = map[string]string{
	"mohawk-backend-cpu":    "../backends/cpu/cmd/mohawk-backend-cpu",
	"mohawk-backend-crash":  "./internal/faultplugins/crash",
	"mohawk-backend-stdout": "./internal/faultplugins/stdout",
	"mohawk-backend-oldapi": "./internal/faultplugins/oldapi",
	"mohawk-backend-hang":   "./internal/faultplugins/hang",
	"testhost":              "./internal/testhost",

	"mohawk-mixer-linear-attention": "../examples/mixer-linear-attention",
	"mohawk-mixer-crash":            "./internal/faultplugins/mixercrash",
	"mohawk-mixer-oldapi":           "./internal/faultplugins/mixeroldapi",
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "plugins-test-")
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

// build builds every package of built into dir with one go build (each lands
// under its folder's name) and renames them.
func build(dir string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the tests build real plugins and need the go command: %w", err)
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, pkg := range built {
		args = append(args, pkg)
	}
	cmd := exec.Command(gobin, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for name, pkg := range built {
		if filepath.Base(pkg) == name {
			continue
		}
		if err := os.Rename(filepath.Join(dir, filepath.Base(pkg)), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// binPath is the path of a built executable.
func binPath(name string) string { return filepath.Join(bin, name) }

// found is a built backend plugin, as Find returns it.
func found(t *testing.T, name string) Found {
	t.Helper()
	return foundKind(t, KindBackend, name)
}

// foundKind is a built plugin of kind k, as Find returns it.
func foundKind(t *testing.T, k Kind, name string) Found {
	t.Helper()
	f := &Finder{Locations: []Location{{SourcePath, bin}}}
	fd, err := f.Find(k, name)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// logBuffer is a zerolog output that tests read back as JSON events.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) events(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var evs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		evs = append(evs, ev)
	}
	return evs
}

// find returns the first event whose message is msg.
func (b *logBuffer) find(t *testing.T, msg string) map[string]any {
	for _, ev := range b.events(t) {
		if ev["message"] == msg {
			return ev
		}
	}
	return nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger(b *logBuffer) zerolog.Logger {
	return zerolog.New(b).Level(zerolog.TraceLevel)
}

// processGone reports whether process pid no longer runs: it does not
// exist, or it is a zombie waiting to be reaped (a killed host's plugin is
// reparented to a process that may not reap it).
func processGone(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if _, statErr := os.Stat("/proc/self/stat"); statErr != nil {
			// No /proc: ask the kernel.
			return syscall.Kill(pid, 0) == syscall.ESRCH
		}
		return true
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	state := data[i+2]
	return state == 'Z' || state == 'X'
}

// waitGone waits up to d for process pid to be gone.
func waitGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still runs %s later", pid, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
