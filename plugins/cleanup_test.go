//go:build unix

// Tests that no way out of a host leaves its plugin running: a normal exit,
// an error exit, SIGTERM and SIGKILL of a real host process.

package plugins

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNoOrphans(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		signal syscall.Signal // sent to the host after the plugin started; 0 for none
		status int            // the host's exit status; -1 for killed by signal
	}{
		{"normal exit", []string{"-exit", "normal"}, 0, 0},
		{"error exit", []string{"-exit", "error"}, 0, 1},
		{"SIGTERM", []string{"-exit", "wait"}, syscall.SIGTERM, 128 + int(syscall.SIGTERM)},
		{"SIGINT", []string{"-exit", "wait"}, syscall.SIGINT, 128 + int(syscall.SIGINT)},
		// Nothing runs in the host: the plugin's own parent-death detection
		// (sdk Serve) must end it.
		{"SIGKILL, plugin detection only", []string{"-exit", "wait", "-no-pdeathsig"}, syscall.SIGKILL, -1},
		// The same with the kernel's parent-death signal as well (the default).
		{"SIGKILL", []string{"-exit", "wait"}, syscall.SIGKILL, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"-plugin", binPath("mohawk-backend-cpu")}, c.args...)
			host := exec.Command(binPath("testhost"), args...)
			var stderr strings.Builder
			host.Stderr = &stderr
			stdout, err := host.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := host.Start(); err != nil {
				t.Fatal(err)
			}
			defer host.Process.Kill()

			pid, err := readPid(stdout, 20*time.Second)
			if err != nil {
				host.Process.Kill()
				host.Wait()
				t.Fatalf("%v; host stderr:\n%s", err, stderr.String())
			}
			if c.signal != 0 {
				// The host waits for the signal with its plugin running
				// (the other hosts may have stopped theirs already).
				if processGone(pid) {
					t.Fatalf("plugin %d is not running after the host printed its pid", pid)
				}
				if err := host.Process.Signal(c.signal); err != nil {
					t.Fatal(err)
				}
			}
			go io.Copy(io.Discard, stdout)
			err = host.Wait()
			status := host.ProcessState.ExitCode()
			if status != c.status {
				t.Errorf("host exited with %v (status %d), want status %d; stderr:\n%s", err, status, c.status, stderr.String())
			}
			waitGone(t, pid, 5*time.Second)
		})
	}
}

// readPid reads the host's "pid N" line.
func readPid(r io.Reader, d time.Duration) (int, error) {
	type result struct {
		pid int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err != nil {
			ch <- result{0, fmt.Errorf("reading the plugin pid from the host: %v (read %q)", err, line)}
			return
		}
		var pid int
		if _, err := fmt.Sscanf(line, "pid %d", &pid); err != nil {
			ch <- result{0, fmt.Errorf("host printed %q, want \"pid N\"", line)}
			return
		}
		ch <- result{pid, nil}
	}()
	select {
	case r := <-ch:
		return r.pid, r.err
	case <-time.After(d):
		return 0, errors.New("the host printed no pid in time")
	}
}
