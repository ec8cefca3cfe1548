//go:build !race

// The race detector enables checkptr, which aborts inside gomlx/compute v0.1.2's own
// small-matmul kernel (internal/gobackend/dot/matmul/avx512_small.go:358, "pointer
// arithmetic result points to invalid allocation") before any mips code runs; this test
// therefore runs only in non-race builds. GraphExact holds no shared mutable state
// beyond a mutex-guarded Exec cache.

package mips

import (
	"testing"

	"github.com/realm-go/realm/layers/backend"
)

func TestGraphExactAgreesWithExact(t *testing.T) {
	const n, d = 3000, 32
	docs, qs := Clustered(31, n, 17, d, 12)
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(n - i) // reversed, so id order differs from row order.
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGraphExact(b, docs, ids, d)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ex, _ := NewExact(docs, ids, d)
	for _, k := range []int{1, 10} {
		want, _ := ex.Search(qs, k)
		for _, batch := range []int{1, 17} {
			got, err := g.Search(qs[:batch*d], k)
			if err != nil {
				t.Fatal(err)
			}
			if r := Recall(got, want[:batch]); r != 1 {
				t.Errorf("k=%d batch=%d: graph search recall vs Exact = %v", k, batch, r)
			}
			for q := range got {
				for i := range got[q] {
					if diff := abs32(got[q][i].Score - want[q][i].Score); diff > 1e-3*(1+abs32(want[q][i].Score)) {
						t.Errorf("q%d rank %d: score %v vs %v", q, i, got[q][i].Score, want[q][i].Score)
					}
				}
			}
		}
	}
	// Ties across the row/id order: identical documents must come back by ascending id.
	same := make([]float32, 20*4)
	for i := range same {
		same[i] = 1
	}
	tg, err := NewGraphExact(b, same, []int64{19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	res, err := tg.Search([]float32{1, 1, 1, 1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res[0] {
		if r.ID != int64(i) {
			t.Errorf("tie rank %d: id %d, want %d", i, r.ID, i)
		}
	}
}
