// Package bm25 is the sparse lexical retriever Okapi BM25 over a realm.Corpus: the open-QA
// baseline (openqa.RetrieverBM25), the lexical reference of pre-training's retrieval evaluation
// (pretrain.Pretrainer.RetrieveBM25) and the source of ICT's hard negatives
// (HardNegativeNeighbours, for pretrain.TrainICT). It has a package of its own so that both
// pretrain and openqa use it without importing each other.
package bm25

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unicode"

	"github.com/realm-go/realm/mips"
	"github.com/realm-go/realm/realm"
)

// Params are the free parameters of Okapi BM25.
type Params struct {
	// K1 saturates term frequency (1.2 in the classic setting; 0.9 in Anserini's defaults).
	K1 float64 `json:"k1"`
	// B is the strength of document-length normalisation (0.75 classic; 0.4 Anserini).
	B float64 `json:"b"`
}

// DefaultParams are Robertson's classic k1 = 1.2, b = 0.75.
func DefaultParams() Params { return Params{K1: 1.2, B: 0.75} }

// Words is the BM25 baseline's tokenisation: the maximal runs of Unicode letters and digits
// of text, lower-cased (strings.ToLower). No stemming, no stop words, no accent folding;
// punctuation and whitespace separate words ("U.S." → u, s; "Kabul's" → kabul, s).
func Words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

type bm25Posting struct {
	doc int32
	tf  int32
}

// Index is Okapi BM25 over the blocks of a realm.Corpus (each block's title and body, tokenised
// by Words), with an inverted index:
//
//	score(q, d) = Σ_{t ∈ q} qtf(t) · IDF(t) · tf(t,d)·(k1+1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl))
//	IDF(t)      = ln(1 + (N − n(t) + 0.5) / (n(t) + 0.5))
//
// where tf is the number of occurrences of t in d, |d| the number of words of d, avgdl their mean
// over the corpus, n(t) the number of blocks containing t, and qtf(t) the number of times t
// occurs in the query (Lucene's non-negative IDF; each query word occurrence counts). It is safe
// for concurrent Search calls.
type Index struct {
	// Params are k1 and b.
	Params   Params
	c        *realm.Corpus
	postings map[string][]bm25Posting
	docLen   []float64
	avgdl    float64
}

// New indexes every block of c.
func New(c *realm.Corpus, p Params) (*Index, error) {
	if p.K1 < 0 || p.B < 0 || p.B > 1 {
		return nil, fmt.Errorf("realm bm25: need k1 ≥ 0 and b in [0, 1], got k1=%g b=%g", p.K1, p.B)
	}
	idx := &Index{Params: p, c: c, postings: map[string][]bm25Posting{}, docLen: make([]float64, c.Len())}
	total := 0.0
	for i, b := range c.Blocks {
		tf := map[string]int32{}
		words := append(Words(b.Title), Words(b.Body)...)
		for _, w := range words {
			tf[w]++
		}
		for w, n := range tf {
			idx.postings[w] = append(idx.postings[w], bm25Posting{doc: int32(i), tf: n})
		}
		idx.docLen[i] = float64(len(words))
		total += float64(len(words))
	}
	idx.avgdl = total / float64(max(c.Len(), 1))
	if idx.avgdl == 0 {
		idx.avgdl = 1
	}
	return idx, nil
}

// IDF is ln(1 + (N − n(t) + 0.5)/(n(t) + 0.5)) for the (already lower-cased) word t.
func (m *Index) IDF(t string) float64 {
	N, n := float64(len(m.docLen)), float64(len(m.postings[t]))
	return math.Log(1 + (N-n+0.5)/(n+0.5))
}

// Score is the BM25 score of block id for query.
func (m *Index) Score(query string, id int64) float64 {
	s := 0.0
	for _, t := range Words(query) {
		for _, p := range m.postings[t] {
			if int64(p.doc) == id {
				s += m.term(t, p)
				break
			}
		}
	}
	return s
}

func (m *Index) term(t string, p bm25Posting) float64 {
	tf := float64(p.tf)
	norm := m.Params.K1 * (1 - m.Params.B + m.Params.B*m.docLen[p.doc]/m.avgdl)
	return m.IDF(t) * tf * (m.Params.K1 + 1) / (tf + norm)
}

// Search returns the k best blocks for query by descending BM25 score, ties broken by ascending
// block id (as the mips indexes do). Blocks sharing no word with the query score 0 and are
// returned only to fill k.
func (m *Index) Search(query string, k int) []mips.Result {
	k = min(k, len(m.docLen))
	scores := make([]float64, len(m.docLen))
	for _, t := range Words(query) {
		for _, p := range m.postings[t] {
			scores[p.doc] += m.term(t, p)
		}
	}
	h := &bm25Heap{}
	for d, s := range scores {
		r := mips.Result{ID: int64(d), Score: float32(s)}
		if h.Len() < k {
			heap.Push(h, r)
		} else if k > 0 && bm25Better(r, (*h)[0]) {
			(*h)[0] = r
			heap.Fix(h, 0)
		}
	}
	out := make([]mips.Result, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(mips.Result)
	}
	return out
}

// Name implements openqa.QARetriever.
func (m *Index) Name() string { return "bm25" }

// Retrieve implements openqa.QARetriever: Search for each question.
func (m *Index) Retrieve(ctx context.Context, questions []string, k int) ([][]mips.Result, error) {
	out := make([][]mips.Result, len(questions))
	for i, q := range questions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out[i] = m.Search(q, k)
	}
	return out, nil
}

// bm25Better orders results by descending score, then ascending id.
func bm25Better(a, b mips.Result) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.ID < b.ID
}

// bm25Heap is a min-heap of the k best results (its root is the worst of them).
type bm25Heap []mips.Result

func (h bm25Heap) Len() int           { return len(h) }
func (h bm25Heap) Less(i, j int) bool { return bm25Better(h[j], h[i]) }
func (h bm25Heap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *bm25Heap) Push(x any)        { *h = append(*h, x.(mips.Result)) }
func (h *bm25Heap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// HardNegativeNeighbours returns, for every block of c, up to k other blocks with a different
// title that read most alike, best first: BM25 with the block's body as the query, its words
// found in more than one block in 20 (and in more than 8) left out, as they weigh little and
// cost the most. These are the look-alikes that pretrain.ICTOptions.HardNegatives puts in a batch.
func HardNegativeNeighbours(c *realm.Corpus, k int) ([][]int64, error) {
	m, err := New(c, DefaultParams())
	if err != nil {
		return nil, err
	}
	common := max(8, len(m.docLen)/20)
	out := make([][]int64, c.Len())
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers { // Search is safe for concurrent calls; each worker takes every workers-th block.
		wg.Go(func() {
			var query []string
			for i := w; i < c.Len(); i += workers {
				b := c.Blocks[i]
				query = query[:0]
				for _, t := range Words(b.Body) {
					if len(m.postings[t]) <= common {
						query = append(query, t)
					}
				}
				for _, r := range m.Search(strings.Join(query, " "), 4*k+8) {
					if len(out[i]) == k {
						break
					}
					if r.Score > 0 && c.Blocks[r.ID].Title != b.Title {
						out[i] = append(out[i], r.ID)
					}
				}
			}
		})
	}
	wg.Wait()
	return out, nil
}
