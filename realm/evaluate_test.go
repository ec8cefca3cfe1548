package realm

import (
	"math"
	"testing"

	"github.com/realm-go/realm/data/examples"
)

// recallPretrainer is a Pretrainer over a 6-block corpus of 3 titles, two blocks each, for the
// recall tests.
func recallPretrainer(t *testing.T) *Pretrainer {
	t.Helper()
	c := bm25Corpus(t, []string{"Aland", "Aland", "Borduria", "Borduria", "Carpania", "Carpania"}, []string{
		"River Zorn flows north.", "Zorn fish are caught in spring.",
		"The capital is Szohod.", "Szohod hosts a palace.",
		"Lake Vel freezes.", "Vel is deep; Zorn too.",
	})
	return &Pretrainer{Cfg: DefaultConfig(), Corpus: c}
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
	c := bm25Corpus(t, []string{"Costa Rica", "Aland"}, []string{"Costa Rica exports coffee.", "River Zorn flows north."})
	p := &Pretrainer{Cfg: DefaultConfig(), Corpus: c}
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
	c := bm25Corpus(t, []string{"Aland", "Aland", "Borduria", "Borduria", "Carpania", "Carpania"}, []string{
		"River Zorn flows north.", "Zorn fish are caught in spring.",
		"The capital is Szohod.", "Szohod hosts a palace.",
		"Lake Vel freezes.", "Vel is deep; Zorn too.",
	})
	p := &Pretrainer{Cfg: DefaultConfig(), Corpus: c}
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
	if _, err := a.Compare(Recall{}); err == nil {
		t.Error("no error comparing recalls over different sentences")
	}
	if _, err := (Recall{Value: 0.5, N: 2}).OverChance(); err == nil {
		t.Error("no error for a recall without per-sentence hits")
	}
}
