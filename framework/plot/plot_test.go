package plot

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// decode opens the PNG at path and checks its size and that it is not a
// blank canvas.
func decode(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s is %d×%d, want %d×%d", path, b.Dx(), b.Dy(), w, h)
	}
	colours := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(colours) < 3 {
		t.Errorf("%s has %d colours, want a drawing (≥ 3)", path, len(colours))
	}
	return img
}

func TestLinePlot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "loss.png")
	var a, b Series
	a.Name, b.Name = "stage", "layer 0"
	for i := range 200 {
		x := float64(i * 8192)
		a.X, a.Y = append(a.X, x), append(a.Y, 5*math.Exp(-float64(i)/50)+1)
		b.X, b.Y = append(b.X, x), append(b.Y, 3*math.Exp(-float64(i)/30)+0.5)
	}
	a.Y[17] = math.NaN() // left out, not fatal
	start := time.Now()
	if err := LinePlot(path, []Series{a, b}, "loss", "tokens", "loss"); err != nil {
		t.Fatal(err)
	}
	t.Logf("line plot in %v", time.Since(start))
	decode(t, path, LineWidthPx, LineHeightPx)
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	if err := LinePlot(path, []Series{{Name: "x", X: []float64{1}, Y: []float64{math.NaN()}}}, "", "", ""); err == nil {
		t.Error("a plot without finite points: no error")
	}
	if err := LinePlot(path, []Series{{Name: "x", X: []float64{1, 2}, Y: []float64{1}}}, "", "", ""); err == nil {
		t.Error("series of unequal lengths: no error")
	}
}

func TestHeatmaps(t *testing.T) {
	const T = 256 // a realistic sequence length: the drawing must stay fast
	causal := func(title string, f func(t, s int) float64) Matrix {
		m := Matrix{Title: title, Rows: T, Cols: T, Data: make([]float64, T*T)}
		for i := range T {
			for j := 0; j <= i; j++ {
				m.Data[i*T+j] = f(i, j)
			}
		}
		return m
	}
	teacher := causal("teacher", func(t, s int) float64 { return 1 / float64(t+1) })
	student := causal("student", func(t, s int) float64 { return math.Pow(0.9, float64(t-s)) * 0.1 })
	path := filepath.Join(t.TempDir(), "layer0.png")
	start := time.Now()
	if err := Heatmaps(path, []Matrix{teacher, student}, "layer 0, head 0"); err != nil {
		t.Fatal(err)
	}
	t.Logf("heatmaps %d×%d ×2 in %v", T, T, time.Since(start))
	img := decode(t, path, 2*HeatmapPanelPx+colorBarWidthPx, HeatmapPanelPx)

	// Row 0 is at the top: the top-right of the teacher's panel (above the
	// diagonal, zero) and its bottom-left (row T-1, column 0: 1/T) differ.
	b := img.Bounds()
	topRight := img.At(b.Min.X+HeatmapPanelPx*3/4, b.Min.Y+HeatmapPanelPx/4+10)
	bottomLeft := img.At(b.Min.X+HeatmapPanelPx/4, b.Min.Y+HeatmapPanelPx*3/4)
	if topRight == bottomLeft {
		t.Errorf("teacher panel: upper triangle and lower triangle have the same colour %v", topRight)
	}

	if err := Heatmaps(path, []Matrix{{Title: "bad", Rows: 2, Cols: 2, Data: []float64{1}}}, ""); err == nil {
		t.Error("a matrix with too few values: no error")
	}
}

func TestShort(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 512: "512", 1500: "1.5k", 2e6: "2M", 1.25e6: "1.25M", 3e9: "3G", 0.25: "0.25"} {
		if got := Short(v); got != want {
			t.Errorf("Short(%v) = %q, want %q", v, got, want)
		}
	}
}
