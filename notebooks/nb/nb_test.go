package nb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotutil"
)

// colourOf is the SVG colour of the i-th series.
func colourOf(i int) string {
	r, g, b, _ := plotutil.Color(i).RGBA()
	return fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8)
}

// pathsOf returns the d attributes of the SVG paths drawn (stroked or filled) in colour col.
func pathsOf(svg, col string) []string {
	var ds []string
	for _, m := range regexp.MustCompile(`<path d="([^"]*)" style="([^"]*)"`).FindAllStringSubmatch(svg, -1) {
		if strings.Contains(strings.ToLower(m[2]), col) {
			ds = append(ds, m[1])
		}
	}
	return ds
}

// TestChartSVG: a scatter draws one mark per point (plus its legend's) and nothing joining
// them; a line draws one path through every point; the title and axis labels are there; bad
// series are errors naming them.
func TestChartSVG(t *testing.T) {
	c := Chart{Title: "r(z) against p(z|x)", XLabel: "p(z|x)", YLabel: "r(z)"}
	svg, err := c.SVG(Series{Name: "candidates", X: []float64{0.1, 0.5, 0.9, 0.3}, Y: []float64{-0.2, 0.1, 0.4, 0}, Points: true},
		Series{Name: "trend", X: []float64{0, 0.5, 1}, Y: []float64{-0.3, 0, 0.3}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{">r(z) against p(z|x)<", ">p(z|x)<", ">r(z)<", ">candidates<", ">trend<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
	points := pathsOf(svg, colourOf(0))
	if len(points) != 5 { // 4 points and the legend's mark.
		t.Errorf("scatter: %d paths in its colour, want 5: %q", len(points), points)
	}
	for _, d := range points {
		if strings.Count(d, "L") > 0 {
			t.Errorf("scatter: a path joins points: %q", d)
		}
	}
	lines := pathsOf(svg, colourOf(1))
	joined := 0
	for _, d := range lines {
		if strings.Count(d, "L") >= 2 {
			joined++
		}
	}
	if joined != 1 {
		t.Errorf("line: %d paths through all 3 points, want 1: %q", joined, lines)
	}
	if _, err := c.SVG(Series{Name: "odd", X: []float64{1, 2}, Y: []float64{1}}); err == nil || !strings.Contains(err.Error(), "odd") {
		t.Errorf("mismatched series: err = %v", err)
	}
	if _, err := (Chart{LogY: true}).SVG(Series{Name: "neg", X: []float64{1}, Y: []float64{-1}}); err == nil || !strings.Contains(err.Error(), "neg") {
		t.Errorf("nothing to draw on a log axis: err = %v", err)
	}
	bars, err := c.Bars([]string{"capital", "currency"}, []string{"BM25", "REALM"}, [][]float64{{0.4, 0.6}, {0.7, 0.8}})
	if err != nil || !strings.Contains(bars, ">capital<") || !strings.Contains(bars, ">REALM<") {
		t.Errorf("bars: err %v", err)
	}
	if _, err := c.Bars([]string{"a"}, []string{"x"}, [][]float64{{1, 2}}); err == nil {
		t.Errorf("bars with more values than groups: no error")
	}
	hist, err := c.Histogram([]float64{1, 2, 2, 3, 3, 3}, 3, 3, "max")
	if err != nil || !strings.Contains(hist, ">max<") {
		t.Errorf("histogram: err %v", err)
	}
}

// TestTableAndLiveLog: numbers are right-aligned, header text escaped; LiveLog shows only the
// last complete lines.
func TestTableAndLiveLog(t *testing.T) {
	tab := Table([]string{"a<b", "EM"}, [][]string{{"BM25", "0.422"}})
	if !strings.Contains(tab, "a&lt;b") || !strings.Contains(tab, `text-align:right;vertical-align:top;border-top:1px solid #eee">0.422`) ||
		!strings.Contains(tab, `text-align:left;vertical-align:top;border-top:1px solid #eee">BM25`) {
		t.Errorf("table: %s", tab)
	}
	var shown string
	l := &LiveLog{Update: func(h string) { shown = h }, Lines: 2}
	fmt.Fprint(l, "step 1\nstep 2\n")
	fmt.Fprint(l, "step 3\nstep 4 (partial")
	if !strings.Contains(shown, "step 2\nstep 3</pre>") || strings.Contains(shown, "step 1") || strings.Contains(shown, "partial") {
		t.Errorf("live log shows %q", shown)
	}
}

// TestReadProvenance: in a fresh repository the tree is clean; a changed notebook is not a
// change (its outputs are what a run writes); any other changed file is named.
func TestReadProvenance(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, text string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write("notebooks/01.ipynb", "{}")
	write("realm/x.go", "package x")
	git("add", ".")
	git("commit", "-qm", "first")
	write("notebooks/01.ipynb", `{"outputs": 1}`)
	p, err := ReadProvenance(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Commit) != 40 || len(p.Changed) != 0 || !strings.Contains(p.HTML(), "clean tree") {
		t.Errorf("after a notebook run: %+v", p)
	}
	write("realm/x.go", "package x // changed")
	if p, err = ReadProvenance(dir); err != nil || len(p.Changed) != 1 || p.Changed[0] != "realm/x.go" || !strings.Contains(p.HTML(), "uncommitted changes") {
		t.Errorf("after a source change: %+v, %v", p, err)
	}
}

// TestChartMarks: a line with marks draws the line through every point and a mark at each.
func TestChartMarks(t *testing.T) {
	svg, err := Chart{Title: "sweep"}.SVG(Series{Name: "ef", X: []float64{16, 64, 256}, Y: []float64{0.8, 0.9, 0.99}, Marks: true})
	if err != nil {
		t.Fatal(err)
	}
	joined, marks := 0, 0
	for _, d := range pathsOf(svg, colourOf(0)) {
		switch n := strings.Count(d, "L"); {
		case n >= 2:
			joined++
		case n == 0:
			marks++
		}
	}
	if joined != 1 || marks != 4 { // 3 marks and the legend's.
		t.Errorf("%d lines through the points (want 1), %d marks (want 4)", joined, marks)
	}
}
