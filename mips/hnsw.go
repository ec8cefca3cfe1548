package mips

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// HNSWConfig holds the parameters of the package's HNSW index (Malkov & Yashunin 2018).
type HNSWConfig struct {
	// M is the number of neighbours a node gets on insertion and the cap on layers ≥ 1;
	// layer 0 allows Mmax0 = 2M. Default 16.
	M int
	// EfConstruction is the size of the dynamic candidate list while inserting. Default 200.
	EfConstruction int
	// EfSearch is the default size of the candidate list at query time (at least k is
	// used). Default 128, the smallest sweep value with recall@10 ≥ 0.98 on the clustered
	// 100k×128 benchmark; change per call with SearchEf or SetEfSearch.
	EfSearch int
	// Seed seeds the level draws.
	Seed uint64
	// Workers is the number of goroutines inserting concurrently (default GOMAXPROCS).
	Workers int
}

func (c HNSWConfig) withDefaults() HNSWConfig {
	if c.M <= 0 {
		c.M = 16
	}
	if c.M < 2 {
		c.M = 2
	}
	if c.EfConstruction <= 0 {
		c.EfConstruction = 200
	}
	if c.EfSearch <= 0 {
		c.EfSearch = 128
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	return c
}

// HNSW is a hierarchical navigable small world graph for maximum inner product search,
// written from the paper: levels drawn as floor(-ln(U)·mL) with mL = 1/ln(M), greedy descent
// through the upper layers, ef-bounded best-first search (Algorithm 2) and the heuristic
// neighbour selection (Algorithm 4) with M links per layer and Mmax0 = 2M on layer 0.
//
// Inner products are not a metric, so the graph is built on the MIPS→NN reduction: each
// document x becomes (x, sqrt(M²−‖x‖²)) with M the largest norm, and queries (q, 0). The
// augmented squared distance between two documents is 2M² − 2(x·y + aₓa_y), and between a
// query and a document ‖q‖² + M² − 2q·x. So for a fixed query the reduced L2 search and a
// direct inner-product search order every candidate identically: there is nothing to
// choose between them at query time, and the search scores candidates by q·x (d
// multiply-adds, no extra coordinate), while construction compares documents by x·y + aₓa_y.
//
// Insertion runs on Workers goroutines with one mutex per node guarding its neighbour
// lists (as in hnswlib); the graph is therefore not bit-for-bit reproducible across runs,
// but the levels are (they are drawn from Seed up front). After the build the nodes are
// renumbered in breadth-first order of the bottom layer for memory locality. After
// NewHNSW returns, the index is read-only and Search is safe for concurrent use.
type HNSW struct {
	cfg     HNSWConfig
	dim, n  int
	mMax0   int
	ids     []int64
	vecs    []float32 // n × dim.
	aug     []float32 // sqrt(maxNorm² − ‖x‖²) per node.
	maxNorm float32
	levels  []uint8
	links0  []uint32   // n × (mMax0+1): count, then neighbours.
	upper   [][]uint32 // per node: level × (M+1) for layers 1…level.
	locks   []sync.Mutex

	entryMu  sync.RWMutex
	entry    uint32
	maxLevel int

	efSearch  atomic.Int64
	scratches sync.Pool // *scratch for searches.
}

// NewHNSW builds an HNSW index over vectors (row-major, n×dim) with block ids (nil means
// 0…n-1). Cancelling ctx stops the build with ctx's error. The vectors are copied.
func NewHNSW(ctx context.Context, vectors []float32, ids []int64, dim int, cfg HNSWConfig) (*HNSW, error) {
	return buildHNSW(ctx, vectors, ids, dim, cfg, true)
}

// buildHNSW is NewHNSW with the locality reordering optional (for measuring it).
func buildHNSW(ctx context.Context, vectors []float32, ids []int64, dim int, cfg HNSWConfig, reorder bool) (*HNSW, error) {
	n, ids, err := checkVectors(vectors, ids, dim)
	if err != nil {
		return nil, err
	}
	if n > math.MaxUint32-1 {
		return nil, fmt.Errorf("mips: HNSW holds at most %d vectors, got %d", math.MaxUint32-1, n)
	}
	cfg = cfg.withDefaults()
	h := newHNSWShell(cfg, dim, n, ids, slices.Clone(vectors))
	nrm := norms(h.vecs, dim)
	for _, v := range nrm {
		h.maxNorm = max(h.maxNorm, v)
	}
	for i, v := range nrm {
		h.aug[i] = float32(math.Sqrt(math.Max(0, float64(h.maxNorm)*float64(h.maxNorm)-float64(v)*float64(v))))
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x4a5357))
	mL := 1 / math.Log(float64(cfg.M))
	for i := range h.levels {
		l := int(math.Floor(-math.Log(1-rng.Float64()) * mL))
		h.levels[i] = uint8(min(l, 31))
		if l > 0 {
			h.upper[i] = make([]uint32, int(h.levels[i])*(cfg.M+1))
		}
	}
	if n == 0 {
		return h, nil
	}
	h.entry, h.maxLevel = 0, int(h.levels[0])
	var next atomic.Int64
	next.Store(1)
	var wg sync.WaitGroup
	var stopped atomic.Bool
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := h.newScratch()
			for !stopped.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if i%1024 == 0 && ctx.Err() != nil {
					stopped.Store(true)
					return
				}
				h.insert(uint32(i), s)
			}
		}()
	}
	wg.Wait()
	if stopped.Load() {
		return nil, fmt.Errorf("mips: HNSW build cancelled: %w", ctx.Err())
	}
	if reorder {
		h.reorder()
	}
	return h, nil
}

// reorder renumbers the nodes in breadth-first order of the layer-0 graph from the entry
// point, so that nodes a search visits together tend to sit together in memory (fewer
// cache and TLB misses when their vectors are loaded).
func (h *HNSW) reorder() {
	n := h.n
	const unseen = math.MaxUint32
	newID := make([]uint32, n)
	for i := range newID {
		newID[i] = unseen
	}
	order := make([]uint32, 0, n)
	visit := func(root uint32) {
		if newID[root] != unseen {
			return
		}
		newID[root] = uint32(len(order))
		order = append(order, root)
		for head := len(order) - 1; head < len(order); head++ {
			for _, e := range h.readLinks(order[head], 0, false, nil) {
				if newID[e] == unseen {
					newID[e] = uint32(len(order))
					order = append(order, e)
				}
			}
		}
	}
	visit(h.entry)
	for i := 0; i < n; i++ {
		visit(uint32(i))
	}
	d, w := h.dim, h.mMax0+1
	vecs := make([]float32, len(h.vecs))
	aug := make([]float32, n)
	ids := make([]int64, n)
	levels := make([]uint8, n)
	upper := make([][]uint32, n)
	links0 := make([]uint32, len(h.links0))
	renumber := func(dst, src []uint32) {
		dst[0] = src[0]
		for j, e := range src[1 : 1+src[0]] {
			dst[1+j] = newID[e]
		}
	}
	for nu, old := range order {
		copy(vecs[nu*d:(nu+1)*d], h.vecs[int(old)*d:int(old+1)*d])
		aug[nu], ids[nu], levels[nu] = h.aug[old], h.ids[old], h.levels[old]
		renumber(links0[nu*w:(nu+1)*w], h.links0[int(old)*w:int(old+1)*w])
		if u := h.upper[old]; u != nil {
			upper[nu] = make([]uint32, len(u))
			for l := 0; l < len(u); l += h.cfg.M + 1 {
				renumber(upper[nu][l:l+h.cfg.M+1], u[l:l+h.cfg.M+1])
			}
		}
	}
	h.vecs, h.aug, h.ids, h.levels, h.upper, h.links0 = vecs, aug, ids, levels, upper, links0
	h.entry = newID[h.entry]
}

func newHNSWShell(cfg HNSWConfig, dim, n int, ids []int64, vecs []float32) *HNSW {
	h := &HNSW{
		cfg: cfg, dim: dim, n: n, mMax0: 2 * cfg.M, ids: ids, vecs: vecs,
		aug:    make([]float32, n),
		levels: make([]uint8, n),
		upper:  make([][]uint32, n),
		locks:  make([]sync.Mutex, n),
	}
	h.links0 = make([]uint32, n*(h.mMax0+1))
	h.efSearch.Store(int64(cfg.EfSearch))
	h.scratches.New = func() any { return h.newScratch() }
	return h
}

// Len returns the number of documents.
func (h *HNSW) Len() int { return h.n }

// Dim returns the embedding dimension.
func (h *HNSW) Dim() int { return h.dim }

// Kind returns KindHNSW.
func (h *HNSW) Kind() Kind { return KindHNSW }

// Config returns the build parameters (EfSearch as currently set).
func (h *HNSW) Config() HNSWConfig {
	c := h.cfg
	c.EfSearch = int(h.efSearch.Load())
	return c
}

// MaxNorm returns M, the largest document norm used by the MIPS→NN reduction.
func (h *HNSW) MaxNorm() float32 { return h.maxNorm }

// SetEfSearch changes the default query-time candidate list size; safe during searches.
func (h *HNSW) SetEfSearch(ef int) { h.efSearch.Store(int64(max(1, ef))) }

// MemoryBytes estimates the memory held by vectors, ids and graph links.
func (h *HNSW) MemoryBytes() int64 {
	b := int64(len(h.vecs))*4 + int64(len(h.ids))*8 + int64(len(h.aug))*4 + int64(len(h.links0))*4 + int64(h.n)*(1+8+24)
	for _, u := range h.upper {
		b += int64(len(u)) * 4
	}
	return b
}

// slot returns node i's count-prefixed neighbour slot on layer l.
func (h *HNSW) slot(i uint32, l int) []uint32 {
	if l == 0 {
		w := h.mMax0 + 1
		return h.links0[int(i)*w : int(i+1)*w]
	}
	w := h.cfg.M + 1
	return h.upper[i][(l-1)*w : l*w]
}

// docSim is the construction similarity between documents: x·y + aₓa_y, a decreasing
// function of their augmented L2 distance.
func (h *HNSW) docSim(i, j uint32) float32 {
	d := h.dim
	return dot(h.vecs[int(i)*d:int(i+1)*d], h.vecs[int(j)*d:int(j+1)*d]) + h.aug[i]*h.aug[j]
}

// visitSet marks visited nodes with a per-search stamp, so it needs no clearing.
type visitSet struct {
	marks []uint32
	stamp uint32
}

func (v *visitSet) next() {
	v.stamp++
	if v.stamp == 0 {
		clear(v.marks)
		v.stamp = 1
	}
}

// cand is a candidate node with its similarity to the current target.
type cand struct {
	sim float32
	id  uint32
}

// scratch is per-goroutine working memory for construction.
type scratch struct {
	vis    *visitSet
	cands  candHeap // max-heap (best first).
	result candHeap // min-heap (worst first), bounded by ef.
	nbrs   []uint32
	fresh  []uint32
	sel    []cand
	work   []cand   // candidates for the inserted node's selection.
	chosen []uint32 // its selected neighbours.
	// linkCands holds a neighbour's links plus the new node when the list overflows.
	linkCands []cand
	tmp       []cand
}

func (h *HNSW) newScratch() *scratch {
	return &scratch{vis: &visitSet{marks: make([]uint32, h.n)}, nbrs: make([]uint32, 0, h.mMax0+1)}
}

// candHeap is a binary heap of candidates; max orders it best-first, else worst-first.
type candHeap struct {
	max  bool
	data []cand
}

func (c *candHeap) less(a, b cand) bool {
	if c.max {
		return a.sim > b.sim
	}
	return a.sim < b.sim
}

func (c *candHeap) push(x cand) {
	c.data = append(c.data, x)
	i := len(c.data) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !c.less(c.data[i], c.data[p]) {
			break
		}
		c.data[i], c.data[p] = c.data[p], c.data[i]
		i = p
	}
}

func (c *candHeap) pop() cand {
	top := c.data[0]
	last := len(c.data) - 1
	c.data[0] = c.data[last]
	c.data = c.data[:last]
	i, n := 0, last
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && c.less(c.data[r], c.data[l]) {
			m = r
		}
		if !c.less(c.data[m], c.data[i]) {
			break
		}
		c.data[i], c.data[m] = c.data[m], c.data[i]
		i = m
	}
	return top
}

// target is what a search scores nodes against: a query vector (q != nil), scored by q·x,
// or a document being inserted (node), scored by docSim.
type target struct {
	q    []float32
	node uint32
}

// sim scores node e against t.
func (h *HNSW) sim(t target, e uint32) float32 {
	d := h.dim
	if t.q != nil {
		return dot(t.q, h.vecs[int(e)*d:int(e+1)*d])
	}
	return dot(h.vecs[int(t.node)*d:int(t.node+1)*d], h.vecs[int(e)*d:int(e+1)*d]) + h.aug[t.node]*h.aug[e]
}

// searchLayer is Algorithm 2: best-first search on layer l from the entry points already in
// s.result/s.cands, keeping the ef best in s.result. Unvisited neighbours of a candidate
// are collected first and scored in one tight loop (independent loads overlap).
// With locked, neighbour lists are copied under the node's lock (during construction).
func (h *HNSW) searchLayer(s *scratch, t target, ef, l int, locked bool) {
	for len(s.cands.data) > 0 {
		c := s.cands.pop()
		if len(s.result.data) >= ef && c.sim < s.result.data[0].sim {
			break
		}
		nb := h.readLinks(c.id, l, locked, s)
		s.fresh = s.fresh[:0]
		for _, e := range nb {
			if s.vis.marks[e] != s.vis.stamp {
				s.vis.marks[e] = s.vis.stamp
				s.fresh = append(s.fresh, e)
			}
		}
		for _, e := range s.fresh {
			es := h.sim(t, e)
			if len(s.result.data) < ef || es > s.result.data[0].sim {
				s.cands.push(cand{es, e})
				s.result.push(cand{es, e})
				if len(s.result.data) > ef {
					s.result.pop()
				}
			}
		}
	}
}

// readLinks returns node i's neighbours on layer l.
func (h *HNSW) readLinks(i uint32, l int, locked bool, s *scratch) []uint32 {
	sl := h.slot(i, l)
	if !locked {
		return sl[1 : 1+sl[0]]
	}
	h.locks[i].Lock()
	s.nbrs = append(s.nbrs[:0], sl[1:1+sl[0]]...)
	h.locks[i].Unlock()
	return s.nbrs
}

// greedy descends from ep through layers top…stop+1 moving to the best neighbour while it
// improves (search with ef = 1).
func (h *HNSW) greedy(ep cand, t target, top, stop int, locked bool, s *scratch) cand {
	for l := top; l > stop; l-- {
		for changed := true; changed; {
			changed = false
			for _, e := range h.readLinks(ep.id, l, locked, s) {
				if es := h.sim(t, e); es > ep.sim {
					ep, changed = cand{es, e}, true
				}
			}
		}
	}
	return ep
}

// selectNeighbours is Algorithm 4 without candidate extension: take candidates best first
// and keep one only if it is closer to the target than to every neighbour kept so far;
// at most m are returned in s.sel.
func (h *HNSW) selectNeighbours(s *scratch, cands []cand, m int) []cand {
	slices.SortFunc(cands, func(a, b cand) int {
		switch {
		case a.sim > b.sim:
			return -1
		case a.sim < b.sim:
			return 1
		}
		return int(a.id) - int(b.id)
	})
	s.sel = s.sel[:0]
	for _, c := range cands {
		if len(s.sel) >= m {
			break
		}
		good := true
		for _, r := range s.sel {
			if h.docSim(c.id, r.id) > c.sim {
				good = false
				break
			}
		}
		if good {
			s.sel = append(s.sel, c)
		}
	}
	return s.sel
}

// insert adds node q to the graph (Algorithm 1).
func (h *HNSW) insert(q uint32, s *scratch) {
	level := int(h.levels[q])
	h.entryMu.RLock()
	entry, top := h.entry, h.maxLevel
	h.entryMu.RUnlock()
	t := target{node: q}
	ep := h.greedy(cand{h.sim(t, entry), entry}, t, top, level, true, s)
	eps := append(s.tmp[:0], ep)
	for l := min(level, top); l >= 0; l-- {
		s.vis.next()
		s.cands = candHeap{max: true, data: s.cands.data[:0]}
		s.result = candHeap{data: s.result.data[:0]}
		for _, e := range eps {
			s.vis.marks[e.id] = s.vis.stamp
			s.cands.push(e)
			s.result.push(e)
		}
		h.searchLayer(s, t, h.cfg.EfConstruction, l, true)
		eps = append(eps[:0], s.result.data...)
		s.tmp = eps
		s.work = append(s.work[:0], eps...)
		sel := h.selectNeighbours(s, s.work, h.cfg.M)
		mine := h.slot(q, l)
		h.locks[q].Lock()
		mine[0] = uint32(len(sel))
		for i, c := range sel {
			mine[1+i] = c.id
		}
		h.locks[q].Unlock()
		s.chosen = s.chosen[:0]
		for _, c := range sel {
			s.chosen = append(s.chosen, c.id)
		}
		for _, e := range s.chosen {
			h.link(e, q, l, s)
		}
	}
	if level > top {
		h.entryMu.Lock()
		if level > h.maxLevel {
			h.entry, h.maxLevel = q, level
		}
		h.entryMu.Unlock()
	}
}

// link adds q to e's neighbours on layer l, shrinking the list with the heuristic when it
// exceeds Mmax (M, or 2M on layer 0).
func (h *HNSW) link(e, q uint32, l int, s *scratch) {
	mmax := h.cfg.M
	if l == 0 {
		mmax = h.mMax0
	}
	h.locks[e].Lock()
	defer h.locks[e].Unlock()
	sl := h.slot(e, l)
	cnt := int(sl[0])
	for _, x := range sl[1 : 1+cnt] {
		if x == q {
			return
		}
	}
	if cnt < mmax {
		sl[1+cnt] = q
		sl[0]++
		return
	}
	cands := s.linkCands[:0]
	for _, x := range sl[1 : 1+cnt] {
		cands = append(cands, cand{h.docSim(e, x), x})
	}
	cands = append(cands, cand{h.docSim(e, q), q})
	s.linkCands = cands
	sel := h.selectNeighbours(s, cands, mmax) // s.sel is free: insert copied it to s.chosen.
	sl[0] = uint32(len(sel))
	for i, c := range sel {
		sl[1+i] = c.id
	}
}

// Search returns approximate top-k results per query with the configured EfSearch.
func (h *HNSW) Search(queries []float32, k int) ([][]Result, error) {
	return h.SearchEf(queries, k, int(h.efSearch.Load()))
}

// SearchEf is Search with an explicit candidate list size ef (max(ef, k) is used).
// Scores are exact inner products of the returned documents.
func (h *HNSW) SearchEf(queries []float32, k, ef int) ([][]Result, error) {
	nq, err := checkQueries(queries, h.dim, k)
	if err != nil {
		return nil, err
	}
	k = min(k, h.n)
	out := make([][]Result, nq)
	s := h.scratches.Get().(*scratch)
	defer h.scratches.Put(s)
	d := h.dim
	for qi := range out {
		if k == 0 {
			out[qi] = []Result{}
			continue
		}
		q := queries[qi*d : (qi+1)*d]
		t := target{q: q}
		ep := h.greedy(cand{h.sim(t, h.entry), h.entry}, t, h.maxLevel, 0, false, s)
		s.vis.next()
		s.cands = candHeap{max: true, data: s.cands.data[:0]}
		s.result = candHeap{data: s.result.data[:0]}
		s.vis.marks[ep.id] = s.vis.stamp
		s.cands.push(ep)
		s.result.push(ep)
		h.searchLayer(s, t, max(ef, k), 0, false)
		rs := make([]Result, len(s.result.data))
		for i, c := range s.result.data {
			rs[i] = Result{ID: h.ids[c.id], Score: c.sim}
		}
		sortResults(rs)
		out[qi] = rs[:min(k, len(rs))]
	}
	return out, nil
}
