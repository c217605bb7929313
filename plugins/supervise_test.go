//go:build unix

// Tests of supervision with real plugin processes: a plugin that dies in the
// middle of a call gives its caller one clear error within seconds, never a
// hang; its stderr reaches the host's log under its name.

package plugins

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCrashDuringRun(t *testing.T) {
	var logs logBuffer
	p := launch(t, found(t, "crash"), &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	start := time.Now()
	_, err := p.Backend().Run(ctx, 1, nil)
	took := time.Since(start)
	if err == nil {
		t.Fatal("Run of the crashing plugin succeeded")
	}
	if took > 5*time.Second {
		t.Errorf("the error came %s after the call, want within 5 s", took)
	}
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %T %v, want an *ExitError", err, err)
	}
	if ee.Call != "Run" || ee.Before || ee.State != "exit status 3" {
		t.Errorf("ExitError = %+v", ee)
	}
	for _, s := range []string{`plugin "mohawk-backend-crash"`, p.Path(), "exited during Run: exit status 3", "last stderr:", "crash: exiting with status 3 inside Run"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not mention %q: %v", s, err)
		}
	}
	t.Log(err)

	select {
	case <-p.Exited():
	default:
		t.Error("Exited is not closed after the process exited")
	}
	// A later call fails at once, saying the plugin was gone before it.
	start = time.Now()
	_, err = p.Backend().Info(ctx)
	if !errors.As(err, &ee) || !ee.Before || ee.Call != "Info" || time.Since(start) > 100*time.Millisecond {
		t.Errorf("Info after the crash: %v after %s, want an ExitError at once", err, time.Since(start))
	}
	if !strings.Contains(err.Error(), "exited before Info: exit status 3") {
		t.Errorf("Info after the crash: %v", err)
	}
	if ev := logs.find(t, "plugin died"); ev == nil || ev["plugin"] != "mohawk-backend-crash" || ev["level"] != "error" {
		t.Errorf("the death was not logged as an error of the plugin: %v", ev)
	}
}

func TestKillDuringRun(t *testing.T) {
	p := launch(t, found(t, "hang"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		_, err := p.Backend().Run(ctx, 1, nil)
		done <- result{err, time.Now()}
	}()
	select {
	case r := <-done:
		t.Fatalf("Run of the hanging plugin returned: %v", r.err)
	case <-time.After(500 * time.Millisecond):
	}
	killed := time.Now()
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run still hangs 10 s after the plugin was killed")
	}
	if d := r.at.Sub(killed); d > 5*time.Second {
		t.Errorf("the error came %s after the kill, want within 5 s", d)
	}
	var ee *ExitError
	if !errors.As(r.err, &ee) {
		t.Fatalf("error %T %v, want an *ExitError", r.err, r.err)
	}
	for _, s := range []string{`plugin "mohawk-backend-hang"`, "exited during Run", "signal: killed"} {
		if !strings.Contains(r.err.Error(), s) {
			t.Errorf("the error does not mention %q: %v", s, r.err)
		}
	}
	t.Log(r.err)
}

// TestCloseDuringRun: Close ends a call in flight with ErrClosed.
func TestCloseDuringRun(t *testing.T) {
	p := launch(t, found(t, "hang"), nil)
	done := make(chan error, 1)
	go func() {
		_, err := p.Backend().Run(context.Background(), 1, nil)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	p.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Run in flight during Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still hangs 5 s after Close")
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Close took %s", d)
	}
}

// TestCallerCancels: the caller's own deadline ends a call into a live
// plugin with the caller's error, and leaves the plugin running.
func TestCallerCancels(t *testing.T) {
	p := launch(t, found(t, "hang"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Backend().Run(ctx, 1, nil)
	if err == nil || errors.As(err, new(*ExitError)) || time.Since(start) > 3*time.Second {
		t.Fatalf("Run with a 300 ms deadline: %v after %s", err, time.Since(start))
	}
	if _, err := p.Backend().Info(context.Background()); err != nil {
		t.Errorf("Info after a cancelled Run: %v", err)
	}
}

func TestStderrInLog(t *testing.T) {
	var logs logBuffer
	p := launch(t, found(t, "hang"), &logs)
	want := map[string]bool{
		"hang: ready":       false, // written to the process's stderr before Serve
		"hang: Info called": false, // written to os.Stderr, which Serve forwards
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, ev := range logs.events(t) {
			msg, _ := ev["message"].(string)
			if _, ok := want[msg]; !ok {
				continue
			}
			if ev["plugin"] != "mohawk-backend-hang" || ev["stream"] != "stderr" || ev["level"] != "info" {
				t.Errorf("stderr line logged as %v, want plugin mohawk-backend-hang, stream stderr, level info", ev)
			}
			want[msg] = true
		}
		if want["hang: ready"] && want["hang: Info called"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stderr lines missing from the log (%v):\n%s", want, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Close()
	// go-plugin's own messages carry the plugin field too, and each stderr
	// line is logged once.
	count := 0
	for _, ev := range logs.events(t) {
		if ev["plugin"] != "mohawk-backend-hang" {
			t.Errorf("an event without the plugin field: %v", ev)
		}
		if ev["message"] == "hang: ready" {
			count++
		}
	}
	if count != 1 {
		t.Errorf("the line %q was logged %d times, want once", "hang: ready", count)
	}
}
