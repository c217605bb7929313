// Package report writes the report of a run (or of `mohawk eval`): a
// report.md with the results table, loss curves drawn from the run's
// metrics.jsonl as PNGs beside it, and the same table for the terminal.
package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mohawk-distill/mohawk/framework/plot"
)

// Run is what a report is made of.
type Run struct {
	Title    string
	Pipeline string // the pipeline file, as the user named it
	Rows     []Row
	Metrics  string // path of metrics.jsonl; "" or a missing file: no plots
	Notes    []string
}

// Row is one line of the results table: a model after a stage (or a model
// evaluated on its own, Stage ""). NaN in ValPPL or Agreement means n/a.
type Row struct {
	Model, Stage string
	Tokens       int64
	ValPPL       float64
	Agreement    float64 // fraction of positions where the model's top-1 equals the teacher's
	Seconds      float64
}

// PlotDir is the folder, inside a report's folder, of its PNGs.
const PlotDir = "plots"

// Write writes dir/report.md and its plots under dir/PlotDir. Every file is
// written atomically, so a report being rewritten (at each stage end) is
// never seen half-written.
func Write(dir string, r Run) error {
	if err := os.MkdirAll(filepath.Join(dir, PlotDir), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var figures []figure
	notes := slices.Clone(r.Notes)
	if r.Metrics != "" {
		stages, skipped, err := readMetrics(r.Metrics)
		switch {
		case errors.Is(err, os.ErrNotExist):
			notes = append(notes, "No "+filepath.Base(r.Metrics)+": no loss curves.")
		case err != nil:
			return fmt.Errorf("report: %w", err)
		default:
			if skipped > 0 {
				noun := "lines"
				if skipped == 1 {
					noun = "line"
				}
				notes = append(notes, fmt.Sprintf("%d %s of %s could not be read and were left out of the plots.", skipped, noun, filepath.Base(r.Metrics)))
			}
			figures, err = drawFigures(filepath.Join(dir, PlotDir), stages)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
		}
	}
	path := filepath.Join(dir, "report.md")
	err := plot.WriteFileAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		writeMarkdown(bw, r, figures, notes)
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Plots draws the curves of a metrics file into dir, as Write does for a
// report (per stage: loss, per-layer loss, validation perplexity), and
// returns the paths of the PNGs written.
func Plots(dir, metrics string) ([]string, error) {
	stages, _, err := readMetrics(metrics)
	if err != nil {
		return nil, fmt.Errorf("plots: %w", err)
	}
	figs, err := drawFigures(dir, stages)
	if err != nil {
		return nil, fmt.Errorf("plots: %w", err)
	}
	paths := make([]string, len(figs))
	for i, f := range figs {
		paths[i] = filepath.Join(dir, f.file)
	}
	return paths, nil
}

// figure is one PNG of the report, under a stage's heading.
type figure struct{ stage, kind, file, caption string }

func writeMarkdown(w io.Writer, r Run, figures []figure, notes []string) {
	title := r.Title
	if title == "" {
		title = "mohawk report"
	}
	fmt.Fprintf(w, "# %s\n\n", title)
	if r.Pipeline != "" {
		fmt.Fprintf(w, "Pipeline: `%s`\n\n", r.Pipeline)
	}
	fmt.Fprintf(w, "## Results\n\n")
	fmt.Fprintln(w, "| model | stage | tokens | val ppl | agreement | time |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
	for _, row := range r.Rows {
		c := cells(row)
		fmt.Fprintf(w, "| %s |\n", strings.Join([]string{escape(c[0]), escape(c[1]), c[2], c[3], c[4], c[5]}, " | "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Val ppl: perplexity on the held-out sequences; agreement: positions where the model's most likely next token is the teacher's.")
	if len(figures) > 0 {
		fmt.Fprintf(w, "\n## Loss curves\n")
		last := ""
		for _, f := range figures {
			if f.stage != last {
				fmt.Fprintf(w, "\n### %s", f.stage)
				if f.kind != "" {
					fmt.Fprintf(w, " (%s)", f.kind)
				}
				fmt.Fprintln(w)
				last = f.stage
			}
			fmt.Fprintf(w, "\n![%s](%s/%s)\n", f.caption, PlotDir, f.file)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n## Notes\n\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// Table writes rows as an aligned plain-text table for the terminal: text
// columns left-aligned, numbers right-aligned.
func Table(w io.Writer, rows []Row) {
	table := [][6]string{{"MODEL", "STAGE", "TOKENS", "VAL PPL", "AGREEMENT", "TIME"}}
	for _, r := range rows {
		table = append(table, cells(r))
	}
	var width [6]int
	for _, line := range table {
		for i, c := range line {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, line := range table {
		var b strings.Builder
		for i, c := range line {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			switch {
			case i < 2:
				b.WriteString(c + pad)
			default:
				b.WriteString(pad + c)
			}
			if i < len(line)-1 {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// cells are a row's values as the tables print them.
func cells(r Row) [6]string {
	stage := r.Stage
	if stage == "" {
		stage = "-"
	}
	ppl, agree := "n/a", "n/a"
	if !math.IsNaN(r.ValPPL) {
		ppl = strconv.FormatFloat(r.ValPPL, 'f', 3, 64)
	}
	if !math.IsNaN(r.Agreement) {
		agree = strconv.FormatFloat(100*r.Agreement, 'f', 1, 64) + "%"
	}
	took := "-"
	if r.Seconds > 0 {
		took = (time.Duration(r.Seconds * float64(time.Second))).Round(time.Second).String()
		if r.Seconds < 1 {
			took = (time.Duration(r.Seconds * float64(time.Second))).Round(time.Millisecond).String()
		}
	}
	tokens := "-"
	switch {
	case r.Tokens >= 10_000:
		tokens = plot.Short(float64(r.Tokens))
	case r.Tokens > 0:
		tokens = strconv.FormatInt(r.Tokens, 10)
	}
	return [6]string{r.Model, stage, tokens, ppl, agree, took}
}

// escape keeps a cell's text from breaking the markdown table.
func escape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// metricLine is one line of metrics.jsonl: a training step (Loss set) or an
// evaluation (Eval set).
type metricLine struct {
	Stage     string             `json:"stage"`
	Kind      string             `json:"kind"`
	Step      int64              `json:"step"`
	Tokens    float64            `json:"tokens"`
	Loss      *float64           `json:"loss"`
	LayerLoss map[string]float64 `json:"layer_loss"`
	Eval      map[string]float64 `json:"eval"`
}

// stageMetrics are one stage's curves, in file order.
type stageMetrics struct {
	name, kind string
	loss       plot.Series
	layers     map[int]*plot.Series
	valPPL     plot.Series
}

// readMetrics reads the metrics file into per-stage curves, in the order
// stages first appear. Lines that do not parse (a run killed mid-write
// leaves half a line) are counted and skipped.
func readMetrics(path string) (stages []*stageMetrics, skipped int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	byName := map[string]*stageMetrics{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var m metricLine
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.Stage == "" {
			skipped++
			continue
		}
		s := byName[m.Stage]
		if s == nil {
			s = &stageMetrics{name: m.Stage, layers: map[int]*plot.Series{}}
			byName[m.Stage] = s
			stages = append(stages, s)
		}
		if m.Kind != "" {
			s.kind = m.Kind
		}
		if m.Loss != nil {
			s.loss.X, s.loss.Y = append(s.loss.X, m.Tokens), append(s.loss.Y, *m.Loss)
		}
		for k, v := range m.LayerLoss {
			l, err := strconv.Atoi(k)
			if err != nil {
				continue
			}
			ls := s.layers[l]
			if ls == nil {
				ls = &plot.Series{Name: "layer " + k}
				s.layers[l] = ls
			}
			ls.X, ls.Y = append(ls.X, m.Tokens), append(ls.Y, v)
		}
		if v, ok := m.Eval["val_ppl"]; ok {
			s.valPPL.X, s.valPPL.Y = append(s.valPPL.X, m.Tokens), append(s.valPPL.Y, v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return stages, skipped, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// drawFigures draws, per stage, its loss against tokens, its per-layer
// losses when it logged them, and its validation perplexity when it was
// evaluated more than once. A curve without a finite point (a stage that
// diverged at once) is left out, which is no error.
func drawFigures(dir string, stages []*stageMetrics) ([]figure, error) {
	var figs []figure
	for i, s := range stages {
		// The index keeps two stage names that differ only in unsafe
		// characters from writing the same file.
		base := fmt.Sprintf("%02d-%s", i+1, unsafeName.ReplaceAllString(s.name, "_"))
		draw := func(suffix, caption, title, ylabel string, series ...plot.Series) error {
			if !finiteAny(series...) {
				return nil
			}
			f := figure{stage: s.name, kind: s.kind, file: base + suffix, caption: caption + " of stage " + s.name}
			if err := plot.LinePlot(filepath.Join(dir, f.file), series, "stage "+s.name+": "+title, "tokens", ylabel); err != nil {
				return err
			}
			figs = append(figs, f)
			return nil
		}
		s.loss.Name = "loss"
		if err := draw("-loss.png", "loss", "loss", "loss", s.loss); err != nil {
			return nil, err
		}
		layers := make([]int, 0, len(s.layers))
		for l := range s.layers {
			layers = append(layers, l)
		}
		slices.Sort(layers)
		perLayer := make([]plot.Series, len(layers))
		for j, l := range layers {
			perLayer[j] = *s.layers[l]
		}
		if err := draw("-layer-loss.png", "per-layer loss", "loss per layer", "layer loss", perLayer...); err != nil {
			return nil, err
		}
		if len(s.valPPL.X) > 1 {
			s.valPPL.Name = "validation perplexity"
			if err := draw("-val-ppl.png", "validation perplexity", "validation perplexity", "perplexity", s.valPPL); err != nil {
				return nil, err
			}
		}
	}
	return figs, nil
}

func finiteAny(series ...plot.Series) bool {
	for _, s := range series {
		for i := range s.X {
			if !math.IsNaN(s.Y[i]) && !math.IsInf(s.Y[i], 0) && !math.IsNaN(s.X[i]) && !math.IsInf(s.X[i], 0) {
				return true
			}
		}
	}
	return false
}
