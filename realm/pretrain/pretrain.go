package pretrain

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"sync"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"

	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/mips"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/training"
)

// PretrainConfig is a REALM pre-training run: the shared run settings plus the asynchronous
// index refresh of §3.4 of the paper.
type PretrainConfig struct {
	training.RunConfig
	// RefreshEvery is the number of steps between snapshots θ' handed to the index builder (the
	// paper re-embeds about every 500 steps; the embedded default is measured in the README).
	// The snapshot after the last step is handed over too, so that once the builder is idle
	// the index in service is the final model's; none is during RetrieverWarmup.
	RefreshEvery int `json:"refresh_every"`
	// EmbedBatch is the number of blocks embedded per call when (re)building the index.
	EmbedBatch int `json:"embed_batch"`
	// HeldOut is the fraction of sentences kept out of training for evaluation.
	HeldOut float64 `json:"held_out"`
	// StalenessQueries is how many held-out queries measure index staleness at each refresh.
	StalenessQueries int `json:"staleness_queries"`
	// MetricsEvery is the number of steps between measurements of the masked-token accuracies
	// acc_retrieval and acc_null (0: 10); they are also measured at every logged step and at the
	// last one. See Pretrain.
	MetricsEvery int `json:"metrics_every,omitempty"`
	// RetrieverWarmup is the number of first steps in which no gradient reaches the retriever:
	// the encoder (and an MLM head that starts fresh, as on a checkpoint without one) learns
	// to read the retrieved documents first. Until it can, p(y|z,x) hardly depends on z, the
	// paper's r(z) = p(y|z,x)/p(y|x) − 1 is noise, and the retriever's update only moves it away
	// from its ICT warm start. The retriever's weight matrices still get AdamW's decoupled
	// weight decay (a relative lr·λ per step). 0: the retriever learns from the first step.
	RetrieverWarmup int `json:"retriever_warmup,omitempty"`
}

// StalenessRecord measures, when a new index arrives, how much the index it replaces had drifted:
// the overlap of their top-k for the same queries (embedded with the new snapshot).
type StalenessRecord struct {
	// Step is the step of the new snapshot; OldStep that of the index it replaced.
	Step, OldStep int64
	// Overlap is the mean fraction of the fresh top-k that the stale index also returned.
	Overlap float64
	// EmbedTime is the time to embed the whole corpus; BuildTime that to build the index.
	EmbedTime, BuildTime time.Duration
	// Ready is the training step reached when the new index was swapped in.
	Ready int64
}

// Pretrainer runs REALM pre-training (§3 of the paper): salient-span-masked sentences, the top
// k−1 documents retrieved from a MIPS index over stale embeddings (the source block excluded),
// the null document added, the marginal likelihood re-scored with the current θ, and the index
// rebuilt from a snapshot θ' every RefreshEvery steps by a background goroutine while training
// goes on.
type Pretrainer struct {
	Cfg     realm.Config
	Run     PretrainConfig
	Corpus  *realm.Corpus
	Store   *model.Store
	Backend compute.Backend
	// Train and Eval are the pre-training examples (Eval: held out by a hash of block and sentence).
	Train, Eval []examples.Pretrain
	// MaskStats counts salient versus random masking over all examples.
	MaskStats spans.MaskStats
	// Skipped counts examples dropped because they masked more than MaxMasks tokens.
	Skipped int
	// History holds the per-step metrics; Refresher the index in service.
	History   *training.History
	Refresher *mips.Refresher[realm.Snapshot]
	// Embeddings keeps the corpus embeddings of the initial index and of the newest refreshes
	// (CorpusEmbeddings reuses them).
	Embeddings *EmbeddingCache

	live     *realm.Retriever // query embeddings for search, with the current θ.
	snap     *realm.Retriever // the builder's retriever, loaded with θ'.
	mu       sync.Mutex
	stale    []StalenessRecord
	step     int64
	stalenQs []int32 // featurised staleness queries [n, QueryLen] ids; types are 0.
	stalenM  []bool
	// A resumed run rebuilds its index from the restored parameters (the snapshot θ' of its last
	// refresh is not kept): that index is generation genBase (the checkpoint's + 1) and was
	// built from the parameters of step indexFrom; a new run starts at generation 0, step 0.
	genBase, indexFrom int64
}

// EmbeddingCache keeps the newest corpus embeddings Embed_doc(z) of a few document towers, by
// realm.Snapshot.DocFingerprint, so that evaluation and fine-tuning reuse those the index builder
// computed. It is safe for concurrent use; its slices are shared and must not be modified.
type EmbeddingCache struct {
	mu      sync.Mutex
	entries []cachedEmbeddings
}

// cachedEmbeddings are the corpus embeddings of one document tower.
type cachedEmbeddings struct {
	fingerprint string
	vecs        []float32
	ids         []int64
}

// embeddingCacheSize is the number of corpus embeddings an EmbeddingCache keeps (a few MB each
// at d = 128): the first (a Pretrainer's initial index: the ICT retriever) and the newest.
const embeddingCacheSize = 4

// Put keeps the embeddings vecs ([N, d] row-major, row i for block ids[i]) of the document tower
// with the given fingerprint.
func (c *EmbeddingCache) Put(fingerprint string, vecs []float32, ids []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.fingerprint == fingerprint {
			return
		}
	}
	c.entries = append(c.entries, cachedEmbeddings{fingerprint, vecs, ids})
	if n := len(c.entries); n > embeddingCacheSize {
		c.entries = append(c.entries[:1], c.entries[n-embeddingCacheSize+1:]...)
	}
}

// Get returns the embeddings kept for fingerprint.
func (c *EmbeddingCache) Get(fingerprint string) (vecs []float32, ids []int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.fingerprint == fingerprint {
			return e.vecs, e.ids, true
		}
	}
	return nil, nil, false
}

// CorpusEmbeddings returns Embed_doc(z) of every block of c with snapshot s's document tower,
// [N, d] row-major, and the block ids of the rows: from cache when it holds them, else computed
// (with backend, in batches of batch blocks) and kept in cache.
func CorpusEmbeddings(ctx context.Context, backend compute.Backend, cfg realm.Config, c *realm.Corpus, s realm.Snapshot, batch int, cache *EmbeddingCache) ([]float32, []int64, error) {
	fp := s.DocFingerprint()
	if vecs, ids, ok := cache.Get(fp); ok {
		return vecs, ids, nil
	}
	r, err := realm.NewRetriever(backend, nil, cfg, batch)
	if err != nil {
		return nil, nil, err
	}
	if err := r.Load(s); err != nil {
		return nil, nil, err
	}
	vecs, ids, err := r.EmbedCorpus(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	cache.Put(fp, vecs, ids)
	return vecs, ids, nil
}

// CorpusEmbeddings returns Embed_doc(z) of every block with snapshot s's document tower, [N, d]
// row-major, and the block ids of the rows, reusing those the Pretrainer computed already (its
// initial index and every refresh, kept in Embeddings).
func (p *Pretrainer) CorpusEmbeddings(ctx context.Context, s realm.Snapshot) ([]float32, []int64, error) {
	return CorpusEmbeddings(ctx, p.Backend, p.Cfg, p.Corpus, s, p.Run.EmbedBatch, p.Embeddings)
}

// NewPretrainer makes the examples with tagger's salient spans and prepares the retrievers.
// store holds (or will create) the model; typically it went through TrainMLM and TrainICT.
func NewPretrainer(backend compute.Backend, store *model.Store, cfg realm.Config, c *realm.Corpus, tagger spans.Tagger, run PretrainConfig) (*Pretrainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if run.RetrieverWarmup < 0 {
		return nil, fmt.Errorf("realm: retriever warm-up must be ≥ 0 steps, got %d", run.RetrieverWarmup)
	}
	if run.RefreshEvery <= 0 {
		return nil, fmt.Errorf("realm: refresh interval must be > 0, got %d", run.RefreshEvery)
	}
	if c.Len() < cfg.TopK {
		return nil, fmt.Errorf("realm: the corpus has %d blocks, fewer than top_k %d", c.Len(), cfg.TopK)
	}
	if run.EmbedBatch <= 0 {
		run.EmbedBatch = 64
	}
	if run.StalenessQueries <= 0 {
		run.StalenessQueries = 64
	}
	p := &Pretrainer{Cfg: cfg, Run: run, Corpus: c, Store: store, Backend: backend, History: &training.History{}, Embeddings: &EmbeddingCache{}}
	s, err := MaskSentences(c, tagger, cfg, run.Seed, run.HeldOut)
	if err != nil {
		return nil, err
	}
	p.Train, p.Eval, p.MaskStats, p.Skipped = s.Train, s.Eval, s.Stats, s.Skipped
	if len(p.Train) < run.BatchSize {
		return nil, fmt.Errorf("realm: only %d training sentences, fewer than a batch of %d", len(p.Train), run.BatchSize)
	}
	if p.live, err = realm.NewRetriever(backend, store, cfg, run.EmbedBatch); err != nil {
		return nil, err
	}
	if p.snap, err = realm.NewRetriever(backend, nil, cfg, run.EmbedBatch); err != nil {
		return nil, err
	}
	// A fixed sample of held-out (or training) queries measures staleness.
	src := p.Eval
	if len(src) == 0 {
		src = p.Train
	}
	n := min(run.StalenessQueries, len(src))
	Q := cfg.QueryLen
	p.stalenQs, p.stalenM = make([]int32, n*Q), make([]bool, n*Q)
	for i := range n {
		w := realm.SeqWriter{IDs: p.stalenQs[i*Q : (i+1)*Q], Types: make([]int32, Q), Mask: p.stalenM[i*Q : (i+1)*Q]}
		w.PutAll(src[i].InputIDs[:min(len(src[i].InputIDs), Q)], 0)
		w.Pad(c.Tok.PAD())
	}
	return p, nil
}

// MaskedSentences are the salient-span-masked sentences of a corpus, split as REALM
// pre-training splits them.
type MaskedSentences struct {
	// Train and Eval are the examples, Eval those held out by a hash of block and sentence.
	Train, Eval []examples.Pretrain
	// Stats counts salient versus random masking over all examples.
	Stats spans.MaskStats
	// Skipped counts examples dropped because they masked more than cfg.MaxMasks tokens.
	Skipped int
}

// MaskSentences masks one salient span (found by tagger) of every sentence of c, as
// NewPretrainer does, drops those masking more than cfg.MaxMasks pieces and holds out the share
// heldOut of them: the same examples for the same corpus, tagger, seed and share, so that an
// analysis outside training (tools/probe) sees exactly the sentences a run trained and was
// evaluated on.
func MaskSentences(c *realm.Corpus, tagger spans.Tagger, cfg realm.Config, seed uint64, heldOut float64) (MaskedSentences, error) {
	var s MaskedSentences
	masker := spans.NewMasker(tagger, c.Tok)
	for ex, err := range examples.PretrainExamples(c.Tok, masker, c.BlockSeq(), examples.PretrainOptions{MaxLen: cfg.QueryLen, Seed: seed}) {
		if err != nil {
			return MaskedSentences{}, fmt.Errorf("realm: pre-training examples: %w", err)
		}
		if len(ex.Positions) > cfg.MaxMasks {
			s.Skipped++
			continue
		}
		if isHeldOut(ex, heldOut) {
			s.Eval = append(s.Eval, ex)
		} else {
			s.Train = append(s.Train, ex)
		}
	}
	s.Stats = masker.Stats()
	return s, nil
}

// isHeldOut tells whether ex falls in the held-out share frac: a hash of its block and
// sentence, so the split does not depend on the masking or on the order of the blocks.
func isHeldOut(ex examples.Pretrain, frac float64) bool {
	if frac <= 0 {
		return false
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d", ex.BlockID, ex.Sentence)
	return float64(h.Sum64()%1_000_000)/1e6 < frac
}

// QueryOf converts a pre-training example to the featuriser's realm.Query.
func QueryOf(ex examples.Pretrain) realm.Query {
	q := realm.Query{Tokens: ex.InputIDs[1 : len(ex.InputIDs)-1], Targets: ex.Targets}
	for _, p := range ex.Positions {
		q.Positions = append(q.Positions, int(p)-1)
	}
	return q
}

// embedAll embeds the corpus with snapshot s and measures how stale the index in service was.
func (p *Pretrainer) embedAll(ctx context.Context, s realm.Snapshot) ([]float32, []int64, error) {
	if err := p.snap.Load(s); err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	vecs, ids, err := p.snap.EmbedCorpus(ctx, p.Corpus)
	if err != nil {
		return nil, nil, err
	}
	embedTime := time.Since(t0)
	p.Embeddings.Put(s.DocFingerprint(), vecs, ids)
	if old := p.currentIndex(); old != nil && p.Refresher != nil {
		n := len(p.stalenM) / p.Cfg.QueryLen
		qv, err := p.snap.EmbedQueries(p.stalenQs, make([]int32, len(p.stalenQs)), p.stalenM, n)
		if err != nil {
			return nil, nil, err
		}
		fresh, err := mips.NewExact(vecs, ids, p.Cfg.ProjectionDim)
		if err != nil {
			return nil, nil, err
		}
		ov, err := mips.Overlap(old, fresh, qv, p.Cfg.TopK-1)
		if err != nil {
			return nil, nil, err
		}
		st := p.Refresher.Stats(0)
		p.mu.Lock()
		p.stale = append(p.stale, StalenessRecord{OldStep: st.Step, Overlap: ov, EmbedTime: embedTime})
		p.mu.Unlock()
	}
	return vecs, ids, nil
}

func (p *Pretrainer) currentIndex() mips.Index {
	if p.Refresher == nil {
		return nil
	}
	idx, _ := p.Refresher.Index()
	return idx
}

// Staleness returns the staleness measured at each refresh so far.
func (p *Pretrainer) Staleness() []StalenessRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]StalenessRecord(nil), p.stale...)
}

// BuildIndex embeds the corpus with the current retriever and starts the refresher with that
// index (synchronously: training needs an index from its first step). When Run.Dir holds a
// checkpoint of an interrupted run, it is restored first, so the resumed run starts from an
// index of its own parameters (the snapshot of the run's last refresh is not kept): the metric
// index_generation goes on from the checkpoint's generation + 1, index_age counts from the
// resumed step, and Run.Log says so.
func (p *Pretrainer) BuildIndex(ctx context.Context) error {
	if p.Run.Dir != "" {
		st, ok, err := (training.Checkpoints{Dir: p.Run.Dir}).Restore(p.Store)
		if err != nil {
			return fmt.Errorf("realm: resuming from %s: %w", p.Run.Dir, err)
		}
		if ok {
			p.genBase, p.indexFrom = st.IndexGeneration+1, st.Step
			if p.Run.Log != nil {
				fmt.Fprintf(p.Run.Log, "realm: resuming at step %d: the index (generation %d, from the parameters of step %d) is rebuilt from those of step %d as generation %d\n",
					st.Step, st.IndexGeneration, st.IndexStep, st.Step, p.genBase)
			}
		}
	}
	s, err := realm.TakeSnapshot(p.Store)
	if err != nil {
		// A store without a retriever yet: create its variables by embedding one query.
		if _, err2 := p.live.EmbedQueries(p.stalenQs[:p.Cfg.QueryLen], make([]int32, p.Cfg.QueryLen), p.stalenM[:p.Cfg.QueryLen], 1); err2 != nil {
			return err2
		}
		if s, err = realm.TakeSnapshot(p.Store); err != nil {
			return err
		}
	}
	vecs, ids, err := p.embedAll(ctx, s)
	if err != nil {
		return fmt.Errorf("realm: building the initial index: %w", err)
	}
	idx, err := mips.NewExact(vecs, ids, p.Cfg.ProjectionDim)
	if err != nil {
		return err
	}
	if p.Refresher != nil {
		p.Refresher.Close()
	}
	p.Refresher, err = mips.NewRefresher(mips.RefresherConfig[realm.Snapshot]{
		Dim:   p.Cfg.ProjectionDim,
		Embed: p.embedAll,
		OnSwap: func(st mips.RefreshStats) {
			p.mu.Lock()
			defer p.mu.Unlock()
			if n := len(p.stale); n > 0 {
				p.stale[n-1].Step, p.stale[n-1].BuildTime, p.stale[n-1].Ready = st.Step, st.BuildTime, p.step
			}
		},
	}, idx)
	return err
}

// Close stops the background index builder.
func (p *Pretrainer) Close() {
	if p.Refresher != nil {
		p.Refresher.Close()
	}
}

// candidates retrieves the top k−1 blocks of c for each masked sentence of exs from idx, the
// queries embedded by retr, skipping each sentence's source block (no trivial retrieval; a
// BlockID of −1 excludes nothing).
func candidates(cfg realm.Config, c *realm.Corpus, exs []examples.Pretrain, idx mips.Index, retr *realm.Retriever) ([][]realm.Doc, error) {
	B, Q := len(exs), cfg.QueryLen
	ids, types, mask := make([]int32, B*Q), make([]int32, B*Q), make([]bool, B*Q)
	for i, ex := range exs {
		w := realm.SeqWriter{IDs: ids[i*Q : (i+1)*Q], Types: types[i*Q : (i+1)*Q], Mask: mask[i*Q : (i+1)*Q]}
		w.PutAll(ex.InputIDs[:min(len(ex.InputIDs), Q)], 0)
		w.Pad(c.Tok.PAD())
	}
	qv, err := retr.EmbedQueries(ids, types, mask, B)
	if err != nil {
		return nil, err
	}
	k := cfg.TopK - 1
	res, err := idx.Search(qv, k+1)
	if err != nil {
		return nil, fmt.Errorf("realm: searching the index: %w", err)
	}
	out := make([][]realm.Doc, B)
	for i, rs := range res {
		for _, r := range rs {
			if r.ID == exs[i].BlockID || len(out[i]) == k {
				continue
			}
			doc, err := c.Doc(r.ID)
			if err != nil {
				return nil, err
			}
			out[i] = append(out[i], doc)
		}
		if len(out[i]) < k {
			return nil, fmt.Errorf("realm: the index returned %d documents besides the source, want %d", len(out[i]), k)
		}
	}
	return out, nil
}

// Pretrain runs the training loop (BuildIndex first). Metrics per step: loss, the moving
// average of retrieval utility, and the index's generation and age in steps.
//
// The masked-token accuracies with retrieval and with ∅ only (acc_retrieval, acc_null) need
// the encoder's full logits, which the training step (realm.Config.Forward) does not compute; every
// Run.MetricsEvery steps, at logged steps and at the last step they are measured with
// realm.Config.ForwardWithMetrics (no dropout) on the step's batch before the step trains on it,
// and recorded as moving averages over the measurements (decay 0.95 per step, as utility's),
// only in the records of those steps.
func (p *Pretrainer) Pretrain(ctx context.Context) error {
	if p.Refresher == nil {
		if err := p.BuildIndex(ctx); err != nil {
			return err
		}
	}
	cfg := p.Cfg
	ord := &training.Order{N: len(p.Train), Seed: p.Run.Seed}
	acc := &accuracySampler{p: p, every: int64(p.Run.MetricsEvery), logEvery: int64(p.Run.LogEvery), last: int64(p.Run.Steps)}
	ph := &training.Phase{Task: "realm", Run: p.Run.RunConfig, Backend: p.Backend, Store: p.Store, Config: cfg, History: p.History,
		// p_null is the mean p(∅|x) and p_max the mean max_z p(z|x): how much of the retrieval
		// distribution the null document takes, and how peaked it is (the retriever's gradient
		// p(z|x)·r(z) reaches a candidate only in proportion to its probability).
		MetricNames: []string{"utility", "p_null", "p_max"},
		ModelFn: func(scope *model.Scope, in []*Node) []*Node {
			o := cfg.Forward(scope, realm.BatchFromNodes(in))
			train.AddMainLoss(o.Loss)
			pz := StopGradient(Exp(o.LogPz)) // [B, K], candidate 0 is ∅.
			pNull := ReduceAllMean(SliceAxis(pz, 1, AxisRange(0, 1)))
			return []*Node{ReduceAllMean(o.Utility), pNull, ReduceAllMean(ReduceMax(pz, -1))}
		},
		Batch: func(step int64) ([]*tensors.Tensor, error) {
			B := p.Run.BatchSize
			exs := make([]examples.Pretrain, B)
			for b := range B {
				exs[b] = p.Train[ord.At(step*int64(B)+int64(b))]
			}
			idx, _ := p.Refresher.Index()
			d, _, err := p.batchData(exs, idx)
			if err != nil {
				return nil, err
			}
			if step < int64(p.Run.RetrieverWarmup) {
				d.RetrieverGate = 0
			}
			ts := d.Tensors()
			if err := acc.measure(step+1, ts); err != nil { // batch `step` is trained by global step step+1.
				return nil, err
			}
			return ts, nil
		},
		AfterStep: func(step int64, rec *training.Record) error {
			acc.record(step, rec)
			p.mu.Lock()
			p.step = step
			p.mu.Unlock()
			st := p.Refresher.Stats(step)
			rec.Metrics["index_generation"] = float64(p.genBase + int64(st.Generation))
			rec.Metrics["index_age"] = float64(st.Age)
			if st.Step < 0 { // the initial index: built from the parameters of step indexFrom.
				rec.Metrics["index_age"] = float64(step - p.indexFrom)
			}
			// A failed refresh keeps the previous index in service (mips.Refresher); training goes
			// on with it, and the failures are counted in the metrics.
			rec.Metrics["index_failures"] = float64(st.Failures)
			// Refresh every RefreshEvery steps and after the last one, so that the index in
			// service after training (Refresher.WaitIdle) is the final model's; not while the
			// retriever is frozen (RetrieverWarmup): the index in service is still fresh.
			last := step == int64(p.Run.Steps)
			if (step%int64(p.Run.RefreshEvery) == 0 && step > int64(p.Run.RetrieverWarmup)) || last {
				s, err := realm.TakeSnapshot(p.Store)
				if err != nil {
					return err
				}
				return p.Refresher.Trigger(step, s)
			}
			return nil
		},
		State: func(st *training.TrainState) {
			rs := p.Refresher.Stats(0)
			st.IndexGeneration, st.IndexStep = p.genBase+int64(rs.Generation), rs.Step
			if rs.Step < 0 {
				st.IndexStep = p.indexFrom
			}
		},
	}
	return ph.Execute(ctx)
}

// EvalResult are held-out measures of a REALM model (the evidence that learning is real).
type EvalResult struct {
	// Examples is the number of held-out sentences evaluated.
	Examples int `json:"examples"`
	// AccRetrieval and AccNull are masked-token accuracies with the retrieved documents and
	// with the null document only; Utility the mean retrieval utility.
	AccRetrieval float64 `json:"acc_retrieval"`
	AccNull      float64 `json:"acc_null"`
	Utility      float64 `json:"utility"`
	// SameTitleRecall is the fraction of sentences whose top TopK−1 retrieved blocks (source
	// excluded) include another block of the same title (for the Factbook: the same country).
	SameTitleRecall float64 `json:"same_title_recall"`
	// RandomRecall is the same fraction for uniformly random blocks (computed exactly).
	RandomRecall float64 `json:"random_recall"`
}

// accuracySampler measures the masked-token accuracies of the pre-training loop on some of
// its batches (see Pretrain).
type accuracySampler struct {
	p                     *Pretrainer
	every, logEvery, last int64
	exec                  *model.Exec
	mu                    sync.Mutex
	pending               map[int64][2]float64 // global step → (acc_retrieval, acc_null) of its batch.
	ema                   [2]float64
	emaStep               int64 // the step of the last measurement in ema (0: none yet).
}

// due tells whether the batch of global step step is measured.
func (a *accuracySampler) due(step int64) bool {
	every, logEvery := a.every, a.logEvery
	if every <= 0 {
		every = 10
	}
	if logEvery <= 0 {
		logEvery = 50 // as training.Phase.Execute.
	}
	return step%every == 0 || step%logEvery == 0 || step == a.last
}

// measure computes the accuracies of the batch ts of global step step, if due.
func (a *accuracySampler) measure(step int64, ts []*tensors.Tensor) error {
	if !a.due(step) {
		return nil
	}
	if a.exec == nil {
		exec, err := a.p.lmExec()
		if err != nil {
			return err
		}
		a.exec = exec
	}
	// The measure needs the encoder's full [B, K, M, V] logits: with micro-batches it runs on
	// the same parts as the training step, so it needs no more memory than the step.
	parts := [][]*tensors.Tensor{ts}
	if n := a.p.Run.Parts(); n > 1 {
		var err error
		if parts, err = training.SplitBatch(ts, a.p.Run.BatchSize, n); err != nil {
			return err
		}
		defer func() {
			for _, part := range parts {
				for _, t := range part {
					t.MustFinalizeAll()
				}
			}
		}()
	}
	var sumR, sumNull, count float64
	for _, part := range parts {
		args := make([]any, len(part))
		for i, t := range part {
			args[i] = t
		}
		out, err := a.exec.Call(args...)
		if err != nil {
			return fmt.Errorf("masked-token accuracies: %w", err)
		}
		sumR, sumNull, count = sumR+training.ScalarFloat64(out[0]), sumNull+training.ScalarFloat64(out[1]), count+training.ScalarFloat64(out[2])
		for _, o := range out {
			o.MustFinalizeAll()
		}
	}
	n := max(count, 1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending == nil {
		a.pending = map[int64][2]float64{}
	}
	a.pending[step] = [2]float64{sumR / n, sumNull / n}
	return nil
}

// record adds the moving averages of the accuracies to rec when step's batch was measured.
func (a *accuracySampler) record(step int64, rec *training.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.pending[step]
	if !ok {
		return
	}
	delete(a.pending, step)
	if a.emaStep == 0 || step <= a.emaStep {
		a.ema = v
	} else {
		w := 1 - math.Pow(0.95, float64(step-a.emaStep)) // the per-step decay of the trainer's metrics.
		for i := range v {
			a.ema[i] += w * (v[i] - a.ema[i])
		}
	}
	a.emaStep = step
	rec.Metrics["acc_retrieval"], rec.Metrics["acc_null"] = a.ema[0], a.ema[1]
}

// lmExec returns an executable of realm.Config.ForwardWithMetrics in inference mode over a batch's
// tensors: the sums over real masked tokens of the accuracies with retrieval and with ∅ only,
// the number of real masked tokens, the sum of the per-example utilities, and the loss.
func (p *Pretrainer) lmExec() (*model.Exec, error) {
	cfg := p.Cfg
	return model.NewExec(p.Backend, p.Store, func(scope *model.Scope, in []*Node) []*Node {
		b := realm.BatchFromNodes(in)
		o := cfg.ForwardWithMetrics(scope, b)
		w := ConvertDType(b.TargetMask, dtypes.Float32)
		return []*Node{ReduceAllSum(Mul(o.AccRetrieval, w)), ReduceAllSum(Mul(o.AccNull, w)), ReduceAllSum(w), ReduceAllSum(o.Utility), o.Loss}
	})
}

// EvaluateLM measures, on exs with the index in service and the current θ, masked-token
// accuracy with retrieval and with the null document only, and the mean retrieval utility.
func (p *Pretrainer) EvaluateLM(ctx context.Context, exs []examples.Pretrain) (accR, accNull, utility float64, err error) {
	exec, err := p.lmExec()
	if err != nil {
		return 0, 0, 0, err
	}
	if p.Refresher == nil {
		return 0, 0, 0, fmt.Errorf("realm: EvaluateLM before BuildIndex")
	}
	idx, _ := p.Refresher.Index()
	B := p.Run.BatchSize / p.Run.Parts() // a training step's micro-batch: no more memory than training.
	var sumR, sumN, count, sumU float64
	n := 0
	for start := 0; start+B <= len(exs); start += B {
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		d, _, err := p.batchData(exs[start:start+B], idx)
		if err != nil {
			return 0, 0, 0, err
		}
		out, err := exec.Call(d.Args()...)
		if err != nil {
			return 0, 0, 0, err
		}
		sumR += training.ScalarFloat64(out[0])
		sumN += training.ScalarFloat64(out[1])
		count += training.ScalarFloat64(out[2])
		sumU += training.ScalarFloat64(out[3])
		n += B
		realm.ReportProgress(ctx, "evaluating held-out sentences", n, len(exs))
	}
	if n == 0 || count == 0 {
		return 0, 0, 0, fmt.Errorf("realm: %d held-out sentences, fewer than a batch of %d", len(exs), B)
	}
	return sumR / count, sumN / count, sumU / float64(n), nil
}

// batchData retrieves the candidates of exs from idx with the live retriever (the source block
// excluded) and featurises them with ∅ as a batch of len(exs).
func (p *Pretrainer) batchData(exs []examples.Pretrain, idx mips.Index) (*realm.BatchData, [][]realm.Doc, error) {
	return batchData(p.Cfg, p.Corpus, exs, idx, p.live)
}

// batchData retrieves the candidates of exs from idx, the queries embedded by retr (the source
// block excluded), and featurises them with ∅ as a batch of len(exs).
func batchData(cfg realm.Config, c *realm.Corpus, exs []examples.Pretrain, idx mips.Index, retr *realm.Retriever) (*realm.BatchData, [][]realm.Doc, error) {
	docs, err := candidates(cfg, c, exs, idx, retr)
	if err != nil {
		return nil, nil, err
	}
	sp := realm.SpecialTokens(c.Tok)
	d := cfg.NewBatchData(len(exs))
	for b, ex := range exs {
		if err := d.Set(b, sp, QueryOf(ex), docs[b]); err != nil {
			return nil, nil, fmt.Errorf("block %d sentence %d: %w", ex.BlockID, ex.Sentence, err)
		}
	}
	return d, docs, nil
}

// Scored is one masked sentence as REALM reads it: the candidates it retrieved and what each
// contributes to predicting the masked tokens (Pretrainer.Score).
type Scored struct {
	// Blocks are the candidates' block ids, the null document ∅ first (as −1).
	Blocks []int64
	// PZ is p(z|x) of each candidate, and R the paper's r(z) = [p(y|z,x)/p(y|x) − 1]·p(z|x)
	// (§2.4, averaged over the masked tokens: the gradient of log p(y|x) with respect to
	// f(x,z); positive when z predicts the masked tokens better than the expectation over the
	// candidates; Σ_z r(z) = 0), both in the order of Blocks.
	PZ, R []float64
	// LogLikelihood is log p(y|x) summed over the masked tokens.
	LogLikelihood float64
	// Utility is the retrieval utility log p(y|x) − log p(y|∅,x).
	Utility float64
}
