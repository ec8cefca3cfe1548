package nb

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one set of (X, Y) values of a Chart: a line through them, or points when Points is
// set (a scatter: nothing joins them).
type Series struct {
	Name   string
	X, Y   []float64
	Points bool
	// Dashed draws the line dashed.
	Dashed bool
}

// Chart is a chart's frame: title, axis labels, log scales and size (0: 16 cm × 9 cm).
type Chart struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Width, Height         vg.Length
	// YMin and YMax fix the y range when YMax > YMin (else it fits the data).
	YMin, YMax float64
}

// newPlot is the frame of c with a grid and the legend at the top left.
func (c Chart) newPlot() *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = c.Title, c.XLabel, c.YLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	if c.LogX {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	if c.LogY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	return p
}

// svg renders p at c's size.
func (c Chart) svg(p *plot.Plot) (string, error) {
	if c.YMax > c.YMin {
		p.Y.Min, p.Y.Max = c.YMin, c.YMax
	}
	w, h := c.Width, c.Height
	if w == 0 {
		w = 16 * vg.Centimeter
	}
	if h == 0 {
		h = 9 * vg.Centimeter
	}
	wt, err := p.WriterTo(w, h, "svg")
	if err != nil {
		return "", fmt.Errorf("nb: %s: %w", c.Title, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("nb: %s: %w", c.Title, err)
	}
	return buf.String(), nil
}

// SVG draws the series on c. Non-finite values (and non-positive ones on a log axis) are left
// out; a series with nothing left is an error naming it.
func (c Chart) SVG(series ...Series) (string, error) {
	p := c.newPlot()
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return "", fmt.Errorf("nb: %s: series %q has %d x and %d y values", c.Title, s.Name, len(s.X), len(s.Y))
		}
		var xys plotter.XYs
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) || (c.LogX && x <= 0) || (c.LogY && y <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: y})
		}
		if len(xys) == 0 {
			return "", fmt.Errorf("nb: %s: series %q has no value to draw", c.Title, s.Name)
		}
		col := plotutil.Color(i)
		if s.Points {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return "", fmt.Errorf("nb: %s: %w", c.Title, err)
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = col, vg.Points(2.2), draw.CircleGlyph{}
			p.Add(sc)
			p.Legend.Add(s.Name, sc)
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return "", fmt.Errorf("nb: %s: %w", c.Title, err)
		}
		l.Color, l.Width = col, vg.Points(1.5)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	return c.svg(p)
}

// Bars draws grouped bars: one bar per group (labelled on the x axis) for each named set of
// values, with the sets side by side.
func (c Chart) Bars(groups []string, names []string, values [][]float64) (string, error) {
	if len(names) != len(values) {
		return "", fmt.Errorf("nb: %s: %d names for %d sets of bars", c.Title, len(names), len(values))
	}
	p := c.newPlot()
	n := float64(len(values))
	width := vg.Points(math.Min(24, 300/(n*float64(max(1, len(groups))))))
	for i, vs := range values {
		if len(vs) != len(groups) {
			return "", fmt.Errorf("nb: %s: %q has %d values for %d groups", c.Title, names[i], len(vs), len(groups))
		}
		b, err := plotter.NewBarChart(plotter.Values(vs), width)
		if err != nil {
			return "", fmt.Errorf("nb: %s: %w", c.Title, err)
		}
		b.Color, b.LineStyle.Width = plotutil.Color(i), 0
		b.Offset = vg.Length(float64(i)-(n-1)/2) * width
		p.Add(b)
		p.Legend.Add(names[i], b)
	}
	p.NominalX(groups...)
	if len(groups) > 6 {
		p.X.Tick.Label.Rotation, p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = math.Pi/4, draw.XRight, draw.YCenter
	}
	return c.svg(p)
}

// Histogram draws the counts of values in bins equal bins, with a dashed vertical line at mark
// when markName is not empty.
func (c Chart) Histogram(values []float64, bins int, mark float64, markName string) (string, error) {
	if len(values) == 0 {
		return "", fmt.Errorf("nb: %s: no values", c.Title)
	}
	p := c.newPlot()
	h, err := plotter.NewHist(plotter.Values(values), bins)
	if err != nil {
		return "", fmt.Errorf("nb: %s: %w", c.Title, err)
	}
	h.FillColor, h.LineStyle.Width = plotutil.Color(0), vg.Points(0.5)
	h.LineStyle.Color = color.White
	p.Add(h)
	if markName != "" {
		top := 0.0
		for _, b := range h.Bins {
			top = math.Max(top, b.Weight)
		}
		l, err := plotter.NewLine(plotter.XYs{{X: mark, Y: 0}, {X: mark, Y: top}})
		if err != nil {
			return "", fmt.Errorf("nb: %s: %w", c.Title, err)
		}
		l.Color, l.Dashes = plotutil.Color(1), []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(markName, l)
		p.Legend.Left = false
	}
	return c.svg(p)
}
