package bm25

import (
	"context"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/realm-go/realm/internal/realmtest"
)

// TestBM25HandComputed checks BM25 scores on a 3-block corpus against the formula evaluated by
// hand from the word counts.
func TestBM25HandComputed(t *testing.T) {
	c := realmtest.Corpus(t, []string{"Cats", "Dogs", "Birds"}, []string{
		"The cat sat on the mat.",              // cats the cat sat on the mat: 7 words
		"The dog chased the cat; the cat ran.", // dogs the dog chased the cat the cat ran: 9 words
		"Birds fly, a bird sang.",              // birds birds fly a bird sang: 6 words
	})
	m, err := New(c, Params{K1: 1.2, B: 0.75})
	if err != nil {
		t.Fatal(err)
	}
	if got := Words("Kabul's U.S. Ça"); !slices.Equal(got, []string{"kabul", "s", "u", "s", "ça"}) {
		t.Errorf("BM25Words = %q", got)
	}
	avgdl := 22.0 / 3
	tfPart := func(tf, dl float64) float64 { return tf * 2.2 / (tf + 1.2*(0.25+0.75*dl/avgdl)) }
	idfCat := math.Log(1 + (3-2+0.5)/(2+0.5))   // "cat" is in 2 blocks
	idfBirds := math.Log(1 + (3-1+0.5)/(1+0.5)) // "birds" in 1 (title and body: tf 2)
	idfThe := math.Log(1 + (3-2+0.5)/(2+0.5))
	want := []float64{
		idfCat * tfPart(1, 7),
		idfCat * tfPart(2, 9),
		idfBirds * tfPart(2, 6),
	}
	for id, w := range want {
		if got := m.Score("cat BIRDS?", int64(id)); math.Abs(got-w) > 1e-9 {
			t.Errorf("block %d: score %v, hand computation %v", id, got, w)
		}
	}
	// A repeated query word counts twice; "the" has tf 2 in block 0 and 3 in block 1.
	if got, w := m.Score("the the", 0), 2*idfThe*tfPart(2, 7); math.Abs(got-w) > 1e-9 {
		t.Errorf("score of a repeated word %v, want %v", got, w)
	}
	res := m.Search("cat birds", 3)
	Order := []int64{res[0].ID, res[1].ID, res[2].ID}
	wantOrder := []int64{0, 1, 2}
	slices.SortFunc(wantOrder, func(a, b int64) int { return bm25CmpDesc(want[a], want[b]) })
	if !slices.Equal(Order, wantOrder) {
		t.Errorf("ranking %v, want %v (scores %v)", Order, wantOrder, want)
	}
	for i, r := range res {
		if math.Abs(float64(r.Score)-want[r.ID]) > 1e-5 {
			t.Errorf("result %d: score %v, want %v", i, r.Score, want[r.ID])
		}
	}
	// Ties (no word in common) come back by ascending id; k is capped at the corpus size.
	res = m.Search("zebra", 10)
	if len(res) != 3 || res[0].ID != 0 || res[1].ID != 1 || res[2].ID != 2 || res[0].Score != 0 {
		t.Errorf("search with no match = %v", res)
	}
	got, err := m.Retrieve(context.Background(), []string{"dog", "mat"}, 1)
	if err != nil || got[0][0].ID != 1 || got[1][0].ID != 0 {
		t.Errorf("Retrieve = %v, %v", got, err)
	}
	if _, err := New(c, Params{K1: 1, B: 2}); err == nil {
		t.Error("b = 2 accepted")
	}
}

func bm25CmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// TestHardNegativeNeighbours checks the look-alikes on a constructed corpus (the nearest block of
// another title, never one of the same title) and on the Factbook, where a block's look-alike
// must mostly be the same section of another country: the negatives ICT lacks at random.
func TestHardNegativeNeighbours(t *testing.T) {
	c := realmtest.Corpus(t, []string{"Aland", "Aland", "Borduria", "Borduria"}, []string{
		"Climate of Aland: cold winters, wet summers.", "Exports of Aland: timber, fish, tin.",
		"Exports of Borduria: fish, tin, copper.", "Climate of Borduria: dry winters, wet summers.",
	})
	got, err := HardNegativeNeighbours(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int64{{3}, {2}, {1}, {0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("look-alikes %v, want %v (same field, other title)", got, want)
	}

	_, fb := realmtest.SmallFactbook(t, 40) // four countries, ten sections each.
	nb, err := HardNegativeNeighbours(fb, 3)
	if err != nil {
		t.Fatal(err)
	}
	section := func(id int64) string { return fb.Blocks[id].DocID[strings.Index(fb.Blocks[id].DocID, "/"):] }
	same, with := 0, 0
	for i, ids := range nb {
		for _, id := range ids {
			if id == int64(i) || fb.Blocks[id].Title == fb.Blocks[i].Title {
				t.Fatalf("block %d (%s) has look-alike %d of the same title", i, fb.Blocks[i].Title, id)
			}
		}
		if len(ids) > 0 {
			with++
			if section(ids[0]) == section(int64(i)) {
				same++
			}
		}
	}
	t.Logf("%d of %d Factbook blocks have look-alikes; the first is the same section for %d", with, fb.Len(), same)
	if with < fb.Len()*9/10 || same < with*8/10 {
		t.Errorf("%d of %d blocks have look-alikes, %d of them of the same section: want ≥ 90%% and ≥ 80%%", with, fb.Len(), same)
	}
}
