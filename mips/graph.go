package mips

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// GraphExact is exact search as a GoMLX graph: scores = queries · docsᵀ (one MatMul) and
// graph.TopK along the document axis, executed on a compute backend. On an accelerator this
// is the fast path (the documents stay on the device); on the pure-Go backend Exact is
// faster, because TopK sorts every row. Results agree with Exact up to float rounding of
// the scores. The rows are stored sorted by id, so TopK's stable tie-break (lower row
// first) is the package's tie-break by ascending id.
type GraphExact struct {
	backend compute.Backend
	dim, n  int
	ids     []int64
	docs    *tensors.Tensor

	mu    sync.Mutex
	execs map[int]*graph.Exec // by k.
}

// NewGraphExact uploads vectors (row-major n×dim) with block ids (nil means 0…n-1) for
// search on backend (see layers/backend.New).
func NewGraphExact(backend compute.Backend, vectors []float32, ids []int64, dim int) (*GraphExact, error) {
	n, ids, err := checkVectors(vectors, ids, dim)
	if err != nil {
		return nil, err
	}
	if backend == nil {
		return nil, fmt.Errorf("mips: NewGraphExact: nil backend")
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ids[a], ids[b]) })
	sorted := make([]float32, n*dim)
	sortedIDs := make([]int64, n)
	for r, i := range order {
		copy(sorted[r*dim:(r+1)*dim], vectors[i*dim:(i+1)*dim])
		sortedIDs[r] = ids[i]
	}
	ids = sortedIDs
	t := tensors.FromFlatDataAndDimensions(sorted, n, dim)
	return &GraphExact{backend: backend, dim: dim, n: n, ids: ids, docs: t, execs: map[int]*graph.Exec{}}, nil
}

// Len returns the number of documents.
func (g *GraphExact) Len() int { return g.n }

// Dim returns the embedding dimension.
func (g *GraphExact) Dim() int { return g.dim }

// Kind returns KindExact: a GraphExact saves and loads as an Exact index.
func (g *GraphExact) Kind() Kind { return KindExact }

// Save writes the documents in the exact-index format (Load returns an *Exact).
func (g *GraphExact) Save(path string) error {
	vecs, err := tensors.CopyFlatData[float32](g.docs)
	if err != nil {
		return fmt.Errorf("mips: saving index %s: reading documents from the backend: %w", path, err)
	}
	return writeIndexFile(path, KindExact, g.dim, g.n, nil, func(e *encoder) {
		putWords(e, g.ids)
		putWords(e, vecs)
	})
}

func (g *GraphExact) exec(kk int) (*graph.Exec, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.execs[kk]; ok {
		return e, nil
	}
	e, err := graph.NewExec(g.backend, func(docs, queries *graph.Node) (*graph.Node, *graph.Node) {
		scores := graph.MatMul(queries, graph.Transpose(docs, 0, 1)) // [nq, n]
		return graph.TopK(scores, kk, -1)
	})
	if err != nil {
		return nil, err
	}
	g.execs[kk] = e
	return e, nil
}

// Search returns the exact top-k per query computed on the backend.
func (g *GraphExact) Search(queries []float32, k int) ([][]Result, error) {
	nq, err := checkQueries(queries, g.dim, k)
	if err != nil {
		return nil, err
	}
	k = min(k, g.n)
	out := make([][]Result, nq)
	if nq == 0 || k == 0 {
		for i := range out {
			out[i] = []Result{}
		}
		return out, nil
	}
	kk := k
	e, err := g.exec(kk)
	if err != nil {
		return nil, fmt.Errorf("mips: graph search: %w", err)
	}
	q := tensors.FromFlatDataAndDimensions(append([]float32(nil), queries...), nq, g.dim)
	res, err := e.Call(g.docs, q)
	if err != nil {
		return nil, fmt.Errorf("mips: graph search: %w", err)
	}
	vals, err := tensors.CopyFlatData[float32](res[0])
	if err != nil {
		return nil, fmt.Errorf("mips: graph search: %w", err)
	}
	idx, err := tensors.CopyFlatData[int32](res[1])
	if err != nil {
		return nil, fmt.Errorf("mips: graph search: %w", err)
	}
	for _, t := range res {
		t.FinalizeAll()
	}
	q.FinalizeAll()
	for i := range out {
		rs := make([]Result, kk)
		for j := range rs {
			rs[j] = Result{ID: g.ids[idx[i*kk+j]], Score: vals[i*kk+j]}
		}
		sortResults(rs) // a no-op but for scores equal only after rounding.
		out[i] = rs
	}
	return out, nil
}

// Close releases the compiled graphs and the device copy of the documents.
func (g *GraphExact) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range g.execs {
		e.Finalize()
	}
	g.execs = map[int]*graph.Exec{}
	g.docs.FinalizeAll()
}
