package spans

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/realm-go/realm/data/blocks"
	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/tokenize"
)

var (
	setupOnce sync.Once
	tok       *tokenize.Tokenizer
	gaz       *Gazetteer
	docText   map[string]string
	setupErr  error
)

// setup builds the Factbook gazetteer and tokenizer once per test binary.
func setup(tb testing.TB) {
	setupOnce.Do(func() {
		if tok, setupErr = tokenize.Default(); setupErr != nil {
			return
		}
		docText = map[string]string{}
		for d, err := range corpus.Factbook() {
			if err != nil {
				setupErr = err
				return
			}
			docText[d.ID] = d.Text
		}
		gaz, setupErr = BuildGazetteer(corpus.Factbook(), GazetteerOptions{})
	})
	if setupErr != nil {
		tb.Fatal(setupErr)
	}
}

// factbookSentence returns the sentence of Factbook document id that
// contains sub, read from the embedded corpus.
func factbookSentence(t *testing.T, id, sub string) string {
	t.Helper()
	text, ok := docText[id]
	if !ok {
		t.Fatalf("no Factbook document %q", id)
	}
	for _, s := range blocks.SplitSentences(text) {
		if strings.Contains(text[s.Start:s.End], sub) {
			return text[s.Start:s.End]
		}
	}
	t.Fatalf("no sentence of %s contains %q", id, sub)
	return ""
}

func tagged(text string, spans []Span) map[string]Kind {
	m := map[string]Kind{}
	for _, s := range spans {
		m[text[s.Start:s.End]] = s.Kind
	}
	return m
}

func TestRuleTaggerFactbook(t *testing.T) {
	setup(t)
	tagger := RuleTagger{Gazetteer: gaz}
	cases := []struct {
		id, sub string
		want    map[string]Kind
		absent  []string
	}{
		{"fr/government", "chief of state", map[string]Kind{"Francois HOLLANDE": Entity, "15 May 2012": Date}, []string{"President"}},
		{"fr/government", "Independence of France: no official", map[string]Kind{"10 August 843": Date, "14 July 1789": Date, "4 October 1958": Date, "22 September 1792": Date}, nil},
		{"fr/geography", "Area - total", map[string]Kind{"643,801 sq km": Quantity, "551,500 sq km": Quantity, "France": Entity}, []string{"Area"}},
		{"fr/geography", "highest point", map[string]Kind{"Mont Blanc": Entity, "4,807 m": Quantity}, []string{"Elevation"}},
		{"bl/government", "Capital - name of Bolivia", map[string]Kind{"La Paz": Entity, "Sucre": Entity, "Bolivia": Entity}, []string{"Capital"}},
		{"bl/government", "Independence of Bolivia:", map[string]Kind{"6 August 1825": Date, "Spain": Entity, "Bolivia": Entity}, nil},
		{"us/introduction", "Treaty of Paris", map[string]Kind{"1776": Date, "1783": Date, "United States of America": Entity, "Treaty of Paris": Entity}, []string{"Background"}},
		{"ja/introduction", "Treaty of Kanagawa", map[string]Kind{"Japan": Entity, "1854": Date}, nil},
		{"fr/introduction", "rejoined NATO", map[string]Kind{"NATO": Entity, "2009": Date, "1966": Date}, nil},
	}
	for _, c := range cases {
		s := factbookSentence(t, c.id, c.sub)
		got := tagged(s, tagger.Tag(s))
		for w, k := range c.want {
			if got[w] != k {
				t.Errorf("%s %q: %q tagged %v, want %v (all: %v)", c.id, s, w, got[w], k, got)
			}
		}
		for _, w := range c.absent {
			if _, ok := got[w]; ok {
				t.Errorf("%s: %q tagged as a salient span", c.id, w)
			}
		}
	}
}

func TestGrammar(t *testing.T) {
	text := "In the 1990s, on 1 January 2000 and in July 1967, 37.5% of 2,149 km and $1.2 billion; 12 units; July 12, 1967."
	got := tagged(text, Grammar{}.Tag(text))
	want := map[string]Kind{"1990s": Date, "1 January 2000": Date, "July 1967": Date, "37.5%": Quantity, "2,149 km": Quantity, "$1.2 billion": Quantity, "July 12, 1967": Date}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Grammar.Tag:\n got %v\nwant %v", got, want)
	}
}

func TestGazetteer(t *testing.T) {
	docs := func(yield func(corpus.Document, error) bool) {
		for i := range 3 {
			if !yield(corpus.Document{ID: fmt.Sprint(i), Title: "Ruritania", Text: "The capital is Strelsau City. Trade with the Bank of Ruritania grew. In Zenda people voted. Zenda grew."}, nil) {
				return
			}
		}
	}
	g, err := BuildGazetteer(docs, GazetteerOptions{MinCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"Ruritania": true, "Strelsau City": true, "Bank of Ruritania": true, "Zenda": true, "The": false, "Trade": false, "In Zenda": false, "In": false} {
		if g.Contains(name) != want {
			t.Errorf("Contains(%q) = %v, want %v", name, !want, want)
		}
	}
	text := "Ruritania's Bank of Ruritania is in Strelsau City."
	if got := tagged(text, g.Tag(text)); !reflect.DeepEqual(got, map[string]Kind{"Ruritania": Entity, "Bank of Ruritania": Entity, "Strelsau City": Entity}) {
		t.Errorf("Tag = %v", got)
	}
}

func TestMaskerFactbook(t *testing.T) {
	setup(t)
	m := NewMasker(RuleTagger{Gazetteer: gaz}, tok)
	s := factbookSentence(t, "fr/government", "chief of state")
	pieces := tok.Tokenize(s)
	seen := map[string]int{}
	for seed := range uint64(40) {
		mk := m.Mask(s, pieces, rand.New(rand.NewPCG(seed, 1)))
		if !mk.Salient || len(mk.Positions) == 0 {
			t.Fatalf("seed %d: no salient span masked: %+v", seed, mk)
		}
		// The masked pieces are exactly the whole words of the span.
		first, last := pieces[mk.Positions[0]], pieces[mk.Positions[len(mk.Positions)-1]]
		if s[first.Start:last.End] != s[mk.Span.Start:mk.Span.End] {
			t.Errorf("masked %q for span %q", s[first.Start:last.End], s[mk.Span.Start:mk.Span.End])
		}
		for k := 1; k < len(mk.Positions); k++ {
			if mk.Positions[k] != mk.Positions[k-1]+1 {
				t.Fatalf("positions not contiguous: %v", mk.Positions)
			}
		}
		seen[s[mk.Span.Start:mk.Span.End]]++
	}
	if len(seen) < 2 {
		t.Errorf("40 seeds always masked the same span: %v", seen)
	}
	// Same seed, same masking.
	a := m.Mask(s, pieces, rand.New(rand.NewPCG(7, 7)))
	b := m.Mask(s, pieces, rand.New(rand.NewPCG(7, 7)))
	if !reflect.DeepEqual(a, b) {
		t.Error("Mask is not deterministic for a seed")
	}

	// No salient span: random whole words, counted.
	before := m.Stats()
	plain := "the river flows slowly through green hills and quiet valleys toward the distant coastline"
	pp := tok.Tokenize(plain)
	mk := m.Mask(plain, pp, rand.New(rand.NewPCG(3, 3)))
	if mk.Salient || len(mk.Positions) == 0 {
		t.Fatalf("fallback masking: %+v", mk)
	}
	for _, p := range mk.Positions {
		if p > 0 && tok.IsContinuation(pp[p].ID) && !contains(mk.Positions, p-1) {
			t.Errorf("fallback masked a word partially at %d", p)
		}
	}
	after := m.Stats()
	if after.Fallback != before.Fallback+1 || after.Sentences != before.Sentences+1 {
		t.Errorf("stats before %+v after %+v", before, after)
	}
	if m.Mask("", nil, rand.New(rand.NewPCG(1, 1))).Positions != nil || m.Stats().Empty != 1 {
		t.Error("empty sentence")
	}
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestPieceRange(t *testing.T) {
	setup(t)
	text := "in the 1990s unaffable"
	ps := tok.Tokenize(text)
	i, j := PieceRange(tok, ps, Span{Start: strings.Index(text, "1990s"), End: strings.Index(text, "1990s") + 5})
	if got := text[ps[i].Start:ps[j-1].End]; got != "1990s" {
		t.Errorf("PieceRange covers %q", got)
	}
	// A span inside a word widens to the whole word.
	k := strings.Index(text, "affable")
	i, j = PieceRange(tok, ps, Span{Start: k, End: k + 3})
	if got := text[ps[i].Start:ps[j-1].End]; got != "unaffable" {
		t.Errorf("PieceRange inside a word covers %q", got)
	}
}

func TestRuleTaggerKinds(t *testing.T) {
	g := NewGazetteer("France")
	text := "Population of France: 66,836,154 (July 2016 est.); 1990 people voted."
	all := tagged(text, RuleTagger{Gazetteer: g}.Tag(text))
	want := map[string]Kind{"France": Entity, "66,836,154": Quantity, "July 2016": Date, "1990 people": Quantity}
	for span, k := range want {
		if all[span] != k {
			t.Errorf("all kinds: %q tagged %v, want %v (got %v)", span, all[span], k, all)
		}
	}
	if len(all) != len(want) {
		t.Errorf("all kinds: got %v, want %v", all, want)
	}
	ents := tagged(text, RuleTagger{Gazetteer: g, Kinds: KindsOf(Entity)}.Tag(text))
	if len(ents) != 1 || ents["France"] != Entity {
		t.Errorf("entities only: got %v, want France alone", ents)
	}
	// "1990 people" (a quantity) hides the year 1990 when every kind is tagged; without
	// quantities the year must come back.
	dates := tagged(text, RuleTagger{Gazetteer: g, Kinds: KindsOf(Date)}.Tag(text))
	if len(dates) != 2 || dates["July 2016"] != Date || dates["1990"] != Date {
		t.Errorf("dates only: got %v, want July 2016 and 1990", dates)
	}
}

func TestParseKinds(t *testing.T) {
	for _, c := range []struct {
		text string
		want Kinds
	}{{"all", AllKinds}, {"entity", KindsOf(Entity)}, {"entity, date", KindsOf(Entity, Date)}, {"dates,quantities,entities", AllKinds}} {
		got, err := ParseKinds(c.text)
		if err != nil || got != c.want {
			t.Errorf("ParseKinds(%q) = %v, %v; want %v", c.text, got, err, c.want)
			continue
		}
		b, _ := got.MarshalText()
		var back Kinds
		if err := back.UnmarshalText(b); err != nil || back != got {
			t.Errorf("%v: text %q reads back as %v, %v", got, b, back, err)
		}
	}
	if _, err := ParseKinds("entity,person"); err == nil || !strings.Contains(err.Error(), `"person"`) {
		t.Errorf(`ParseKinds("entity,person"): error %v, want one naming "person"`, err)
	}
	if _, err := ParseKinds(""); err == nil {
		t.Error(`ParseKinds(""): no error`)
	}
}

func TestKindsString(t *testing.T) {
	for k, want := range map[Kinds]string{0: "all", AllKinds: "all", KindsOf(Entity): "entity", KindsOf(Date, Entity): "entity,date"} {
		if got := k.String(); got != want {
			t.Errorf("Kinds(%#b).String() = %q, want %q", uint8(k), got, want)
		}
	}
}
