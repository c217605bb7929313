// Logging: a plugin's stderr and stdout, and go-plugin's own messages about
// it, become zerolog events carrying a "plugin" field with the plugin's
// program name; the last stderr lines are kept for the error that reports the
// plugin's death.

package plugins

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/rs/zerolog"
)

// Limits of what is kept of a plugin's stderr for error messages.
const (
	stderrKeepLines = 8
	stderrKeepBytes = 400 // per line
	maxLineBytes    = 64 << 10
)

// output receives everything a plugin writes and logs it line by line.
type output struct {
	log zerolog.Logger // carries the plugin field

	mu      sync.Mutex
	last    []string // ring of the last stderrKeepLines stderr lines
	next    int
	panicAt string // first "panic:" or "fatal error:" line, if any
	inPanic map[string]bool
}

func newOutput(log zerolog.Logger) *output {
	return &output{log: log, inPanic: map[string]bool{}}
}

// writer returns an io.Writer for one stream ("stderr", "stdout") of the
// plugin. Each writer keeps its own partial line.
func (o *output) writer(stream string) *lineWriter {
	return &lineWriter{emit: func(line string) { o.line(stream, line) }}
}

// line logs one line of a stream, at the level it names (an hclog JSON line,
// or a [LEVEL] prefix), as an error from a panic on, and at info otherwise.
func (o *output) line(stream, line string) {
	level, msg, fields := parseLine(line)
	o.mu.Lock()
	if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
		o.inPanic[stream] = true
		if o.panicAt == "" {
			o.panicAt = keep(line)
		}
	}
	inPanic := o.inPanic[stream]
	if inPanic {
		level = zerolog.ErrorLevel
	}
	// Kept for errors: what the plugin said at info and above (not
	// go-plugin's debug chatter, which plugins log as JSON).
	if stream == "stderr" && level >= zerolog.InfoLevel && strings.TrimSpace(msg) != "" {
		if len(o.last) < stderrKeepLines {
			o.last = append(o.last, keep(msg))
		} else {
			o.last[o.next] = keep(msg)
			o.next = (o.next + 1) % stderrKeepLines
		}
	}
	o.mu.Unlock()

	if strings.TrimSpace(line) == "" {
		return
	}
	e := o.log.WithLevel(level)
	if e == nil {
		return
	}
	for _, f := range fields {
		e = addField(e, f.key, f.value)
	}
	e.Str("stream", stream).Msg(msg)
}

// keep shortens a line kept for an error message.
func keep(line string) string {
	if len(line) > stderrKeepBytes {
		return line[:stderrKeepBytes] + "…"
	}
	return line
}

// said reports whether line is one of the last stderr lines kept.
func (o *output) said(line string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Contains(o.last, line)
}

// stderr returns the last stderr lines, oldest first, with the first panic
// line in front when it has scrolled out.
func (o *output) stderr() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	lines := append(append([]string(nil), o.last[o.next:]...), o.last[:o.next]...)
	if o.panicAt != "" && !slices.Contains(lines, o.panicAt) {
		lines = append([]string{o.panicAt, "…"}, lines...)
	}
	return lines
}

type field struct {
	key   string
	value any
}

// parseLine reads the level and message of a line a plugin wrote.
func parseLine(line string) (zerolog.Level, string, []field) {
	if strings.HasPrefix(line, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			if msg, ok := m["@message"].(string); ok {
				level := zerolog.InfoLevel
				if s, ok := m["@level"].(string); ok {
					level = levelFromHclog(hclog.LevelFromString(s))
				}
				var fields []field
				for k, v := range m {
					switch k {
					case "@message", "@level", "@timestamp":
					case "@module":
						fields = append(fields, field{"module", v})
					default:
						fields = append(fields, field{k, v})
					}
				}
				return level, msg, fields
			}
		}
	}
	for _, p := range []struct {
		prefix string
		level  zerolog.Level
	}{
		{"[TRACE]", zerolog.TraceLevel},
		{"[DEBUG]", zerolog.DebugLevel},
		{"[INFO]", zerolog.InfoLevel},
		{"[WARN]", zerolog.WarnLevel},
		{"[ERROR]", zerolog.ErrorLevel},
	} {
		if rest, ok := strings.CutPrefix(line, p.prefix); ok {
			return p.level, strings.TrimSpace(rest), nil
		}
	}
	return zerolog.InfoLevel, line, nil
}

// lineWriter splits what is written to it into lines.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(line string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= maxLineBytes {
				w.flushLocked()
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.flushLocked()
		p = p[i+1:]
	}
	return n, nil
}

// Flush emits a last line that has no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.flushLocked()
	}
}

func (w *lineWriter) flushLocked() {
	line := strings.TrimSuffix(string(w.buf), "\r")
	w.buf = w.buf[:0]
	w.emit(line)
}

// hclogger is an hclog.Logger writing to zerolog, handed to go-plugin for its
// own messages about a plugin (starting, exited, errors); its exit message
// is logged at debug, since the Plugin reports a death as an error itself.
//
// go-plugin also re-logs each line of the plugin's stderr through
// Named(<executable file name>), at a level it guesses (untagged lines at
// debug). The host logs stderr itself, from go-plugin's raw copy
// (ClientConfig.Stderr), so that sub-logger is switched off: each line is
// logged once, untagged lines at info.
type hclogger struct {
	z       zerolog.Logger
	name    string
	implied []any
	off     bool
	stream  string // the sub-logger name go-plugin uses for stderr
}

var _ hclog.Logger = (*hclogger)(nil)

func newHclogger(z zerolog.Logger, executableFile string) *hclogger {
	return &hclogger{z: z, stream: executableFile}
}

func levelFromHclog(l hclog.Level) zerolog.Level {
	switch l {
	case hclog.Trace:
		return zerolog.TraceLevel
	case hclog.Debug:
		return zerolog.DebugLevel
	case hclog.Warn:
		return zerolog.WarnLevel
	case hclog.Error:
		return zerolog.ErrorLevel
	case hclog.Off:
		return zerolog.Disabled
	default:
		return zerolog.InfoLevel
	}
}

func (h *hclogger) Log(level hclog.Level, msg string, args ...any) {
	if h.off || level == hclog.Off {
		return
	}
	if msg == "plugin process exited" {
		// go-plugin logs every exit, an error for a kill; the Plugin logs
		// the deaths that were not asked for (Close) as errors itself.
		level = hclog.Debug
	}
	e := h.z.WithLevel(levelFromHclog(level))
	if e == nil {
		return
	}
	if h.name != "" {
		e = e.Str("logger", h.name)
	}
	e = addArgs(e, h.implied)
	e = addArgs(e, args)
	e.Msg(msg)
}

// reserved are the keys the host's own fields use; go-plugin's arguments of
// the same names ("plugin" is the executable path) are renamed arg_<key>.
func reserved(key string) bool {
	switch key {
	case "plugin", "stream", "logger", zerolog.LevelFieldName, zerolog.MessageFieldName, zerolog.TimestampFieldName:
		return true
	}
	return false
}

func addArgs(e *zerolog.Event, args []any) *zerolog.Event {
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			return addField(e, "EXTRA_VALUE_AT_END", args[i])
		}
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		e = addField(e, key, args[i+1])
	}
	return e
}

func addField(e *zerolog.Event, key string, v any) *zerolog.Event {
	if reserved(key) {
		key = "arg_" + key
	}
	switch v := v.(type) {
	case nil:
		return e.Interface(key, nil)
	case string:
		return e.Str(key, v)
	case error:
		return e.Str(key, v.Error())
	case hclog.Format:
		if len(v) > 0 {
			if f, ok := v[0].(string); ok {
				return e.Str(key, fmt.Sprintf(f, v[1:]...))
			}
		}
		return e.Str(key, fmt.Sprint(v...))
	case fmt.Stringer:
		return e.Str(key, fmt.Sprint(v))
	default:
		return e.Interface(key, v)
	}
}

func (h *hclogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

// enabled reports whether the zerolog logger writes events of level l (it
// writes none when it is the zero Logger).
func (h *hclogger) enabled(l hclog.Level) bool {
	if h.off {
		return false
	}
	e := h.z.WithLevel(levelFromHclog(l))
	if e == nil {
		return false
	}
	e.Discard()
	return true
}

func (h *hclogger) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogger) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogger) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogger) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogger) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogger) ImpliedArgs() []any { return h.implied }

func (h *hclogger) With(args ...any) hclog.Logger {
	c := *h
	c.implied = append(append([]any(nil), h.implied...), args...)
	return &c
}

func (h *hclogger) Name() string { return h.name }

func (h *hclogger) Named(name string) hclog.Logger {
	c := *h
	if h.name == "" && name == h.stream {
		c.off = true
	}
	if h.name != "" {
		name = h.name + "." + name
	}
	c.name = name
	return &c
}

func (h *hclogger) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel does nothing: the level is the zerolog logger's.
func (h *hclogger) SetLevel(hclog.Level) {}

func (h *hclogger) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (h *hclogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hclogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	infer := opts != nil && opts.InferLevels
	return &lineWriter{emit: func(line string) {
		l, msg := level, line
		if infer {
			zl, m, _ := parseLine(line)
			msg = m
			switch zl {
			case zerolog.TraceLevel:
				l = hclog.Trace
			case zerolog.DebugLevel:
				l = hclog.Debug
			case zerolog.WarnLevel:
				l = hclog.Warn
			case zerolog.ErrorLevel:
				l = hclog.Error
			}
		}
		h.Log(l, msg)
	}}
}
