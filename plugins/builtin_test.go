//go:build unix

// Tests of the arguments and environment Launch passes: how built-in
// plugins (served by the mohawk executable with "plugin serve KIND NAME")
// and thread counts reach a plugin process.

package plugins

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestBuiltinFound(t *testing.T) {
	fd := Builtin(KindMixer, "mamba2", "/opt/mohawk/bin/mohawk")
	if fd.Path != "/opt/mohawk/bin/mohawk" || fd.Source != SourceBuiltin || fd.Program() != "mohawk-mixer-mamba2" {
		t.Errorf("Builtin = %+v", fd)
	}
	want := []string{"plugin", "serve", "mixer", "mamba2"}
	if len(fd.Args) != len(want) {
		t.Fatalf("Args = %q, want %q", fd.Args, want)
	}
	for i := range want {
		if fd.Args[i] != want[i] {
			t.Errorf("Args = %q, want %q", fd.Args, want)
		}
	}
}

// A plugin started through a shell with arguments and an added variable:
// the shell runs the CPU backend named by the variable, so the handshake
// succeeds only if both reached the process.
func TestLaunchArgsAndEnv(t *testing.T) {
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		t.Skip("no /bin/sh")
	}
	fd := Found{Kind: KindBackend, Name: "cpu", Path: sh, Source: SourceBuiltin,
		Args: []string{"-c", `exec "$MOHAWK_TEST_PLUGIN"`}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := Launch(ctx, fd, Options{Env: []string{"MOHAWK_TEST_PLUGIN=" + binPath("mohawk-backend-cpu"), "GOMAXPROCS=1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if info := p.Info(); info.Name != "cpu" {
		t.Errorf("Info() = %+v", info)
	}
	env, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/environ")
	if err == nil && !containsBytes(env, "GOMAXPROCS=1") {
		t.Errorf("the plugin's environment lacks GOMAXPROCS=1")
	}
}

func containsBytes(env []byte, kv string) bool {
	start := 0
	for i, c := range env {
		if c == 0 {
			if string(env[start:i]) == kv {
				return true
			}
			start = i + 1
		}
	}
	return false
}
