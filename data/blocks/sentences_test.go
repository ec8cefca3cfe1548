package blocks

import (
	"reflect"
	"testing"
)

func TestSplitSentences(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"One. Two! Three? Four", []string{"One.", "Two!", "Three?", "Four"}},
		{"Inflation was 37.5% in 2014. It fell.", []string{"Inflation was 37.5% in 2014.", "It fell."}},
		{"Mr. Smith met Dr. Jones in St. Louis. They talked.", []string{"Mr. Smith met Dr. Jones in St. Louis.", "They talked."}},
		{"J. R. R. Tolkien wrote it. The U.S. Army and e.g. Fort Knox. Then 1990 came.", []string{"J. R. R. Tolkien wrote it.", "The U.S. Army and e.g. Fort Knox.", "Then 1990 came."}},
		{"Line one\nline two.\n\n  Line three.  ", []string{"Line one", "line two.", "Line three."}},
		{`He said "Stop." Then left. (It rained.) Next`, []string{`He said "Stop."`, "Then left.", "(It rained.)", "Next"}},
		{"GDP grew 3.2% (2014 est.) and 2.9% (2013 est.). Exports rose.", []string{"GDP grew 3.2% (2014 est.) and 2.9% (2013 est.).", "Exports rose."}},
		{"no split after lowercase. start", []string{"no split after lowercase. start"}},
		{"", nil},
		{"   \n ", nil},
	}
	for _, c := range cases {
		var got []string
		for _, s := range SplitSentences(c.text) {
			got = append(got, c.text[s.Start:s.End])
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitSentences(%q)\n got %q\nwant %q", c.text, got, c.want)
		}
	}
}
