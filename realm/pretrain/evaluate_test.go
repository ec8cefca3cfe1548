package pretrain

import (
	"math"
	"strings"
	"testing"

	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/internal/realmtest"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/evaluate"
)

// recallPretrainer is a Pretrainer over a 6-block corpus of 3 titles, two blocks each, for the
// recall tests.
func recallPretrainer(t *testing.T) *Pretrainer {
	t.Helper()
	c := realmtest.Corpus(t, []string{"Aland", "Aland", "Borduria", "Borduria", "Carpania", "Carpania"}, []string{
		"River Zorn flows north.", "Zorn fish are caught in spring.",
		"The capital is Szohod.", "Szohod hosts a palace.",
		"Lake Vel freezes.", "Vel is deep; Zorn too.",
	})
	return &Pretrainer{Cfg: realm.DefaultConfig(), Corpus: c}
}

// TestRecalls checks same-title and answer recall, and their exact chance levels, on
// hand-made retrieved lists over a 6-block corpus of 3 titles.
func TestRecalls(t *testing.T) {
	p := recallPretrainer(t)
	c := p.Corpus
	pieces := func(text string) []int32 {
		var ids []int32
		for _, w := range c.Tok.Tokenize(text) {
			ids = append(ids, w.ID)
		}
		return ids
	}
	zorn := examples.Pretrain{BlockID: 0, Targets: pieces("Zorn"), Salient: true}
	random := examples.Pretrain{BlockID: 2, Targets: pieces("capital"), Salient: false} // not one span: no answer recall.
	exs := []examples.Pretrain{zorn, zorn, random}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

	// Same title: block 1 shares Aland with block 0, block 3 Borduria with block 2.
	r, err := p.SameTitleRecall(exs, [][]int64{{1}, {4}, {3}})
	if err != nil {
		t.Fatal(err)
	}
	// One relevant block among the 5 others for every sentence: chance 1/5 with one draw.
	if r.N != 3 || !near(r.Value, 2.0/3) || !near(r.Random, 0.2) {
		t.Errorf("SameTitleRecall = %+v, want 2/3 of 3, random 0.2", r)
	}
	// Answer: "zorn" is in blocks 1 and 5 besides the source; the non-salient sentence is left out.
	r, err = p.AnswerRecall(exs, [][]int64{{5, 2}, {2, 3}, {0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	// Chance with two draws among 5 blocks of which 2 hold it: 1 − (3/5)(2/4) = 0.7.
	if r.N != 2 || !near(r.Value, 0.5) || !near(r.Random, 0.7) {
		t.Errorf("AnswerRecall = %+v, want 1/2 of 2, random 0.7", r)
	}
	if r.StdErr() <= 0 {
		t.Errorf("StdErr = %v", r.StdErr())
	}
	// The source block never counts, even when listed.
	if r, _ := p.SameTitleRecall(exs[:1], [][]int64{{0}}); r.Value != 0 {
		t.Errorf("the source block counted as a same-title hit")
	}
	if _, err := p.AnswerRecall(exs, [][]int64{{1}}); err == nil {
		t.Error("no error for mismatched lengths")
	}
	if _, err := p.AnswerRecall(exs[2:], [][]int64{{1}}); err == nil {
		t.Error("no error without a salient sentence")
	}
}

// TestTitleNamed checks that a title counts as named only when all its wordpieces are visible.
func TestTitleNamed(t *testing.T) {
	c := realmtest.Corpus(t, []string{"Costa Rica", "Aland"}, []string{"Costa Rica exports coffee.", "River Zorn flows north."})
	p := &Pretrainer{Cfg: realm.DefaultConfig(), Corpus: c}
	ids := []int32{c.Tok.CLS()}
	for _, w := range c.Tok.Tokenize("coffee of Costa Rica") {
		ids = append(ids, w.ID)
	}
	ids = append(ids, c.Tok.SEP())
	n := int32(len(ids))
	for _, tc := range []struct {
		name      string
		block     int64
		positions []int32
		want      bool
	}{
		{"all visible", 0, []int32{1}, true},
		{"half the title masked", 0, []int32{n - 2}, false},
		{"the whole title masked", 0, []int32{n - 3, n - 2}, false},
		{"another block's title", 1, []int32{1}, false},
	} {
		ex := examples.Pretrain{BlockID: tc.block, InputIDs: ids, Positions: tc.positions}
		if got, gotC := p.TitleNamed(ex), c.TitleNamed(ex); got != tc.want || gotC != tc.want {
			t.Errorf("%s: Pretrainer.TitleNamed = %v, Corpus.TitleNamed = %v, want %v", tc.name, got, gotC, tc.want)
		}
	}
}

// TestRecallCompare checks the paired differences against hand-computed values: between two
// retrievers over the same sentences, and between a retriever and its chance level.
func TestRecallCompare(t *testing.T) {
	c := realmtest.Corpus(t, []string{"Aland", "Aland", "Borduria", "Borduria", "Carpania", "Carpania"}, []string{
		"River Zorn flows north.", "Zorn fish are caught in spring.",
		"The capital is Szohod.", "Szohod hosts a palace.",
		"Lake Vel freezes.", "Vel is deep; Zorn too.",
	})
	p := &Pretrainer{Cfg: realm.DefaultConfig(), Corpus: c}
	exs := []examples.Pretrain{{BlockID: 0}, {BlockID: 2}, {BlockID: 4}, {BlockID: 1}}
	a, err := p.SameTitleRecall(exs, [][]int64{{1}, {3}, {5}, {2}}) // hits: 1 1 1 0
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.SameTitleRecall(exs, [][]int64{{1}, {0}, {0}, {0}}) // hits: 1 0 0 1
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.Compare(b)
	if err != nil {
		t.Fatal(err)
	}
	// d = (0, 1, 1, −1): mean 1/4; the sample variance is computed below.
	xs := []float64{0, 1, 1, -1}
	var ss float64
	for _, x := range xs {
		ss += (x - 0.25) * (x - 0.25)
	}
	wantSE := math.Sqrt(ss / 3 / 4)
	if d.N != 4 || d.Wins != 2 || d.Losses != 1 || math.Abs(d.Value-0.25) > 1e-12 || math.Abs(d.StdErr-wantSE) > 1e-12 {
		t.Errorf("Compare = %+v, want value 0.25 ± %.4f, 2 wins, 1 loss", d, wantSE)
	}
	if math.Abs(d.Z()-0.25/wantSE) > 1e-12 {
		t.Errorf("Z = %v", d.Z())
	}
	// A retriever compared with itself: no difference, no error.
	if self, _ := a.Compare(a); self.Value != 0 || self.StdErr != 0 || self.Z() != 0 {
		t.Errorf("self comparison = %+v", self)
	}
	// Over chance: each sentence's chance is 1/5 (one relevant block of 5, one draw).
	oc, err := a.OverChance()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(oc.Value-(0.75-0.2)) > 1e-12 || math.Abs(oc.Value-(a.Value-a.Random)) > 1e-12 || oc.StdErr <= 0 {
		t.Errorf("OverChance = %+v, want 0.55 = Value − Random", oc)
	}
	if _, err := a.Compare(evaluate.Recall{}); err == nil {
		t.Error("no error comparing recalls over different sentences")
	}
	if _, err := (evaluate.Recall{Value: 0.5, N: 2}).OverChance(); err == nil {
		t.Error("no error for a recall without per-sentence hits")
	}
}

// TestRetrieveBM25SameTitle checks the lexical same-title reference (RetrieveBM25 scored by
// SameTitleRecall) on a constructed corpus: a sentence whose visible word occurs only in
// another block of its title is a hit, one whose only same-title clue is masked is not, and the
// source block never counts.
func TestRetrieveBM25SameTitle(t *testing.T) {
	c := realmtest.Corpus(t, []string{"Aland", "Aland", "Borduria", "Borduria", "Carpania", "Carpania"}, []string{
		"River Zorn flows north.", "Zorn fish are caught in spring.",
		"The capital is Szohod.", "Szohod hosts a palace.",
		"Lake Vel freezes.", "Vel is deep.",
	})
	tok := c.Tok
	cfg := realm.DefaultConfig()
	cfg.TopK = 2 // one block besides the source.
	p := &Pretrainer{Cfg: cfg, Corpus: c}
	sentence := func(block int64, text string, masked string) examples.Pretrain {
		ids := []int32{tok.CLS()}
		at := strings.Index(strings.ToLower(text), masked) // the masked word's bytes (ASCII text).
		for _, w := range tok.Tokenize(text) {
			if w.Start >= at && w.End <= at+len(masked) {
				ids = append(ids, tok.MASK())
			} else {
				ids = append(ids, w.ID)
			}
		}
		return examples.Pretrain{BlockID: block, InputIDs: append(ids, tok.SEP())}
	}
	hit := sentence(0, "River Zorn flows north.", "north")  // "zorn" only in block 1 besides the source.
	miss := sentence(2, "The capital is Szohod.", "szohod") // the clue is masked: the visible words lead to another title.
	self := sentence(5, "Vel is deep.", "deep")             // "vel" is also in its own block 5, which must not count.
	for _, tc := range []struct {
		exs  []examples.Pretrain
		want float64
	}{{[]examples.Pretrain{hit}, 1}, {[]examples.Pretrain{miss}, 0}, {[]examples.Pretrain{self}, 1}, {[]examples.Pretrain{hit, miss}, 0.5}} {
		retrieved, err := p.RetrieveBM25(tc.exs)
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.SameTitleRecall(tc.exs, retrieved)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Value; got != tc.want {
			t.Errorf("recall over %d sentences = %v, want %v", len(tc.exs), got, tc.want)
		}
	}
	if _, err := p.SameTitleRecall(nil, nil); err == nil {
		t.Error("no error without sentences")
	}
}
