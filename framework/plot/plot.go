// Package plot draws the PNG figures of mohawk's reports and of
// `mohawk inspect`: line plots (loss against tokens) and rows of heatmaps
// (a teacher's attention probabilities beside a student's mixing matrix).
// It is a small wrapper over gonum.org/v1/plot that fixes sizes, colours
// and fonts, so callers pass data and titles only. Files are written
// atomically: a reader never sees half a PNG.
package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// DPI of every figure: lengths in points convert to pixels at this rate.
const DPI = 96

// Pixel sizes of the figures.
const (
	LineWidthPx, LineHeightPx = 800, 500
	HeatmapPanelPx            = 360 // one square heatmap panel
	colorBarWidthPx           = 90
)

// Series is one line of a line plot: points (X[i], Y[i]). Points with a NaN
// or infinite coordinate are left out (a diverged loss must not break the
// plot of the rest).
type Series struct {
	Name string
	X, Y []float64
}

// LinePlot draws series as lines in one LineWidthPx×LineHeightPx PNG at
// path, with a legend when there is more than one series.
func LinePlot(path string, series []Series, title, xlabel, ylabel string) error {
	p := gplot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.X.Tick.Marker = shortTicks{}
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	points := 0
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plot %s: series %q has %d x values and %d y values; want as many of each", path, s.Name, len(s.X), len(s.Y))
		}
		xys := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			if finite(s.X[j]) && finite(s.Y[j]) {
				xys = append(xys, plotter.XY{X: s.X[j], Y: s.Y[j]})
			}
		}
		if len(xys) == 0 {
			continue
		}
		points += len(xys)
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("plot %s: series %q: %w", path, s.Name, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		if len(series) > 1 {
			p.Legend.Add(s.Name, l)
		}
	}
	if points == 0 {
		return fmt.Errorf("plot %s: no finite points in %d series; want at least one", path, len(series))
	}
	c := vgimg.NewWith(vgimg.UseWH(px(LineWidthPx), px(LineHeightPx)), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))
	p.Draw(draw.New(c))
	return writePNG(path, c)
}

// Matrix is one heatmap panel: Rows×Cols values, row-major, drawn with row 0
// at the top (as a matrix is written: query position t down, key position
// s across).
type Matrix struct {
	Title      string
	Rows, Cols int
	Data       []float64
}

// Heatmaps draws the matrices side by side in one PNG at path, on one
// shared colour scale (so that a teacher's and a student's panel compare
// by eye), with a colour bar at the right and title above. The image is
// len(ms)*HeatmapPanelPx + a colour bar wide and HeatmapPanelPx high.
func Heatmaps(path string, ms []Matrix, title string) error {
	if len(ms) == 0 {
		return fmt.Errorf("plot %s: no matrices to draw", path)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, m := range ms {
		if m.Rows <= 0 || m.Cols <= 0 || len(m.Data) != m.Rows*m.Cols {
			return fmt.Errorf("plot %s: matrix %q: %d values for %d×%d; want rows×cols > 0", path, m.Title, len(m.Data), m.Rows, m.Cols)
		}
		for _, v := range m.Data {
			if finite(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if lo > hi { // no finite value at all: draw everything in the NaN colour
		lo, hi = 0, 1
	}
	if lo == hi {
		hi = lo + 1
	}
	cmap := moreland.ExtendedBlackBody()
	cmap.SetMin(lo)
	cmap.SetMax(hi)
	pal := cmap.Palette(255)

	w := len(ms)*HeatmapPanelPx + colorBarWidthPx
	c := vgimg.NewWith(vgimg.UseWH(px(w), px(HeatmapPanelPx)), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(c)
	if title != "" {
		// The figure title takes a strip at the top; panels share the rest.
		f := gplot.DefaultFont
		f.Size = vg.Points(12)
		sty := draw.TextStyle{Color: color.Black, Font: f, XAlign: draw.XCenter, YAlign: draw.YTop, Handler: gplot.DefaultTextHandler}
		dc.FillText(sty, vg.Point{X: dc.Center().X, Y: dc.Max.Y - vg.Points(4)}, title)
		dc.Max.Y -= vg.Points(20)
	}
	for i, m := range ms {
		p := gplot.New()
		p.Title.Text = m.Title
		p.HideAxes()
		h := plotter.NewHeatMap(grid(upsample(m, HeatmapPanelPx)), pal)
		h.Min, h.Max = lo, hi
		h.NaN = color.RGBA{R: 200, G: 200, B: 200, A: 255}
		// One image rather than a rectangle per cell: fast at T in the
		// hundreds, and no seams between cells.
		h.Rasterized = true
		p.Add(h)
		panel := dc
		panel.Min.X = dc.Min.X + px(i*HeatmapPanelPx)
		panel.Max.X = panel.Min.X + px(HeatmapPanelPx)
		p.Draw(draw.Crop(panel, vg.Points(4), -vg.Points(4), vg.Points(4), 0))
	}
	bar := gplot.New()
	bar.HideX()
	bar.Y.Padding = 0
	bar.Add(&plotter.ColorBar{ColorMap: cmap, Vertical: true})
	barCanvas := dc
	barCanvas.Min.X = dc.Min.X + px(len(ms)*HeatmapPanelPx)
	bar.Draw(draw.Crop(barCanvas, vg.Points(8), -vg.Points(40), vg.Points(24), -vg.Points(24)))
	return writePNG(path, c)
}

// upsample repeats each cell of m so that the matrix is about px cells
// wide: the rasterized heatmap is then scaled down a little rather than up,
// which keeps small matrices' cells sharp instead of smoothly blurred.
func upsample(m Matrix, px int) Matrix {
	k := max(1, px/max(m.Rows, m.Cols))
	if k == 1 {
		return m
	}
	out := Matrix{Title: m.Title, Rows: m.Rows * k, Cols: m.Cols * k, Data: make([]float64, m.Rows*k*m.Cols*k)}
	for r := range out.Rows {
		for c := range out.Cols {
			out.Data[r*out.Cols+c] = m.Data[(r/k)*m.Cols+c/k]
		}
	}
	return out
}

// grid is m as a GridXYZ: column j at x = j, row r at y = Rows-1-r so that
// row 0 is drawn at the top.
type grid Matrix

func (g grid) Dims() (c, r int)   { return g.Cols, g.Rows }
func (g grid) Z(c, r int) float64 { return g.Data[(g.Rows-1-r)*g.Cols+c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

// shortTicks are gonum's default ticks labelled 1.5M, 200k rather than
// 1500000, 200000: token counts are long numbers.
type shortTicks struct{}

func (shortTicks) Ticks(min, max float64) []gplot.Tick {
	ts := gplot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = Short(ts[i].Value)
		}
	}
	return ts
}

// Short writes v with a k, M or G suffix when it is that large: 1.5M.
func Short(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 4, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// px is n pixels as a length at DPI.
func px(n int) vg.Length { return vg.Length(n) * vg.Inch / DPI }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// writePNG encodes c as PNG and writes it to path atomically.
func writePNG(path string, c *vgimg.Canvas) error {
	return WriteFileAtomic(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
		return err
	})
}

// WriteFileAtomic writes a file through write into a temporary file in
// path's folder, syncs it and renames it over path, so a reader (or a crash)
// sees the old file or the whole new one, never a part. Reports use it for
// their markdown too.
func WriteFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// The rename is durable only once the folder is synced.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
