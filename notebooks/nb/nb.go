// Package nb holds what realm-go's notebooks share, so that their code cells stay short calls
// into the library: error helpers for cells (Must, Check), the checkout a notebook runs in
// (ModuleRoot), the provenance of a run (ReadProvenance: the exact commit and whether the tree
// was clean), HTML tables, charts drawn with gonum.org/v1/plot (Chart: lines, points, bars,
// histograms, with axes, ticks and a legend) and live progress for long cells (LiveLog).
//
// It returns HTML and SVG as strings and takes display callbacks instead of importing GoNB's
// gonbui, so that the realm-go module does not depend on the notebook kernel; a cell passes
// them on:
//
//	gonbui.DisplayHTML(nb.Table([]string{"retriever", "EM"}, rows))
//	gonbui.DisplaySVG(nb.Must(nb.Chart{Title: "loss", XLabel: "step"}.SVG(series...)))
package nb

import (
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Must returns v, panicking if err is not nil (a notebook cell's way to stop on an error).
func Must[T any](v T, err error) T {
	Check(err)
	return v
}

// Check panics if err is not nil.
func Check(err error) {
	if err != nil {
		panic(err)
	}
}

// ModuleRoot is the checkout a notebook belongs to: the parent of the notebook's directory,
// which GoNB passes as GONB_DIR (the working directory when unset).
func ModuleRoot() string {
	dir := os.Getenv("GONB_DIR")
	if dir == "" {
		dir = "."
	}
	return Must(filepath.Abs(filepath.Join(dir, "..")))
}

// Provenance says what produced a notebook's outputs.
type Provenance struct {
	// Commit is the checkout's HEAD; Changed lists the files that differed from it, other than
	// the notebooks' own (whose outputs the run writes): a run that reproduces a commit has
	// none.
	Commit  string
	Changed []string
	// Date is when the run ended; the rest name the machine and the toolchain.
	Date      time.Time
	GoVersion string
	OS, Arch  string
	CPUs      int
}

// ReadProvenance reads the provenance of a run in the checkout root (with git).
func ReadProvenance(root string) (Provenance, error) {
	p := Provenance{Date: time.Now().UTC(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return p, fmt.Errorf("nb: the commit of %s: %w", root, err)
	}
	p.Commit = strings.TrimSpace(string(out))
	out, err = exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		return p, fmt.Errorf("nb: the status of %s: %w", root, err)
	}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if len(line) < 4 {
			continue
		}
		if name := line[3:]; !(strings.HasPrefix(name, "notebooks/") && strings.HasSuffix(name, ".ipynb")) {
			p.Changed = append(p.Changed, name)
		}
	}
	return p, nil
}

// HTML renders p as one paragraph: commit (clean, or the files that differed), date, machine.
func (p Provenance) HTML() string {
	state := "a clean tree (only notebook outputs differ)"
	if len(p.Changed) > 0 {
		state = "<b>uncommitted changes</b> to " + html.EscapeString(strings.Join(p.Changed, ", "))
	}
	return fmt.Sprintf("<p>Run at commit <code>%s</code>, %s; %s UTC; %s, %s/%s, %d CPUs.</p>",
		html.EscapeString(p.Commit), state, p.Date.Format("2006-01-02 15:04"), html.EscapeString(p.GoVersion), p.OS, p.Arch, p.CPUs)
}

// Table renders a header row and rows as an HTML table; cells are HTML (escape text with
// html.EscapeString), and cells that read as numbers are right-aligned.
func Table(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString(`<table style="border-collapse:collapse;font-size:12px;margin:4px 0 12px 0"><tr>`)
	for _, h := range header {
		fmt.Fprintf(&b, `<th style="padding:2px 8px;border-bottom:1px solid #999">%s</th>`, html.EscapeString(h))
	}
	b.WriteString("</tr>")
	for _, r := range rows {
		b.WriteString("<tr>")
		for _, c := range r {
			align := "left"
			if _, err := strconv.ParseFloat(strings.TrimRight(strings.ReplaceAll(c, ",", ""), "%"), 64); err == nil {
				align = "right"
			}
			fmt.Fprintf(&b, `<td style="padding:2px 8px;text-align:%s;vertical-align:top;border-top:1px solid #eee">%s</td>`, align, c)
		}
		b.WriteString("</tr>")
	}
	return b.String() + "</table>"
}

// LiveLog is an io.Writer for a library's progress lines (realm.RunConfig.Log and the like)
// that shows the last Lines of them, and the time since the first, through Update (in GoNB:
// func(h string) { gonbui.UpdateHTML(id, h) }), so that a long cell shows its progress while
// it runs. It is safe for concurrent use.
type LiveLog struct {
	// Update receives the HTML to display.
	Update func(html string)
	// Lines is how many of the latest lines to show (0: 8).
	Lines int

	mu    sync.Mutex
	start time.Time
	part  string
	last  []string
}

var _ io.Writer = (*LiveLog)(nil)

// Write appends p's complete lines and updates the display.
func (l *LiveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = time.Now()
	}
	n := l.Lines
	if n <= 0 {
		n = 8
	}
	text := l.part + string(p)
	lines := strings.Split(text, "\n")
	l.part = lines[len(lines)-1]
	for _, line := range lines[:len(lines)-1] {
		l.last = append(l.last, line)
	}
	if len(l.last) > n {
		l.last = l.last[len(l.last)-n:]
	}
	if l.Update != nil {
		l.Update(fmt.Sprintf(`<pre style="font-size:11px;margin:0">%s</pre><small>%s elapsed</small>`,
			html.EscapeString(strings.Join(l.last, "\n")), time.Since(l.start).Round(time.Second)))
	}
	return len(p), nil
}
