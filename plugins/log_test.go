//go:build unix

// Tests of the logging of plugin output and of the hclog adapter.

package plugins

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

func TestPluginOutput(t *testing.T) {
	var logs logBuffer
	o := newOutput(testLogger(&logs).With().Str("plugin", "mohawk-backend-x").Logger())
	w := o.writer("stderr")
	fmt.Fprint(w, "plain line\n[WARN] careful\r\n")
	fmt.Fprint(w, `{"@level":"debug","@message":"go-plugin chatter","@module":"backend","address":"/tmp/s"}`+"\n")
	fmt.Fprint(w, "partial ")
	fmt.Fprint(w, "line\n")
	fmt.Fprint(w, "panic: boom\n\ngoroutine 1 [running]:\n")
	for i := range 20 {
		fmt.Fprintf(w, "main.f%d()\n", i)
	}
	fmt.Fprint(w, "no newline at the end")
	w.Flush()

	type want struct{ level, msg string }
	wants := []want{
		{"info", "plain line"}, {"warn", "careful"}, {"debug", "go-plugin chatter"},
		{"info", "partial line"}, {"error", "panic: boom"}, {"error", "goroutine 1 [running]:"},
		{"error", "no newline at the end"},
	}
	evs := logs.events(t)
	for _, w := range wants {
		ok := false
		for _, ev := range evs {
			if ev["message"] == w.msg {
				ok = true
				if ev["level"] != w.level || ev["plugin"] != "mohawk-backend-x" || ev["stream"] != "stderr" {
					t.Errorf("%q logged as %v, want level %s", w.msg, ev, w.level)
				}
			}
		}
		if !ok {
			t.Errorf("%q not logged:\n%s", w.msg, logs.String())
		}
	}
	for _, ev := range evs {
		if ev["message"] == "go-plugin chatter" && (ev["module"] != "backend" || ev["address"] != "/tmp/s") {
			t.Errorf("the fields of a JSON line were not kept: %v", ev)
		}
		if ev["message"] == "" {
			t.Errorf("an empty line was logged: %v", ev)
		}
	}

	lines := o.stderr()
	if len(lines) != stderrKeepLines+2 || lines[0] != "panic: boom" || lines[len(lines)-1] != "no newline at the end" {
		t.Errorf("kept stderr = %q, want the panic line and the last %d lines", lines, stderrKeepLines)
	}
	for _, l := range lines {
		if strings.Contains(l, "chatter") {
			t.Errorf("debug chatter kept for errors: %q", lines)
		}
	}
}

func TestHclogAdapter(t *testing.T) {
	var logs logBuffer
	z := testLogger(&logs).Level(zerolog.DebugLevel).With().Str("plugin", "mohawk-backend-x").Logger()
	var h hclog.Logger = newHclogger(z, "mohawk-backend-x")

	h.With("a", 1).Named("stdio").Warn("warned", "plugin", "/path/of/it", "error", errors.New("bad"), "odd")
	h.Named("mohawk-backend-x").Info("a stderr line go-plugin re-logs")
	h.Trace("below the level")
	h.Info("plugin process exited", "error", "exit status 1")

	if h.IsTrace() || !h.IsDebug() || h.GetLevel() != hclog.Debug {
		t.Errorf("levels: IsTrace %v, IsDebug %v, GetLevel %v; want the zerolog logger's (debug)", h.IsTrace(), h.IsDebug(), h.GetLevel())
	}
	if h.Named("mohawk-backend-x").GetLevel() != hclog.Off {
		t.Error("the sub-logger of go-plugin's stderr copy is not off")
	}
	if l := newHclogger(zerolog.Logger{}, "x"); l.GetLevel() != hclog.Off || l.IsError() {
		t.Error("an hclogger on the zero zerolog.Logger is not off")
	}
	evs := logs.events(t)
	if len(evs) != 2 {
		t.Fatalf("logged %d events, want 2:\n%s", len(evs), logs.String())
	}
	ev := evs[0]
	for k, v := range map[string]any{"level": "warn", "message": "warned", "plugin": "mohawk-backend-x", "logger": "stdio",
		"a": 1.0, "arg_plugin": "/path/of/it", "error": "bad", "EXTRA_VALUE_AT_END": "odd"} {
		if ev[k] != v {
			t.Errorf("event[%q] = %v, want %v (event %v)", k, ev[k], v, ev)
		}
	}
	if evs[1]["message"] != "plugin process exited" || evs[1]["level"] != "debug" {
		t.Errorf("go-plugin's exit message logged as %v, want at debug", evs[1])
	}
}
