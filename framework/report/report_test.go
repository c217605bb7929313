package report

import (
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/framework/plot"
)

// writeMetrics writes a metrics.jsonl as the engine does: a matrix
// orientation stage with per-layer losses and two evaluations, a
// knowledge-distillation stage without, and a half-written last line.
func writeMetrics(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for step := 1; step <= 50; step++ {
		tokens := step * 8192
		enc.Encode(map[string]any{"time": "2026-01-01T00:00:00Z", "stage": "orient", "kind": "matrix_orientation", "step": step,
			"tokens": tokens, "loss": 60 / math.Sqrt(float64(step)), "lr": 1e-3, "grad_norm": 0.5, "tokens_per_s": 5000,
			"layer_loss": map[string]float64{"0": 20 / float64(step), "1": 30 / float64(step), "10": 10 / float64(step)}})
		if step%25 == 0 {
			enc.Encode(map[string]any{"stage": "orient", "tokens": tokens, "eval": map[string]float64{"val_ppl": 40 - float64(step)/5, "agreement": 0.3}})
		}
	}
	for step := 1; step <= 30; step++ {
		enc.Encode(map[string]any{"stage": "kd", "kind": "knowledge_distillation", "step": step, "tokens": step * 4096, "loss": 3 - float64(step)/20})
	}
	f.WriteString(`{"stage":"kd","kind":"knowledge_dis`)
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	metrics := filepath.Join(dir, "metrics.jsonl")
	writeMetrics(t, metrics)
	run := Run{
		Title:    "tiny distillation",
		Pipeline: "examples/tiny/distill.hcl",
		Rows: []Row{
			{Model: "teacher.phi", ValPPL: 3.214, Agreement: math.NaN(), Seconds: 2.5},
			{Model: "student.mamba", Stage: "orient", Tokens: 409600, ValPPL: 30, Agreement: 0.3, Seconds: 61},
			{Model: "student.mamba", Stage: "kd", Tokens: 122880, ValPPL: 3.9, Agreement: 0.71234, Seconds: 125},
		},
		Metrics: metrics,
		Notes:   []string{"a note"},
	}
	if err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(md)
	t.Logf("report.md:\n%s", text)
	for _, want := range []string{
		"# tiny distillation",
		"| teacher.phi | - | - | 3.214 | n/a | 3s |",
		"| student.mamba | orient | 409.6k | 30.000 | 30.0% | 1m1s |",
		"| student.mamba | kd | 122.9k | 3.900 | 71.2% | 2m5s |",
		"### orient (matrix_orientation)",
		"### kd (knowledge_distillation)",
		"- a note",
		"1 line of metrics.jsonl could not be read",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	// Every image the report links exists and is a real drawing.
	links := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(text, -1)
	wantFiles := []string{"plots/01-orient-loss.png", "plots/01-orient-layer-loss.png", "plots/01-orient-val-ppl.png", "plots/02-kd-loss.png"}
	if len(links) != len(wantFiles) {
		t.Errorf("%d images linked, want %d (%v)", len(links), len(wantFiles), wantFiles)
	}
	for i, l := range links {
		if i < len(wantFiles) && l[1] != wantFiles[i] {
			t.Errorf("image %d is %s, want %s", i, l[1], wantFiles[i])
		}
		f, err := os.Open(filepath.Join(dir, l[1]))
		if err != nil {
			t.Error(err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", l[1], err)
			continue
		}
		if b := img.Bounds(); b.Dx() != plot.LineWidthPx || b.Dy() != plot.LineHeightPx {
			t.Errorf("%s is %v, want %d×%d", l[1], b, plot.LineWidthPx, plot.LineHeightPx)
		}
		first := img.At(0, 0)
		same := true
		for y := 0; y < img.Bounds().Dy() && same; y += 5 {
			for x := 0; x < img.Bounds().Dx(); x += 5 {
				if img.At(x, y) != first {
					same = false
					break
				}
			}
		}
		if same {
			t.Errorf("%s is one colour", l[1])
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestWriteWithoutMetrics(t *testing.T) {
	dir := t.TempDir()
	err := Write(dir, Run{Rows: []Row{{Model: "student", ValPPL: math.NaN(), Agreement: math.NaN()}}, Metrics: filepath.Join(dir, "none.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(md), "| student | - | - | n/a | n/a | - |") || strings.Contains(string(md), "![") {
		t.Errorf("report.md:\n%s", md)
	}
}

func TestTable(t *testing.T) {
	var b strings.Builder
	Table(&b, []Row{
		{Model: "teacher.phi", ValPPL: 3.2, Agreement: math.NaN()},
		{Model: "student.mamba", Stage: "kd", Tokens: 2e6, ValPPL: 3.9, Agreement: 0.7, Seconds: 300},
	})
	t.Logf("\n%s", b.String())
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	for _, want := range []string{"MODEL", "VAL PPL", "AGREEMENT"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %s", lines[0], want)
		}
	}
	if !strings.HasPrefix(lines[2], "student.mamba  kd") || !strings.Contains(lines[2], "2M") || !strings.Contains(lines[2], "70.0%") || !strings.Contains(lines[2], "5m0s") {
		t.Errorf("row %q", lines[2])
	}
	// Right-aligned numbers end in the same column.
	if len(lines[1]) != len(lines[2]) {
		t.Errorf("rows of different widths:\n%s", b.String())
	}
}

func TestPlots(t *testing.T) {
	dir := t.TempDir()
	metrics := filepath.Join(dir, "metrics.jsonl")
	writeMetrics(t, metrics)
	paths, err := Plots(dir, metrics)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 {
		t.Errorf("%d plots, want 4: %v", len(paths), paths)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	if _, err := Plots(dir, filepath.Join(dir, "none.jsonl")); err == nil {
		t.Error("a missing metrics file: no error")
	}
}
