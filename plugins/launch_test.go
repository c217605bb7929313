//go:build unix

// Tests of launch and verification with real plugin processes: the CPU
// backend through the plugin, sha256 pins, API version refusal and broken
// handshakes.

package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

func launch(t *testing.T, fd Found, logs *logBuffer) *Plugin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts := Options{}
	if logs != nil {
		opts.Logger = testLogger(logs)
	}
	p, err := Launch(ctx, fd, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestLaunchCPU(t *testing.T) {
	fd := found(t, "cpu")
	sum, err := FileSHA256(fd.Path)
	if err != nil {
		t.Fatal(err)
	}
	fd.SHA256 = strings.ToUpper(sum) // pins are hex, in either case
	var logs logBuffer
	p := launch(t, fd, &logs)

	if info := p.Info(); info.Kind != KindBackend || info.Name != "cpu" || info.APIVersion != backend.APIVersion {
		t.Errorf("Info() = %+v", info)
	}
	if bi := p.BackendInfo(); bi == nil || len(bi.Devices) == 0 {
		t.Errorf("BackendInfo() = %+v, want the CPU device", bi)
	}
	if p.Pid() <= 0 || processGone(p.Pid()) {
		t.Fatalf("plugin pid %d is not running", p.Pid())
	}
	if p.Name() != "cpu" || p.Program() != "mohawk-backend-cpu" || p.Path() != fd.Path {
		t.Errorf("Name, Program, Path = %q, %q, %q", p.Name(), p.Program(), p.Path())
	}

	// y = x*w + 1, w resident in the plugin.
	ctx := context.Background()
	b := p.Backend()
	if err := b.SetTensor(ctx, "w", graph.FromF32([]float32{1, 2, 3, 4}, 4)); err != nil {
		t.Fatal(err)
	}
	gb := graph.NewBuilder()
	x := gb.Input("x", graph.F32, 4)
	w := gb.Param("w", graph.F32, 4)
	gb.Output("y", gb.AddScalar(gb.Mul(x, w), 1))
	g, err := gb.Build()
	if err != nil {
		t.Fatal(err)
	}
	id, err := b.Compile(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.Run(ctx, id, map[string]*graph.Tensor{"x": graph.FromF32([]float32{10, 20, 30, 40}, 4)})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{11, 41, 91, 161}
	y := out["y"]
	if y == nil || len(y.F32) != len(want) {
		t.Fatalf("Run returned %v, want y = %v", out, want)
	}
	for i := range want {
		if y.F32[i] != want[i] {
			t.Fatalf("y = %v, want %v", y.F32, want)
		}
	}
	back, err := b.Tensor(ctx, "w")
	if err != nil || len(back.F32) != 4 || back.F32[3] != 4 {
		t.Errorf("Tensor(w) = %v, %v", back, err)
	}
	// An error of the backend passes through as it is, at once.
	start := time.Now()
	if _, err := b.Run(ctx, 999, nil); err == nil {
		t.Error("Run of a program never compiled succeeded")
	} else if errors.As(err, new(*ExitError)) || time.Since(start) > time.Second {
		t.Errorf("Run of a program never compiled: %v after %s, want the backend's own error at once", err, time.Since(start))
	}
	if err := b.Release(ctx, id); err != nil {
		t.Error(err)
	}

	pid := p.Pid()
	p.Close()
	p.Close() // idempotent
	waitGone(t, pid, 5*time.Second)
	if _, err := b.Info(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Info after Close: %v, want ErrClosed", err)
	}
	if ev := logs.find(t, "plugin died"); ev != nil {
		t.Errorf("a plugin stopped by Close was logged as exiting: %v", ev)
	}
}

// script writes a shell script that would create marker if it ran.
func script(t *testing.T, dir, marker string) string {
	t.Helper()
	p := filepath.Join(dir, "mohawk-backend-script")
	body := "#!/bin/sh\ntouch '" + marker + "'\necho 'not a plugin' >&2\nexit 4\n"
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPinMismatchNeverExecutes(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	path := script(t, dir, marker)
	sum, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	other := sha256.Sum256([]byte("another file"))
	pin := hex.EncodeToString(other[:])

	fd := Found{Kind: KindBackend, Name: "script", Path: path, Source: SourceExplicit, SHA256: pin}
	_, err = Launch(context.Background(), fd, Options{})
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("Launch with a wrong pin: %v, want a *ChecksumError", err)
	}
	for _, s := range []string{pin, sum, path} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the checksum error does not mention %s: %v", s, err)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the file failing its pin was executed")
	}
	// The script does run when executed: the check above means something.
	if err := exec.Command(path).Run(); err == nil {
		t.Fatal("the script exited 0")
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the script did not create its marker: %v", err)
	}

	if err := Verify(path, "1234"); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("Verify with a short pin: %v, want an error about its form", err)
	}
	if err := Verify(path, sum); err != nil {
		t.Errorf("Verify with the right pin: %v", err)
	}
}

// TestSecureConfig checks the pin handed to go-plugin, which checks the file
// again as it starts it.
func TestSecureConfig(t *testing.T) {
	path := binPath("mohawk-backend-cpu")
	sum, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := secureConfig(sum)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := sc.Check(path); !ok || err != nil {
		t.Errorf("go-plugin's check of the right pin: %v, %v", ok, err)
	}
	sc, _ = secureConfig(strings.Repeat("0", 64))
	if ok, _ := sc.Check(path); ok {
		t.Error("go-plugin's check of a wrong pin passed")
	}
}

func TestNotAPlugin(t *testing.T) {
	dir := t.TempDir()
	path := script(t, dir, filepath.Join(dir, "ran"))
	fd := Found{Kind: KindBackend, Name: "script", Path: path, Source: SourceExplicit}
	start := time.Now()
	_, err := Launch(context.Background(), fd, Options{})
	if err == nil {
		t.Fatal("a shell script launched as a plugin")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the launch took %s to fail", time.Since(start))
	}
	for _, s := range []string{`"mohawk-backend-script"`, path, "exit status 4", "not a plugin"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not mention %q: %v", s, err)
		}
	}
}

func TestAPIVersionRefused(t *testing.T) {
	_, err := Launch(context.Background(), found(t, "oldapi"), Options{})
	var ve *APIVersionError
	if !errors.As(err, &ve) {
		t.Fatalf("Launch of a plugin of API version 99: %v, want an *APIVersionError", err)
	}
	for _, s := range []string{`"mohawk-backend-oldapi"`, "API version 99", "API version 1"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not mention %q: %v", s, err)
		}
	}
}

func TestStdoutBeforeServe(t *testing.T) {
	start := time.Now()
	_, err := Launch(context.Background(), found(t, "stdout"), Options{}) // the default 30 s start timeout
	if err == nil {
		t.Fatal("a plugin that writes to stdout before Serve launched")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the launch took %s to fail", d)
	}
	var se *StartError
	if !errors.As(err, &se) {
		t.Errorf("error %T, want a *StartError", err)
	}
	for _, s := range []string{`"mohawk-backend-stdout"`, "stdout: hello before Serve", "nothing to stdout before it calls Serve"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not mention %q: %v", s, err)
		}
	}
}

func TestLaunchRefusals(t *testing.T) {
	// A backend launched as a mixer fails the handshake (the kinds' magic
	// cookies differ), and the error says so.
	fd := Found{Kind: KindMixer, Name: "mamba2", Path: binPath("mohawk-backend-cpu")}
	_, err := Launch(context.Background(), fd, Options{})
	var se *StartError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), `plugin "mohawk-mixer-mamba2"`) ||
		!strings.Contains(err.Error(), "refused the mixer handshake: it is not a mixer plugin") {
		t.Errorf("Launch of a backend as a mixer: %v", err)
	}
	if _, err := Launch(context.Background(), Found{Kind: KindBackend}, Options{}); err == nil {
		t.Error("Launch of an empty Found succeeded")
	}
}
