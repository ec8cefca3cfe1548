package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realm-go/realm/data/spans"
)

// TestRun writes the sentences of 30 Factbook documents and checks what an analysis reads:
// every sentence masked, the held-out share, and both named and unnamed sentences present,
// with "named" meaning the title is still readable in the masked text.
func TestRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "probe.json")
	if err := run(out, "", 30, 48, 96, 10, 1, 0.2, spans.KindsOf(spans.Entity)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var o output
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	held, named := 0, 0
	for _, r := range o.Examples {
		if !strings.Contains(r.Masked, "[MASK]") || r.Title == "" || r.Vec != nil {
			t.Fatalf("record %+v: want a masked sentence with a title and no vector", r)
		}
		if r.HeldOut {
			held++
		}
		if r.Named {
			named++
			if !strings.Contains(r.Masked, strings.ToLower(r.Title)) {
				t.Errorf("%q is named but does not show %q", r.Masked, r.Title)
			}
		}
	}
	n := len(o.Examples)
	if n < 100 || held < n/10 || held > n*3/10 || named == 0 || named == n {
		t.Errorf("%d sentences, %d held out, %d named", n, held, named)
	}
	if o.Salient != "entity" || o.Docs != 30 {
		t.Errorf("header %+v", o)
	}
}
