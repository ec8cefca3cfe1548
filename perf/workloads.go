package perf

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/training"
)

// REALMStepConfig is a REALM pre-training step workload.
type REALMStepConfig struct {
	// Model gives the shapes: QueryLen, DocLen, TopK (∅ included), MaxMasks and both BERTs.
	Model realm.Config
	// Batch is the number of masked sentences per step.
	Batch int
}

// DefaultREALMStep is the benchmarks' REALM step: realm.DefaultConfig (retriever with shared
// towers and encoder both BERT L2/H128/A2, d = 128, k = 8 with ∅, queries of 64 and documents
// of 128 wordpieces, joint sequences of 192, 10 masked slots) on a batch of 8.
func DefaultREALMStep() REALMStepConfig {
	return REALMStepConfig{Model: realm.DefaultConfig(), Batch: 8}
}

// NewREALMStep builds one REALM pre-training step as the training loop runs it: the B×K
// candidates re-embedded with gradient, the encoder over the B×K joint sequences, the
// marginal likelihood (realm.Config.Forward), its gradient and training.DefaultOptimizer (AdamW
// with clipping), dropout on, on a batch of random ids with every sequence full (no padding).
// The graph returns the loss only. A fresh store holds the variables.
func NewREALMStep(be compute.Backend, c REALMStepConfig) (*Workload, error) {
	cfg := c.Model
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if c.Batch <= 0 {
		return nil, fmt.Errorf("batch must be > 0, got %d", c.Batch)
	}
	args := realmBatch(cfg, c.Batch, 1)
	opt := training.DefaultOptimizer(1e-4, 1000)
	exec, err := model.NewExec(be, model.NewStore(), func(scope *model.Scope, in []*graph.Node) *graph.Node {
		scope.Store().SetTraining(in[0].Graph(), true)
		o := cfg.Forward(scope, realm.BatchFromNodes(in))
		opt.Update(scope, o.Loss)
		return o.Loss
	})
	if err != nil {
		return nil, err
	}
	return newWorkload(c.names(), exec, args)
}

// names returns the workload's names (bench/torch_bert.py's for the defaults).
func (c REALMStepConfig) names() *Workload {
	m, r := c.Model, c.Model.Retriever
	return &Workload{Bench: "realm_train_step",
		Config: fmt.Sprintf("B%d_K%d_Q%d_D%d_L%d_H%d_A%d", c.Batch, m.TopK, m.QueryLen, m.DocLen, r.NumHiddenLayers, r.HiddenSize, r.NumAttentionHeads),
		Label:  fmt.Sprintf("REALM train step (%d queries×%d, k=%d docs×%d, joint %d)", c.Batch, m.QueryLen, m.TopK, m.DocLen, m.QueryLen+m.DocLen)}
}

func (c REALMStepConfig) build(be compute.Backend) (*Workload, error) { return NewREALMStep(be, c) }

// realmBatch is a batch of random ids of the shapes of cfg: every query, document and joint
// sequence full (no padding), MaxMasks masked positions in each query.
func realmBatch(cfg realm.Config, B int, seed uint64) []any {
	rng := rand.New(rand.NewPCG(seed, 3))
	d := cfg.NewBatchData(B)
	V := int32(cfg.Encoder.VocabSize)
	lo := min(1000, V/2) // ids above the special tokens.
	fill := func(ids, types []int32, mask []bool, S, split int) {
		for i := range ids {
			ids[i] = lo + rng.Int32N(V-lo)
			mask[i] = true
			if i%S >= split {
				types[i] = 1
			}
		}
	}
	fill(d.QueryIDs, d.QueryTypes, d.QueryMask, cfg.QueryLen, cfg.QueryLen)
	fill(d.DocIDs, d.DocTypes, d.DocMask, cfg.DocLen, cfg.DocLen/4)
	fill(d.JointIDs, d.JointTypes, d.JointMask, cfg.QueryLen+cfg.DocLen, cfg.QueryLen)
	for i := range d.Positions {
		d.Positions[i] = 1 + rng.Int32N(int32(cfg.QueryLen-2))
		d.Targets[i] = lo + rng.Int32N(V-lo)
		d.TargetMask[i] = true
	}
	return d.Args()
}

// BERTStepConfig is a BERT masked-LM training step workload.
type BERTStepConfig struct {
	// Model is the BERT.
	Model bert.Config
	// Batch sequences of SeqLen tokens, with the MLM head at Masked positions of each.
	Batch, SeqLen, Masked int
}

// DefaultBERTStep is the benchmarks' BERT step for model: batch 16 × 128 tokens, 20 masked
// positions per sequence.
func DefaultBERTStep(m bert.Config) BERTStepConfig {
	return BERTStepConfig{Model: m, Batch: 16, SeqLen: 128, Masked: 20}
}

// NewBERTStep builds one MLM training step (forward, backward, AdamW with weight decay 0.01)
// with dropout on: bert.Encode, then bert.MLMLogProbs at the masked positions only, on
// random ids with a little padding (sequence b has b mod 8 padding tokens).
func NewBERTStep(be compute.Backend, c BERTStepConfig) (*Workload, error) {
	cfg := c.Model
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	B, S, M := c.Batch, c.SeqLen, c.Masked
	if B <= 0 || S < 16 || M <= 0 || S > cfg.MaxPositionEmbeddings {
		return nil, fmt.Errorf("want batch > 0, 16 ≤ sequence length ≤ %d and masked > 0, got %d, %d, %d", cfg.MaxPositionEmbeddings, B, S, M)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ids, types := make([]int32, B*S), make([]int32, B*S)
	mask := make([]bool, B*S)
	for i := range ids {
		ids[i] = rng.Int32N(int32(cfg.VocabSize))
		types[i] = int32(i % S / (S / 2))
		mask[i] = i%S < S-(i/S)%8 // a little padding.
	}
	pos, labels := make([]int32, B*M), make([]int32, B*M)
	for i := range pos {
		pos[i] = rng.Int32N(int32(S - 8))
		labels[i] = rng.Int32N(int32(cfg.VocabSize))
	}
	args := []any{tensors.FromFlatDataAndDimensions(ids, B, S), tensors.FromFlatDataAndDimensions(types, B, S),
		tensors.FromFlatDataAndDimensions(mask, B, S), tensors.FromFlatDataAndDimensions(pos, B, M),
		tensors.FromFlatDataAndDimensions(labels, B, M)}
	opt := optimizer.Adam().LearningRate(1e-4).WeightDecay(0.01).Done()
	exec, err := model.NewExec(be, model.NewStore(), func(scope *model.Scope, in []*graph.Node) *graph.Node {
		g := in[0].Graph()
		scope.Store().SetTraining(g, true)
		h := bert.Encode(scope, cfg, in[0], in[1], in[2])
		l := graph.Neg(graph.ReduceAllMean(bert.MLMLogProbs(scope, cfg, h, in[3], in[4])))
		opt.UpdateGraph(scope, g, l)
		return l
	})
	if err != nil {
		return nil, err
	}
	return newWorkload(c.names(), exec, args)
}

// names returns the workload's names (bench/torch_bert.py's for the defaults).
func (c BERTStepConfig) names() *Workload {
	name := fmt.Sprintf("L%d_H%d_A%d", c.Model.NumHiddenLayers, c.Model.HiddenSize, c.Model.NumAttentionHeads)
	return &Workload{Bench: "bert_train_step", Config: name,
		Label: fmt.Sprintf("BERT MLM train step %s (%d×%d, %d masked/seq)", name, c.Batch, c.SeqLen, c.Masked)}
}

func (c BERTStepConfig) build(be compute.Backend) (*Workload, error) { return NewBERTStep(be, c) }

// EmbedDocsConfig is a document-embedding (index building) workload.
type EmbedDocsConfig struct {
	// Model is the retriever; Model.DocLen is the block length in wordpieces.
	Model realm.Config
	// Blocks is the number of blocks embedded per step.
	Blocks int
}

// DefaultEmbedDocs is the benchmarks' embedding workload: realm.DefaultConfig's document tower
// (BERT L2/H128/A2 + projection to d = 128) on batches of 32 blocks of 288 wordpieces.
func DefaultEmbedDocs() EmbedDocsConfig {
	cfg := realm.DefaultConfig()
	cfg.DocLen = 288
	return EmbedDocsConfig{Model: cfg, Blocks: 32}
}

// NewEmbedDocs builds the document tower embedding Blocks full blocks of random ids in
// inference mode (realm.Config.EmbedDocs), and reports blocks/s.
func NewEmbedDocs(be compute.Backend, c EmbedDocsConfig) (*Workload, error) {
	cfg := c.Model
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	N, S := c.Blocks, cfg.DocLen
	if N <= 0 {
		return nil, fmt.Errorf("blocks must be > 0, got %d", N)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	V := int32(cfg.Retriever.VocabSize)
	lo := min(1000, V/2)
	ids, types, mask := make([]int32, N*S), make([]int32, N*S), make([]bool, N*S)
	for i := range ids {
		ids[i] = lo + rng.Int32N(V-lo)
		mask[i] = true
	}
	args := []any{tensors.FromFlatDataAndDimensions(ids, N, S),
		tensors.FromFlatDataAndDimensions(types, N, S), tensors.FromFlatDataAndDimensions(mask, N, S)}
	exec, err := model.NewExec(be, model.NewStore(), func(scope *model.Scope, ids, types, mask *graph.Node) *graph.Node {
		return cfg.EmbedDocs(scope, ids, types, mask)
	})
	if err != nil {
		return nil, err
	}
	return newWorkload(c.names(), exec, args)
}

// names returns the workload's names (bench/torch_bert.py's for the defaults) and units.
func (c EmbedDocsConfig) names() *Workload {
	r := c.Model.Retriever
	return &Workload{Bench: "embed_docs",
		Config: fmt.Sprintf("L%d_H%d_A%d_S%d", r.NumHiddenLayers, r.HiddenSize, r.NumAttentionHeads, c.Model.DocLen),
		Label:  fmt.Sprintf("Document embedding, %d blocks × %d tokens (inference)", c.Blocks, c.Model.DocLen),
		Units:  c.Blocks, UnitName: "blocks"}
}

func (c EmbedDocsConfig) build(be compute.Backend) (*Workload, error) { return NewEmbedDocs(be, c) }

// newWorkload makes w's step a call of exec on args and makes the untimed first call.
func newWorkload(w *Workload, exec *model.Exec, args []any) (*Workload, error) {
	w.step = func() error {
		out, err := exec.Call(args...)
		for _, t := range out {
			_ = t.FinalizeAll()
		}
		return err
	}
	start := time.Now()
	if err := w.step(); err != nil { // build, compile, initialise.
		return nil, err
	}
	w.Setup = time.Since(start)
	return w, nil
}

// Standard returns the benchmark workloads on be, in ascending order of memory (so that, where
// the peak RSS cannot be reset between workloads, each row's peak is mostly its own):
// document embedding, the BERT L2/H128/A2 and L4/H256/A4 steps, the REALM step. Embedding
// runs 3 steps for every step asked for (a step is short).
func Standard(be compute.Backend) []Case {
	return cases(be, DefaultEmbedDocs(), DefaultBERTStep(bert.Tiny()), DefaultBERTStep(bert.Small()), DefaultREALMStep())
}

// Tiny returns the workloads of Standard at toy sizes (a 2000-word vocabulary, BERTs of one
// layer and 32 units, sequences of a few dozen tokens), for smoke tests: seconds in all.
// They have no peer.
func Tiny(be compute.Backend) []Case {
	b := bert.Tiny()
	b.VocabSize, b.HiddenSize, b.NumHiddenLayers, b.NumAttentionHeads, b.IntermediateSize = 2000, 32, 1, 2, 64
	b.MaxPositionEmbeddings = 64
	r := realm.Config{Retriever: b, Encoder: b, ProjectionDim: 16, QueryLen: 16, DocLen: 32, TopK: 3, MaxMasks: 3}
	e := r
	e.DocLen = 48
	return cases(be, EmbedDocsConfig{Model: e, Blocks: 4}, BERTStepConfig{Model: b, Batch: 4, SeqLen: 32, Masked: 4},
		REALMStepConfig{Model: r, Batch: 2})
}

// workloadConfig is implemented by the workload configurations.
type workloadConfig interface {
	names() *Workload
	build(be compute.Backend) (*Workload, error)
}

// cases wraps workload configurations into Cases on be.
func cases(be compute.Backend, cfgs ...workloadConfig) []Case {
	out := make([]Case, len(cfgs))
	for i, c := range cfgs {
		w := c.names()
		out[i] = Case{Bench: w.Bench, Config: w.Config, Label: w.Label, New: func() (*Workload, error) { return c.build(be) }}
		if w.Units > 0 {
			out[i].Steps = 3 // embedding: a step is short.
		}
	}
	return out
}
