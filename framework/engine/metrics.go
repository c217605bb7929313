// Metrics and progress: one JSON line per optimizer step and per evaluation
// in <out>/metrics.jsonl, and either a progress bar (a terminal) or
// structured log lines (anything else) while a stage runs.

package engine

import (
	"encoding/json"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/schollz/progressbar/v3"
)

// stepMetrics is one metrics line of a training step.
type stepMetrics struct {
	Time       string             `json:"time"`
	Stage      string             `json:"stage"`
	Kind       string             `json:"kind"`
	Step       int                `json:"step"`
	Tokens     int64              `json:"tokens"`
	Loss       float64            `json:"loss"`
	LR         float64            `json:"lr"`
	GradNorm   float64            `json:"grad_norm"`
	TokensPerS float64            `json:"tokens_per_s"`
	LayerLoss  map[string]float64 `json:"layer_loss,omitempty"`
}

// evalMetrics is one metrics line of an evaluation.
type evalMetrics struct {
	Time   string             `json:"time"`
	Stage  string             `json:"stage"`
	Kind   string             `json:"kind"`
	Model  string             `json:"model"`
	Step   int                `json:"step"`
	Tokens int64              `json:"tokens"`
	Eval   map[string]float64 `json:"eval"`
}

// metricsFile appends JSON lines to metrics.jsonl.
type metricsFile struct {
	f *os.File
}

// openMetrics opens path for appending, first cutting it to keep bytes (the
// length it had at the checkpoint a run resumes from); keep < 0 empties it.
func openMetrics(path string, keep int64) (*metricsFile, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if keep < 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, err
	}
	if keep >= 0 {
		if err := f.Truncate(keep); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &metricsFile{f: f}, nil
}

func (m *metricsFile) write(v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = m.f.Write(append(raw, '\n'))
	return err
}

// sync flushes the file and returns its length, for a checkpoint.
func (m *metricsFile) sync() (int64, error) {
	if err := m.f.Sync(); err != nil {
		return 0, err
	}
	st, err := m.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (m *metricsFile) close() error { return m.f.Close() }

// finiteOr replaces NaN and ±Inf (which JSON cannot hold) by v.
func finiteOr(x, v float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return v
	}
	return x
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// progress shows a stage's advance: a bar with ETA and tokens/s on a
// terminal, otherwise a log line at most every logEvery.
type progress struct {
	bar      *progressbar.ProgressBar
	log      zerolog.Logger
	stage    string
	total    int64
	start    time.Time
	startTok int64
	lastLog  time.Time
}

const logEvery = 2 * time.Second

func newProgress(mode int, log zerolog.Logger, stage string, total, done int64) *progress {
	p := &progress{log: log, stage: stage, total: total, start: time.Now(), startTok: done}
	on := mode > 0 || (mode == 0 && (isatty.IsTerminal(os.Stderr.Fd()) || isatty.IsCygwinTerminal(os.Stderr.Fd())))
	if on {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(stage),
			progressbar.OptionSetItsString("tok"),
			progressbar.OptionShowIts(),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
		)
		p.bar.Set64(done)
	}
	return p
}

// step reports tokens done after a step with its loss.
func (p *progress) step(step, steps int, tokens int64, loss float64) {
	if p.bar != nil {
		p.bar.Describe(p.stage + " loss " + strconv.FormatFloat(loss, 'f', 4, 64))
		p.bar.Set64(tokens)
		return
	}
	if time.Since(p.lastLog) < logEvery && step+1 < steps {
		return
	}
	p.lastLog = time.Now()
	el := time.Since(p.start).Seconds()
	rate := float64(tokens-p.startTok) / math.Max(el, 1e-9)
	eta := float64(p.total-tokens) / math.Max(rate, 1e-9)
	p.log.Info().Int("step", step+1).Int("steps", steps).Int64("tokens", tokens).
		Int64("total_tokens", p.total).Float64("loss", finiteOr(loss, -1)).Float64("tokens_per_s", rate).
		Float64("eta_s", eta).Msg("training")
}

// finish completes the bar; it may be called more than once.
func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
		os.Stderr.WriteString("\n")
		p.bar = nil
	}
}
