package mips

import (
	"runtime"
	"sync"
)

// panelGroup is the number of panels the single-query kernel scores per call; the panel
// array is padded to a multiple of it.
const panelGroup = 4

// blockPanels is the number of panels (16 documents each) of one cache block of the batched
// search: 16 panels × 16 docs × 128 dims × 4 B = 128 KiB, which stays in L2 while every
// query tile of the batch passes over it.
const blockPanels = 16

// Exact is brute-force maximum inner product search: every query is scored against every
// document. Documents are stored packed in panels of 16 ([d][16] each, zero padded) so
// that batched search is a cache-blocked matrix product run by a register-tiled SIMD
// micro-kernel (6 queries × 16 documents), and single queries stream the panels through
// eight independent FMA chains. The documents are split over GOMAXPROCS goroutines, each
// keeping a bounded heap per query; the heaps are merged at the end.
type Exact struct {
	dim, n  int
	ids     []int64
	panels  []float32 // nPanels × dim × panelWidth, nPanels a multiple of panelGroup.
	nPanels int
	workers int
}

// NewExact builds an exact index over vectors (row-major, n×dim) with the given block ids
// (nil means 0…n-1). The vectors are copied.
func NewExact(vectors []float32, ids []int64, dim int) (*Exact, error) {
	n, ids, err := checkVectors(vectors, ids, dim)
	if err != nil {
		return nil, err
	}
	e := &Exact{dim: dim, n: n, ids: ids, workers: runtime.GOMAXPROCS(0)}
	groups := (n + panelWidth*panelGroup - 1) / (panelWidth * panelGroup)
	e.nPanels = groups * panelGroup
	e.panels = make([]float32, e.nPanels*dim*panelWidth)
	for i := 0; i < n; i++ {
		p, j := i/panelWidth, i%panelWidth
		base := p * dim * panelWidth
		row := vectors[i*dim : (i+1)*dim]
		for k, v := range row {
			e.panels[base+k*panelWidth+j] = v
		}
	}
	return e, nil
}

// ExactCap is the capacity a slice of n vectors of dim needs for NewExactInPlace to lay them
// out without allocating: n rounded up to whole groups of panels, times dim.
func ExactCap(n, dim int) int {
	rows := panelWidth * panelGroup
	return (n + rows - 1) / rows * rows * dim
}

// NewExactInPlace is NewExact that takes vectors over instead of copying them: it rearranges
// them in place into its panels, one panel (16 rows) at a time through a small buffer, so an
// index of n×dim costs n×dim floats, not twice as many (the 13.35M × 128 index of a released
// REALM model is 6.8 GB). vectors must have length n×dim; with a capacity below
// ExactCap(n, dim) it is copied once to grow. The caller must not use vectors afterwards.
func NewExactInPlace(vectors []float32, ids []int64, dim int) (*Exact, error) {
	n, ids, err := checkVectors(vectors, ids, dim)
	if err != nil {
		return nil, err
	}
	size := ExactCap(n, dim)
	if cap(vectors) < size {
		vectors = append(vectors[:n*dim:n*dim], make([]float32, size-n*dim)...)
	}
	panels := vectors[:size]
	e := &Exact{dim: dim, n: n, ids: ids, workers: runtime.GOMAXPROCS(0), panels: panels, nPanels: size / (dim * panelWidth)}
	tmp := make([]float32, panelWidth*dim)
	for p := range e.nPanels {
		base := p * dim * panelWidth // rows p·16 … p·16+15, row-major, start here too.
		rows := min(panelWidth, max(0, n-p*panelWidth))
		copy(tmp, panels[base:base+rows*dim])
		clear(tmp[rows*dim:])
		for j := range panelWidth {
			for k := range dim {
				panels[base+k*panelWidth+j] = tmp[j*dim+k]
			}
		}
	}
	return e, nil
}

// Len returns the number of documents.
func (e *Exact) Len() int { return e.n }

// Dim returns the embedding dimension.
func (e *Exact) Dim() int { return e.dim }

// Kind returns KindExact.
func (e *Exact) Kind() Kind { return KindExact }

// IDs returns the block ids in row order (a copy).
func (e *Exact) IDs() []int64 { return append([]int64(nil), e.ids...) }

// Vector appends document row i to dst and returns it.
func (e *Exact) Vector(i int, dst []float32) []float32 {
	p, j := i/panelWidth, i%panelWidth
	base := p * e.dim * panelWidth
	for k := 0; k < e.dim; k++ {
		dst = append(dst, e.panels[base+k*panelWidth+j])
	}
	return dst
}

// Vectors returns the documents as a row-major n×dim matrix (a copy).
func (e *Exact) Vectors() []float32 {
	out := make([]float32, 0, e.n*e.dim)
	for i := 0; i < e.n; i++ {
		out = e.Vector(i, out)
	}
	return out
}

// SetWorkers sets how many goroutines one Search uses (default GOMAXPROCS at build time).
func (e *Exact) SetWorkers(w int) {
	if w < 1 {
		w = 1
	}
	e.workers = w
}

// Search returns the exact top-k documents for each query.
func (e *Exact) Search(queries []float32, k int) ([][]Result, error) {
	nq, err := checkQueries(queries, e.dim, k)
	if err != nil {
		return nil, err
	}
	k = min(k, e.n)
	out := make([][]Result, nq)
	if nq == 0 || k == 0 {
		for i := range out {
			out[i] = []Result{}
		}
		return out, nil
	}
	groups := e.nPanels / panelGroup
	w := max(1, min(e.workers, groups))
	heaps := make([][]*topK, w)
	var packed []float32
	if nq >= kernelRows/2 {
		packed = packQueries(queries, nq, e.dim)
	}
	var wg sync.WaitGroup
	for t := 0; t < w; t++ {
		g0, g1 := groups*t/w, groups*(t+1)/w
		hs := make([]*topK, nq)
		for i := range hs {
			hs[i] = newTopK(k)
		}
		heaps[t] = hs
		wg.Add(1)
		go func() {
			defer wg.Done()
			if packed != nil {
				e.scanBatch(packed, nq, g0*panelGroup, g1*panelGroup, hs)
			} else {
				e.scanSingle(queries, nq, g0*panelGroup, g1*panelGroup, hs)
			}
		}()
	}
	wg.Wait()
	for i := range out {
		rs := make([]Result, 0, k*w)
		for t := range heaps {
			rs = heaps[t][i].appendTo(rs)
		}
		sortResults(rs)
		out[i] = rs[:min(k, len(rs))]
	}
	return out, nil
}

// packQueries lays the queries out in tiles of kernelRows, each [d][kernelRows], zero padded.
func packQueries(queries []float32, nq, d int) []float32 {
	tiles := (nq + kernelRows - 1) / kernelRows
	packed := make([]float32, tiles*d*kernelRows)
	for q := 0; q < nq; q++ {
		t, r := q/kernelRows, q%kernelRows
		base := t * d * kernelRows
		for k, v := range queries[q*d : (q+1)*d] {
			packed[base+k*kernelRows+r] = v
		}
	}
	return packed
}

// pushScores offers 16 scores of panel p to heap h.
func (e *Exact) pushScores(h *topK, scores []float32, p int) {
	thr := h.threshold()
	base := p * panelWidth
	lim := min(panelWidth, e.n-base)
	for j := 0; j < lim; j++ {
		if s := scores[j]; s >= thr {
			h.push(s, e.ids[base+j])
			thr = h.threshold()
		}
	}
}

// scanSingle scores panels [p0, p1) against each query with the single-query kernel.
func (e *Exact) scanSingle(queries []float32, nq, p0, p1 int, hs []*topK) {
	d := e.dim
	stride := d * panelWidth
	var c [panelGroup * panelWidth]float32
	for q := 0; q < nq; q++ {
		qv := queries[q*d : (q+1)*d]
		h := hs[q]
		for p := p0; p < p1 && p*panelWidth < e.n; p += panelGroup {
			kernel1x4(qv, e.panels[p*stride:(p+panelGroup)*stride], d, &c)
			for t := 0; t < panelGroup; t++ {
				if (p+t)*panelWidth >= e.n {
					break
				}
				e.pushScores(h, c[t*panelWidth:(t+1)*panelWidth], p+t)
			}
		}
	}
}

// scanBatch scores panels [p0, p1) against all queries, block by block, with the 6×16 kernel.
func (e *Exact) scanBatch(packed []float32, nq, p0, p1 int, hs []*topK) {
	d := e.dim
	stride := d * panelWidth
	tiles := (nq + kernelRows - 1) / kernelRows
	var c [kernelRows * panelWidth]float32
	for b0 := p0; b0 < p1; b0 += blockPanels {
		b1 := min(b0+blockPanels, p1)
		for t := 0; t < tiles; t++ {
			a := packed[t*d*kernelRows : (t+1)*d*kernelRows]
			rows := min(kernelRows, nq-t*kernelRows)
			for p := b0; p < b1 && p*panelWidth < e.n; p++ {
				kernelBatch(a, e.panels[p*stride:(p+1)*stride], d, &c)
				for r := 0; r < rows; r++ {
					e.pushScores(hs[t*kernelRows+r], c[r*panelWidth:(r+1)*panelWidth], p)
				}
			}
		}
	}
}
