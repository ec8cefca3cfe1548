package nb

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
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
	// Dashed draws the line dashed; Marks draws a mark at each value on the line (a sweep of a
	// few measured settings).
	Dashed, Marks bool
}

// Cm is a centimetre, the unit of a Chart's Width and Height.
const Cm = vg.Centimeter

// Chart is a chart's frame: title, axis labels, log scales and size (0: 16 cm × 9 cm).
type Chart struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Width, Height         vg.Length
	// YMin and YMax fix the y range when YMax > YMin (else it fits the data).
	YMin, YMax float64
}

// newPlot is the frame of c with a grid, small fonts and log axes as asked.
func (c Chart) newPlot() *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = c.Title, c.XLabel, c.YLabel
	sans := func(size float64) font.Font {
		return font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Points(size)}
	}
	p.Title.TextStyle.Font = sans(11)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font, a.Tick.Label.Font = sans(10), sans(9)
	}
	p.Legend.TextStyle.Font = sans(9)
	p.Add(plotter.NewGrid())
	if c.LogX {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, logTicks{}
	}
	if c.LogY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, logTicks{}
	}
	return p
}

// logTicks marks a log axis: 1, 2 and 5 times the powers of ten labelled when the axis spans
// at most two decades (every multiple when that labels fewer than two), the powers of ten
// only beyond, with unlabelled minor ticks at the other multiples.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi >= lo) {
		return nil
	}
	in := func(v float64) bool { return v >= lo*(1-1e-9) && v <= hi*(1+1e-9) }
	e0, e1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	labelled := func(m int) bool { return m == 1 || (e1-e0 <= 2 && (m == 2 || m == 5)) }
	count := 0
	for e := e0; e <= e1; e++ {
		for m := 1; m <= 9; m++ {
			if labelled(m) && in(float64(m)*math.Pow(10, e)) {
				count++
			}
		}
	}
	all := count < 2
	var ticks []plot.Tick
	for e := e0; e <= e1; e++ {
		for m := 1; m <= 9; m++ {
			v := float64(m) * math.Pow(10, e)
			if !in(v) {
				continue
			}
			t := plot.Tick{Value: v}
			if all || labelled(m) {
				t.Label = tickLabel(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// tickLabel writes v plainly (100000, 0.002), with an exponent only from a million.
func tickLabel(v float64) string {
	if v >= 1e6 || v < 1e-4 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// svg renders p at c's size, with p's legend (if it has entries) to the right of the plot.
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
	canvas, err := draw.NewFormattedCanvas(w, h, "svg")
	if err != nil {
		return "", fmt.Errorf("nb: %s: %w", c.Title, err)
	}
	dc := draw.New(canvas)
	leg := p.Legend
	leg.Top, leg.Left = true, true
	r := leg.Rectangle(dc)
	lw := (r.Max.X - r.Min.X) * 1.15 // room for a wider font than Liberation Sans's metrics (see fontFamily)
	// A title wider than the plot is set smaller (down to 7 points).
	if tw, room := p.Title.TextStyle.Rectangle(p.Title.Text).Size().X, 0.95*(w-lw); tw > room {
		p.Title.TextStyle.Font.Size = max(vg.Points(7), p.Title.TextStyle.Font.Size*room/tw)
	}
	if lw > 0 {
		p.Legend = plot.NewLegend()
		pad := vg.Points(8)
		p.Draw(draw.Crop(dc, 0, -(lw + pad), 0, 0))
		leg.Left, leg.XOffs = true, w-lw-pad/2
		leg.YOffs = -p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y - p.Title.Padding
		leg.Draw(dc)
	} else {
		p.Draw(dc)
	}
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("nb: %s: %w", c.Title, err)
	}
	return strings.ReplaceAll(buf.String(), "font-family:Liberation Sans", fontFamily), nil
}

// fontFamily is the CSS font of a chart's text: gonum/plot lays text out with the metrics of
// Liberation Sans and names only that font; Arial and Helvetica have the same metrics (or
// nearly), so a browser without Liberation Sans draws text of the size it was laid out for.
const fontFamily = `font-family:'Liberation Sans',Arial,Helvetica,sans-serif`

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
		var sc *plotter.Scatter
		if s.Points || s.Marks {
			var err error
			if sc, err = plotter.NewScatter(xys); err != nil {
				return "", fmt.Errorf("nb: %s: %w", c.Title, err)
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = col, vg.Points(2.2), draw.CircleGlyph{}
		}
		if s.Points {
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
		if sc != nil {
			p.Add(sc)
			p.Legend.Add(s.Name, l, sc)
			continue
		}
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
		if len(values) > 1 {
			p.Legend.Add(names[i], b)
		}
	}
	p.NominalX(groups...)
	p.X.Min, p.X.Max = -0.6, float64(len(groups))-0.4 // room for the outer bars of the first and last groups
	w, chars := c.Width, 0
	if w == 0 {
		w = 16 * vg.Centimeter
	}
	for _, g := range groups {
		chars += len(g) + 2
	}
	if len(groups) > 6 || vg.Points(5.5*float64(chars)) > w*0.8 { // labels side by side would overlap
		p.X.Tick.Label.Rotation, p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = math.Pi/4, draw.XRight, draw.YTop
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
	}
	return c.svg(p)
}
