package mips

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand"
	"sync"

	"github.com/coder/hnsw"
)

// CoderConfig holds the parameters of the github.com/coder/hnsw wrapper.
type CoderConfig struct {
	// M is coder/hnsw's neighbour count (default 16).
	M int
	// EfConstruction is the EfSearch coder/hnsw uses while adding nodes (default 200).
	EfConstruction int
	// EfSearch is the query-time candidate list size (default 64).
	EfSearch int
	// Seed seeds coder/hnsw's level generator.
	Seed int64
}

// CoderHNSW wraps github.com/coder/hnsw v0.6.1 behind Index with the MIPS→NN reduction
// (documents (x, sqrt(M²−‖x‖²)), queries (q, 0), Euclidean distance). It is kept as a
// baseline only: v0.6.1 bounds its result set by k instead of ef and stops early, so its
// recall is poor (≈0.06–0.2 at 100k×128; see STACK-NOTES and RunBenchmark). Use HNSW.
// Building is single-threaded because coder/hnsw's Add is not safe for concurrent use.
type CoderHNSW struct {
	mu      sync.RWMutex
	g       *hnsw.Graph[int64]
	cfg     CoderConfig
	dim, n  int
	maxNorm float32
}

func (c CoderConfig) withDefaults() CoderConfig {
	if c.M <= 0 {
		c.M = 16
	}
	if c.EfConstruction <= 0 {
		c.EfConstruction = 200
	}
	if c.EfSearch <= 0 {
		c.EfSearch = 64
	}
	return c
}

// NewCoderHNSW builds a coder/hnsw graph over vectors (row-major n×dim) keyed by block ids
// (nil means 0…n-1; ids must be distinct, since coder/hnsw replaces duplicates).
func NewCoderHNSW(ctx context.Context, vectors []float32, ids []int64, dim int, cfg CoderConfig) (*CoderHNSW, error) {
	n, ids, err := checkVectors(vectors, ids, dim)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g := hnsw.NewGraph[int64]()
	g.M, g.EfSearch, g.Distance = cfg.M, cfg.EfConstruction, hnsw.EuclideanDistance
	g.Rng = rand.New(rand.NewSource(cfg.Seed))
	c := &CoderHNSW{g: g, cfg: cfg, dim: dim, n: n}
	nrm := norms(vectors, dim)
	for _, v := range nrm {
		c.maxNorm = max(c.maxNorm, v)
	}
	for i := 0; i < n; i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("mips: coder/hnsw build cancelled: %w", ctx.Err())
		}
		v := make([]float32, dim+1)
		copy(v, vectors[i*dim:(i+1)*dim])
		v[dim] = float32(math.Sqrt(math.Max(0, float64(c.maxNorm)*float64(c.maxNorm)-float64(nrm[i])*float64(nrm[i]))))
		g.Add(hnsw.MakeNode(ids[i], v))
	}
	if g.Len() != n {
		return nil, fmt.Errorf("mips: coder/hnsw holds %d nodes for %d vectors (duplicate ids?)", g.Len(), n)
	}
	g.EfSearch = cfg.EfSearch
	return c, nil
}

// Len returns the number of documents.
func (c *CoderHNSW) Len() int { return c.n }

// Dim returns the embedding dimension (without the reduction's extra coordinate).
func (c *CoderHNSW) Dim() int { return c.dim }

// Kind returns KindCoder.
func (c *CoderHNSW) Kind() Kind { return KindCoder }

// MaxNorm returns M, the largest document norm used by the MIPS→NN reduction.
func (c *CoderHNSW) MaxNorm() float32 { return c.maxNorm }

// SetEfSearch changes coder/hnsw's query-time EfSearch (waits for running searches).
func (c *CoderHNSW) SetEfSearch(ef int) {
	c.mu.Lock()
	c.g.EfSearch = max(1, ef)
	c.cfg.EfSearch = c.g.EfSearch
	c.mu.Unlock()
}

// Search returns coder/hnsw's approximate top-k per query, rescored with exact inner
// products and sorted in the package's order.
func (c *CoderHNSW) Search(queries []float32, k int) ([][]Result, error) {
	nq, err := checkQueries(queries, c.dim, k)
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([][]Result, nq)
	q := make([]float32, c.dim+1)
	for i := range out {
		out[i] = []Result{}
		if k == 0 || c.n == 0 {
			continue
		}
		copy(q, queries[i*c.dim:(i+1)*c.dim])
		for _, nd := range c.g.Search(q, min(k, c.n)) {
			out[i] = append(out[i], Result{ID: nd.Key, Score: dot(q[:c.dim], nd.Value[:c.dim])})
		}
		sortResults(out[i])
	}
	return out, nil
}

// Save writes the wrapper's parameters and coder/hnsw's own export of the graph to path.
func (c *CoderHNSW) Save(path string) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var p params
	p.putU32(uint32(c.cfg.M))
	p.putU32(uint32(c.cfg.EfConstruction))
	p.putU32(uint32(c.cfg.EfSearch))
	p.putU64(uint64(c.cfg.Seed))
	p.putF64(float64(c.maxNorm))
	var buf bytes.Buffer
	if err := c.g.Export(&buf); err != nil {
		return fmt.Errorf("mips: saving index %s: coder/hnsw export: %w", path, err)
	}
	return writeIndexFile(path, KindCoder, c.dim, c.n, p.buf, func(e *encoder) { e.bytesOf(buf.Bytes()) })
}

func init() {
	loaders[KindCoder] = func(path string, h fileHeader, d *decoder) (Index, error) {
		p := params{buf: h.params}
		cfg := CoderConfig{M: int(p.u32()), EfConstruction: int(p.u32()), EfSearch: int(p.u32()), Seed: int64(p.u64())}
		maxNorm := p.f64()
		if p.err != nil {
			return nil, p.err
		}
		raw := d.bytesOf("coder/hnsw graph")
		if d.err != nil {
			return nil, d.err
		}
		g := hnsw.NewGraph[int64]()
		g.Rng = rand.New(rand.NewSource(cfg.Seed))
		if err := g.Import(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("coder/hnsw import: %w", err)
		}
		if g.Len() != h.count {
			return nil, fmt.Errorf("coder/hnsw graph holds %d nodes, header says %d", g.Len(), h.count)
		}
		if h.count > 0 && g.Dims() != h.dim+1 {
			return nil, fmt.Errorf("coder/hnsw graph has dimension %d, header says %d+1", g.Dims(), h.dim)
		}
		g.EfSearch = cfg.EfSearch
		return &CoderHNSW{g: g, cfg: cfg, dim: h.dim, n: h.count, maxNorm: float32(maxNorm)}, nil
	}
}
