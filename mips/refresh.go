package mips

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// EmbedFunc embeds every document with a parameter snapshot θ′ of the document encoder and
// returns the row-major embedding matrix with one block id per row. It should honour ctx.
type EmbedFunc[S any] func(ctx context.Context, snapshot S) (vectors []float32, ids []int64, err error)

// BuildFunc builds an index from freshly embedded documents (dim is RefresherConfig.Dim).
type BuildFunc func(ctx context.Context, vectors []float32, ids []int64, dim int) (Index, error)

// ExactBuilder is a BuildFunc for exact search, REALM's default document index.
func ExactBuilder(_ context.Context, vectors []float32, ids []int64, dim int) (Index, error) {
	return NewExact(vectors, ids, dim)
}

// HNSWBuilder returns a BuildFunc for the package's HNSW with cfg.
func HNSWBuilder(cfg HNSWConfig) BuildFunc {
	return func(ctx context.Context, vectors []float32, ids []int64, dim int) (Index, error) {
		return NewHNSW(ctx, vectors, ids, dim, cfg)
	}
}

// RefresherConfig configures a Refresher.
type RefresherConfig[S any] struct {
	// Dim is the embedding dimension; every embedding must have it.
	Dim int
	// Embed embeds all documents with a snapshot (required).
	Embed EmbedFunc[S]
	// Build builds the index (default ExactBuilder).
	Build BuildFunc
	// OnSwap, if set, is called from the build goroutine after each new index is swapped in.
	OnSwap func(RefreshStats)
	// OnError, if set, is called from the build goroutine when a build fails (the previous
	// index stays in service).
	OnError func(step int64, err error)
}

// RefreshStats describes the index in service and the refresh activity.
type RefreshStats struct {
	Generation uint64        // successful swaps so far (0: the initial index or none).
	Step       int64         // training step of the snapshot behind the index in service (-1: initial).
	Age        int64         // current step − Step, in training steps (as given to Stats).
	EmbedTime  time.Duration // time spent embedding for the index in service.
	BuildTime  time.Duration // time spent building the index in service.
	SwappedAt  time.Time     // when the index in service was swapped in.
	Len        int           // documents in the index in service.

	Building      bool  // a build is running.
	BuildingStep  int64 // its snapshot's step (when Building).
	Pending       bool  // a request waits behind the running build.
	Triggers      uint64
	Coalesced     uint64 // requests replaced by a newer one before they started.
	Failures      uint64
	LastError     error // most recent build failure (nil if none since the last success).
	LastErrorStep int64
}

// served is one immutable generation of the index.
type served struct {
	idx    Index
	gen    uint64
	step   int64
	embed  time.Duration
	build  time.Duration
	swapAt time.Time
}

type refreshRequest[S any] struct {
	step     int64
	snapshot S
}

// ErrClosed is returned by Trigger after Close.
var ErrClosed = errors.New("mips: refresher closed")

// ErrNoIndex is returned by Search before the first index is in service.
var ErrNoIndex = errors.New("mips: no index built yet")

// Refresher keeps REALM's document index fresh while training runs: Trigger(step, θ′)
// embeds all documents with the snapshot and builds a new index in a background goroutine,
// then swaps it in atomically (atomic.Pointer). Search always uses the index in service,
// never blocks on a build and never sees a half-built index.
//
// At most one build runs at a time. A Trigger while a build runs is queued, and a later
// Trigger replaces the queued request (coalescing: only the newest snapshot is worth
// embedding, so intermediate ones are dropped and counted in Coalesced). A failed embed
// or build keeps the previous index in service, records the error in Stats and calls
// OnError. Close cancels the running build's context and waits for it.
type Refresher[S any] struct {
	cfg RefresherConfig[S]
	cur atomic.Pointer[served]

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	running  bool
	runStep  int64
	pending  *refreshRequest[S]
	idle     chan struct{} // closed when no build runs or waits.
	triggers uint64
	coalesce uint64
	failures uint64
	lastErr  error
	lastStep int64
	wg       sync.WaitGroup
}

// NewRefresher returns a Refresher serving initial (which may be nil: Search then fails
// with ErrNoIndex until the first build completes).
func NewRefresher[S any](cfg RefresherConfig[S], initial Index) (*Refresher[S], error) {
	if cfg.Embed == nil {
		return nil, fmt.Errorf("mips: NewRefresher: Embed is required")
	}
	if cfg.Dim <= 0 {
		return nil, fmt.Errorf("mips: NewRefresher: invalid dimension %d", cfg.Dim)
	}
	if initial != nil && initial.Dim() != cfg.Dim {
		return nil, fmt.Errorf("mips: NewRefresher: initial index has dimension %d, config %d", initial.Dim(), cfg.Dim)
	}
	if cfg.Build == nil {
		cfg.Build = ExactBuilder
	}
	r := &Refresher[S]{cfg: cfg, idle: make(chan struct{})}
	close(r.idle)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if initial != nil {
		r.cur.Store(&served{idx: initial, step: -1, swapAt: time.Now()})
	}
	return r, nil
}

// Trigger requests a rebuild from snapshot, taken at training step step, and returns at
// once. See Refresher for how concurrent requests are coalesced.
func (r *Refresher[S]) Trigger(step int64, snapshot S) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.triggers++
	req := &refreshRequest[S]{step: step, snapshot: snapshot}
	if r.running {
		if r.pending != nil {
			r.coalesce++
		}
		r.pending = req
		return nil
	}
	r.running = true
	r.runStep = step
	r.idle = make(chan struct{})
	r.wg.Add(1)
	go r.loop(req)
	return nil
}

// loop runs req and then whatever request is pending, until none is.
func (r *Refresher[S]) loop(req *refreshRequest[S]) {
	defer r.wg.Done()
	for req != nil {
		r.run(req)
		r.mu.Lock()
		req, r.pending = r.pending, nil
		if req == nil || r.closed {
			req = nil
			r.running = false
			close(r.idle)
		} else {
			r.runStep = req.step
		}
		r.mu.Unlock()
	}
}

// run embeds and builds one snapshot and swaps the result in.
func (r *Refresher[S]) run(req *refreshRequest[S]) {
	t0 := time.Now()
	vecs, ids, err := r.cfg.Embed(r.ctx, req.snapshot)
	t1 := time.Now()
	var idx Index
	if err == nil {
		if len(vecs)%r.cfg.Dim != 0 || (ids != nil && len(ids)*r.cfg.Dim != len(vecs)) {
			err = fmt.Errorf("embedding returned %d floats and %d ids for dimension %d", len(vecs), len(ids), r.cfg.Dim)
		} else {
			idx, err = r.cfg.Build(r.ctx, vecs, ids, r.cfg.Dim)
		}
		if err == nil && (idx == nil || idx.Dim() != r.cfg.Dim) {
			err = fmt.Errorf("builder returned no index or one of the wrong dimension")
		}
	}
	t2 := time.Now()
	if r.ctx.Err() != nil {
		return // closed: the build was abandoned, not failed.
	}
	if err != nil {
		err = fmt.Errorf("mips: refreshing index for step %d: %w", req.step, err)
		r.mu.Lock()
		r.failures++
		r.lastErr, r.lastStep = err, req.step
		r.mu.Unlock()
		if r.cfg.OnError != nil {
			r.cfg.OnError(req.step, err)
		}
		return
	}
	var gen uint64 = 1
	if old := r.cur.Load(); old != nil {
		gen = old.gen + 1
	}
	r.cur.Store(&served{idx: idx, gen: gen, step: req.step, embed: t1.Sub(t0), build: t2.Sub(t1), swapAt: t2})
	r.mu.Lock()
	r.lastErr = nil
	r.mu.Unlock()
	if r.cfg.OnSwap != nil {
		r.cfg.OnSwap(r.Stats(req.step))
	}
}

// Index returns the index in service (nil before the first) and its generation.
func (r *Refresher[S]) Index() (Index, uint64) {
	s := r.cur.Load()
	if s == nil {
		return nil, 0
	}
	return s.idx, s.gen
}

// Generation returns the number of successful swaps so far.
func (r *Refresher[S]) Generation() uint64 {
	_, g := r.Index()
	return g
}

// Search searches the index in service; it never waits for a build.
func (r *Refresher[S]) Search(queries []float32, k int) ([][]Result, error) {
	idx, _ := r.Index()
	if idx == nil {
		return nil, ErrNoIndex
	}
	return idx.Search(queries, k)
}

// Stats reports the index in service and the refresh activity; currentStep is the
// trainer's step, used for Age.
func (r *Refresher[S]) Stats(currentStep int64) RefreshStats {
	var st RefreshStats
	st.Step = -1
	if s := r.cur.Load(); s != nil {
		st.Generation, st.Step, st.EmbedTime, st.BuildTime, st.SwappedAt = s.gen, s.step, s.embed, s.build, s.swapAt
		st.Len = s.idx.Len()
	}
	if st.Step >= 0 {
		st.Age = currentStep - st.Step
	}
	r.mu.Lock()
	st.Building, st.BuildingStep, st.Pending = r.running, r.runStep, r.pending != nil
	st.Triggers, st.Coalesced, st.Failures = r.triggers, r.coalesce, r.failures
	st.LastError, st.LastErrorStep = r.lastErr, r.lastStep
	r.mu.Unlock()
	return st
}

// WaitIdle blocks until no build runs or waits, or ctx is done.
func (r *Refresher[S]) WaitIdle(ctx context.Context) error {
	r.mu.Lock()
	ch := r.idle
	r.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close cancels a running build (its result is discarded, and not counted as a failure),
// drops a pending one and waits
// for the build goroutine to exit. The index in service stays searchable. Close is
// idempotent.
func (r *Refresher[S]) Close() error {
	r.mu.Lock()
	r.closed = true
	r.pending = nil
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

// Overlap measures staleness: the mean fraction of each query's top-k from a fresh index
// (normally an exact index over embeddings from the current parameters) that the stale
// index also returns in its top-k. 1 means the stale index still retrieves the same
// documents; REALM refreshes when it drops.
func Overlap(stale, fresh Index, queries []float32, k int) (float64, error) {
	a, err := stale.Search(queries, k)
	if err != nil {
		return 0, fmt.Errorf("mips: overlap: stale index: %w", err)
	}
	b, err := fresh.Search(queries, k)
	if err != nil {
		return 0, fmt.Errorf("mips: overlap: fresh index: %w", err)
	}
	return Recall(a, b), nil
}
