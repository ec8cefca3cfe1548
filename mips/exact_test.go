package mips

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// bruteForce is the reference: float64 inner products, full sort.
func bruteForce(vectors []float32, ids []int64, dim int, q []float32, k int) []Result {
	n := len(vectors) / dim
	rs := make([]Result, n)
	for i := 0; i < n; i++ {
		var s float64
		for j := 0; j < dim; j++ {
			s += float64(vectors[i*dim+j]) * float64(q[j])
		}
		rs[i] = Result{ID: ids[i], Score: float32(s)}
	}
	sortResults(rs)
	return rs[:min(k, n)]
}

func TestExactMatchesBruteForce(t *testing.T) {
	for _, tc := range []struct{ n, d, nq, k int }{
		{1, 8, 1, 5}, {17, 3, 2, 4}, {100, 16, 1, 10}, {1000, 128, 7, 10}, {2049, 33, 13, 20}, {300, 64, 256, 300},
	} {
		t.Run(fmt.Sprintf("n%d_d%d_q%d_k%d", tc.n, tc.d, tc.nq, tc.k), func(t *testing.T) {
			docs, qs := Clustered(uint64(tc.n), tc.n, tc.nq, tc.d, 10)
			rng := rand.New(rand.NewPCG(1, 2))
			ids := make([]int64, tc.n)
			for i := range ids {
				ids[i] = rng.Int64N(1 << 40)
			}
			ix, err := NewExact(docs, ids, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ix.Search(qs, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.nq {
				t.Fatalf("got %d result lists, want %d", len(got), tc.nq)
			}
			for q := 0; q < tc.nq; q++ {
				want := bruteForce(docs, ids, tc.d, qs[q*tc.d:(q+1)*tc.d], tc.k)
				if len(got[q]) != len(want) {
					t.Fatalf("query %d: %d results, want %d", q, len(got[q]), len(want))
				}
				for i := range want {
					g, w := got[q][i], want[i]
					diff := g.Score - w.Score
					if diff < 0 {
						diff = -diff
					}
					if diff > 1e-3*(1+abs32(w.Score)) {
						t.Fatalf("query %d rank %d: score %v, want %v", q, i, g.Score, w.Score)
					}
					if g.ID != w.ID && diff > 1e-4 {
						t.Errorf("query %d rank %d: id %d, want %d", q, i, g.ID, w.ID)
					}
				}
			}
		})
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestExactTiesAndLargeK(t *testing.T) {
	// 40 identical documents: every score ties, so order must follow ids.
	const n, d = 40, 8
	docs := make([]float32, n*d)
	for i := range docs {
		docs[i] = 1
	}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64((i * 17) % n * 3) // a permutation of multiples of 3.
	}
	ix, err := NewExact(docs, ids, d)
	if err != nil {
		t.Fatal(err)
	}
	q := make([]float32, 3*d) // single path would be used for 1, batch for 3.
	for i := range q {
		q[i] = 0.5
	}
	for _, nq := range []int{1, 3} {
		got, err := ix.Search(q[:nq*d], 100)
		if err != nil {
			t.Fatal(err)
		}
		for qi := range got {
			if len(got[qi]) != n {
				t.Fatalf("k>N: got %d results, want %d", len(got[qi]), n)
			}
			for i, r := range got[qi] {
				if r.ID != int64(3*i) || r.Score != 4 {
					t.Fatalf("rank %d: got %+v, want id %d score 4", i, r, 3*i)
				}
			}
		}
		top, _ := ix.Search(q[:nq*d], 5)
		for i, r := range top[0] {
			if r.ID != int64(3*i) {
				t.Fatalf("k=5 rank %d: id %d, want %d", i, r.ID, 3*i)
			}
		}
	}
}

func TestExactErrors(t *testing.T) {
	if _, err := NewExact(make([]float32, 10), nil, 3); err == nil {
		t.Error("10 floats with dim 3: want error")
	}
	if _, err := NewExact(make([]float32, 9), []int64{1}, 3); err == nil {
		t.Error("3 vectors, 1 id: want error")
	}
	ix, err := NewExact(make([]float32, 9), nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Search(make([]float32, 4), 1); err == nil {
		t.Error("query of 4 floats on dim 3: want error")
	}
	if r, err := ix.Search(make([]float32, 3), 0); err != nil || len(r) != 1 || len(r[0]) != 0 {
		t.Errorf("k=0: got %v, %v", r, err)
	}
	if ix.Len() != 3 || ix.Dim() != 3 {
		t.Errorf("Len, Dim = %d, %d", ix.Len(), ix.Dim())
	}
	v := ix.Vector(2, nil)
	if len(v) != 3 {
		t.Errorf("Vector: %v", v)
	}
}

var benchSizes = []int{100_000}

func BenchmarkExactSingle(b *testing.B) {
	for _, n := range benchSizes {
		docs, qs := Clustered(1, n, 256, 128, 100)
		ix, _ := NewExact(docs, nil, 128)
		b.Run(fmt.Sprintf("N%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				q := qs[(i%256)*128 : (i%256+1)*128]
				if _, err := ix.Search(q, 10); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}

func BenchmarkExactBatch256(b *testing.B) {
	for _, n := range benchSizes {
		docs, qs := Clustered(1, n, 256, 128, 100)
		ix, _ := NewExact(docs, nil, 128)
		b.Run(fmt.Sprintf("N%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := ix.Search(qs, 10); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "queries/s")
		})
	}
}

// TestExactInPlace builds the same index as NewExact from vectors it takes over: in the slice
// given when its capacity is ExactCap, through one copy otherwise.
func TestExactInPlace(t *testing.T) {
	for _, tc := range []struct{ n, d int }{{1, 8}, {17, 3}, {64, 16}, {1000, 128}, {2049, 33}} {
		for _, roomy := range []bool{true, false} {
			docs, qs := Clustered(uint64(tc.n), tc.n, 5, tc.d, 10)
			want, err := NewExact(docs, nil, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			in := docs
			if roomy {
				in = make([]float32, len(docs), ExactCap(tc.n, tc.d))
				copy(in, docs)
			}
			got, err := NewExactInPlace(in, nil, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if roomy && &got.panels[0] != &in[0] {
				t.Errorf("n=%d d=%d: the index did not reuse a slice of capacity ExactCap", tc.n, tc.d)
			}
			if fmt.Sprint(got.panels) != fmt.Sprint(want.panels) || got.nPanels != want.nPanels {
				t.Fatalf("n=%d d=%d roomy=%v: panels differ from NewExact's", tc.n, tc.d, roomy)
			}
			a, _ := want.Search(qs, 7)
			b, _ := got.Search(qs, 7)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("n=%d d=%d: search %v, NewExact's %v", tc.n, tc.d, b, a)
			}
		}
	}
}
