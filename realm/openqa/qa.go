package openqa

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/mips"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/bm25"
)

// This file is open-domain question answering with a retriever and the span reader of
// reader.go (REALM §3.5, ORQA §4): the QA model, its pluggable retrievers and Answer.

// QARetriever finds the blocks the reader reads. Three retrievers share the same fine-tuning
// and evaluation code path: REALM's and the ICT-only (ORQA) retrievers are DenseRetrievers over
// different pre-trained stores; BM25 is the sparse baseline.
//
// With a *DenseRetriever, p(z|x) = softmax f(x,z) over the top-k and fine-tuning trains its query
// tower (the document embeddings stay fixed). With any other retriever (BM25), the reader takes
// p(z|x) as uniform over the top-k — BM25 scores are not calibrated log-probabilities — and there
// is no retriever loss.
type QARetriever interface {
	// Name identifies the retriever in results ("bm25", "realm", "ict", …).
	Name() string
	// Retrieve returns the k best blocks of each question, by descending score.
	Retrieve(ctx context.Context, questions []string, k int) ([][]mips.Result, error)
}

// questionPieces returns the wordpiece ids of a question cut to the query's QueryLen−2.
func questionPieces(tok *tokenize.Tokenizer, question string, queryLen int) []int32 {
	ids := tok.IDs(question)
	n := min(len(ids), queryLen-2)
	return ids[:n:n]
}

// putQuery writes [CLS] x [SEP] (types 0) and padding into row i of flat [·, Q] slices.
func putQuery(sp realm.Special, x []int32, Q, i int, ids, types []int32, mask []bool) {
	w := realm.SeqWriter{IDs: ids[i*Q : (i+1)*Q], Types: types[i*Q : (i+1)*Q], Mask: mask[i*Q : (i+1)*Q]}
	w.Put(sp.CLS, 0)
	w.PutAll(x, 0)
	w.Put(sp.SEP, 0)
	w.Pad(sp.PAD)
}

// DenseRetriever is REALM's (or ORQA's) retriever at fine-tuning and test time: the query tower
// of a model.Store against fixed document embeddings Embed_doc(z) computed once, searched
// exactly. The store is shared with the QA model, so fine-tuning the query tower changes the
// queries and not the index.
type DenseRetriever struct {
	// Label is returned by Name.
	Label string
	cfg   realm.Config
	c     *realm.Corpus
	index *mips.Exact // row i is block i.
	mu    sync.Mutex
	emb   *realm.Retriever
	batch int
}

// qaQueryBatch is the number of questions embedded per call (padded): one compiled graph.
const qaQueryBatch = 8

// NewDenseRetriever embeds every block of c with the document tower of store (as it is now) and
// indexes the embeddings; queries use store's query tower, live.
func NewDenseRetriever(ctx context.Context, backend compute.Backend, store *model.Store, cfg realm.Config, c *realm.Corpus, label string) (*DenseRetriever, error) {
	r, err := realm.NewRetriever(backend, store, cfg, 64)
	if err != nil {
		return nil, err
	}
	vecs, _, err := r.EmbedCorpus(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("realm qa: embedding the corpus for %s: %w", label, err)
	}
	return newDenseRetriever(r, cfg, c, vecs, label)
}

// NewDenseRetrieverFromVectors uses given document embeddings vecs ([N, d] row-major, row i for
// block i of c, e.g. a saved index) with store's query tower. vecs is copied.
func NewDenseRetrieverFromVectors(backend compute.Backend, store *model.Store, cfg realm.Config, c *realm.Corpus, vecs []float32, label string) (*DenseRetriever, error) {
	if len(vecs) != c.Len()*cfg.ProjectionDim {
		return nil, fmt.Errorf("realm qa: %d embedding values for %d blocks of dimension %d", len(vecs), c.Len(), cfg.ProjectionDim)
	}
	r, err := realm.NewRetriever(backend, store, cfg, 64)
	if err != nil {
		return nil, err
	}
	return newDenseRetriever(r, cfg, c, vecs, label)
}

// NewDenseRetrieverFromIndex uses the exact index idx, whose row i (id i) is the embedding of
// block i of c, with store's query tower. With mips.NewExactInPlace the index is the only copy
// of the embeddings (the 6.8 GB block_emb of a released REALM model).
func NewDenseRetrieverFromIndex(backend compute.Backend, store *model.Store, cfg realm.Config, c *realm.Corpus, idx *mips.Exact, label string) (*DenseRetriever, error) {
	if idx.Len() != c.Len() || idx.Dim() != cfg.ProjectionDim {
		return nil, fmt.Errorf("realm qa: an index of %d×%d for %d blocks of dimension %d", idx.Len(), idx.Dim(), c.Len(), cfg.ProjectionDim)
	}
	r, err := realm.NewRetriever(backend, store, cfg, 64)
	if err != nil {
		return nil, err
	}
	return &DenseRetriever{Label: label, cfg: cfg, c: c, index: idx, emb: r, batch: qaQueryBatch}, nil
}

func newDenseRetriever(r *realm.Retriever, cfg realm.Config, c *realm.Corpus, vecs []float32, label string) (*DenseRetriever, error) {
	if len(vecs) != c.Len()*cfg.ProjectionDim {
		return nil, fmt.Errorf("realm qa: %d embedding values for %d blocks of dimension %d", len(vecs), c.Len(), cfg.ProjectionDim)
	}
	idx, err := mips.NewExact(vecs, nil, cfg.ProjectionDim)
	if err != nil {
		return nil, fmt.Errorf("realm qa: indexing %s: %w", label, err)
	}
	return &DenseRetriever{Label: label, cfg: cfg, c: c, index: idx, emb: r, batch: qaQueryBatch}, nil
}

// Name implements QARetriever.
func (d *DenseRetriever) Name() string { return d.Label }

// QAIndexFile is the name of the fixed document index that FineTune keeps in its run directory.
const QAIndexFile = "qa_doc_index.mips"

// Save writes the fixed document index (mips format, exact, block ids 0…N−1).
func (d *DenseRetriever) Save(path string) error {
	if err := d.index.Save(path); err != nil {
		return fmt.Errorf("realm qa: saving the %s index: %w", d.Label, err)
	}
	return nil
}

// LoadDenseRetriever is a DenseRetriever over store's query tower and the document embeddings
// saved at path (by Save, e.g. the QAIndexFile of a fine-tuning run). With shared towers
// (realm.Config.SeparateTowers false) fine-tuning changes the document tower's weights too, so a
// fine-tuned store must be evaluated against the index it was fine-tuned with, not a re-embedded
// corpus.
func LoadDenseRetriever(backend compute.Backend, store *model.Store, cfg realm.Config, c *realm.Corpus, path, label string) (*DenseRetriever, error) {
	vecs, err := loadIndexVectors(path, c.Len(), cfg.ProjectionDim)
	if err != nil {
		return nil, err
	}
	return NewDenseRetrieverFromVectors(backend, store, cfg, c, vecs, label)
}

// loadIndexVectors reads an exact index of n blocks of dimension dim into rows by block id.
func loadIndexVectors(path string, n, dim int) ([]float32, error) {
	idx, err := mips.Load(path)
	if err != nil {
		return nil, fmt.Errorf("realm qa: %w", err)
	}
	ex, ok := idx.(*mips.Exact)
	if !ok || ex.Len() != n || ex.Dim() != dim {
		return nil, fmt.Errorf("realm qa: %s is a %v index of %d×%d, want an exact one of %d blocks × %d", path, idx.Kind(), idx.Len(), idx.Dim(), n, dim)
	}
	rows, ids := ex.Vectors(), ex.IDs()
	vecs := make([]float32, n*dim)
	for i, id := range ids {
		if id < 0 || id >= int64(n) {
			return nil, fmt.Errorf("realm qa: %s holds block id %d outside the corpus's %d", path, id, n)
		}
		copy(vecs[id*int64(dim):(id+1)*int64(dim)], rows[i*dim:(i+1)*dim])
	}
	return vecs, nil
}

// useVectors replaces the document embeddings and index.
func (d *DenseRetriever) useVectors(vecs []float32) error {
	nd, err := newDenseRetriever(d.emb, d.cfg, d.c, vecs, d.Label)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.index = nd.index
	d.mu.Unlock()
	return nil
}

// Vectors returns the fixed document embeddings, [N, d] row-major by block id (a copy).
func (d *DenseRetriever) Vectors() []float32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.index.Vectors()
}

// EmbedQuestions embeds questions with the store's query tower (as [CLS] question [SEP]) →
// [len(questions)·d] row-major.
func (d *DenseRetriever) EmbedQuestions(questions []string) ([]float32, error) {
	Q, dim, sp := d.cfg.QueryLen, d.cfg.ProjectionDim, realm.SpecialTokens(d.c.Tok)
	out := make([]float32, 0, len(questions)*dim)
	ids, types, mask := make([]int32, d.batch*Q), make([]int32, d.batch*Q), make([]bool, d.batch*Q)
	d.mu.Lock()
	defer d.mu.Unlock()
	for start := 0; start < len(questions); start += d.batch {
		end := min(start+d.batch, len(questions))
		for i := range d.batch {
			var x []int32
			if start+i < end {
				x = questionPieces(d.c.Tok, questions[start+i], Q)
			}
			putQuery(sp, x, Q, i, ids, types, mask)
		}
		v, err := d.emb.EmbedQueries(ids, types, mask, d.batch)
		if err != nil {
			return nil, err
		}
		out = append(out, v[:(end-start)*dim]...)
	}
	return out, nil
}

// Retrieve implements QARetriever: the top k blocks by f(x,z) = Embed_input(x)ᵀ Embed_doc(z).
func (d *DenseRetriever) Retrieve(ctx context.Context, questions []string, k int) ([][]mips.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	qv, err := d.EmbedQuestions(questions)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	idx := d.index
	d.mu.Unlock()
	res, err := idx.Search(qv, k)
	if err != nil {
		return nil, fmt.Errorf("realm qa: %s search: %w", d.Label, err)
	}
	return res, nil
}

// QA is an open-domain question-answering model: a retriever, the reader under scope "reader"
// of Store, and the corpus they read. Answer and Evaluate use it as it is; FineTune trains the
// reader (and a DenseRetriever's query tower) on question–answer pairs.
type QA struct {
	// Cfg gives the shapes (QueryLen, DocLen), the query tower and the reader's BERT (Encoder).
	Cfg realm.Config
	// Reader holds the span head's size and the beams.
	Reader ReaderConfig
	// Corpus is the knowledge corpus the retriever returns block ids of.
	Corpus *realm.Corpus
	// Store holds the reader (scope "reader") and, for a DenseRetriever, its query tower.
	Store *model.Store
	// Backend runs the graphs.
	Backend compute.Backend
	// Retriever finds the blocks the reader reads.
	Retriever QARetriever

	texts   *blockTexts
	sp      realm.Special
	maxBody int // body pieces the reader reads at most.
	ns      int // candidate-span slots per block.
	mu      sync.Mutex
	exec    *model.Exec
}

// NewQA makes a QA model. The store must hold (or will create, untrained) the reader; use
// InitReaderFromEncoder first to start from a pre-trained encoder. For a DenseRetriever, store
// should be the one it was built over, so fine-tuning trains its query tower.
func NewQA(backend compute.Backend, store *model.Store, cfg realm.Config, rc ReaderConfig, c *realm.Corpus, r QARetriever) (*QA, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := rc.Validate(); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("realm qa: no retriever")
	}
	if R := rc.Len(cfg); R < 8 || R > cfg.Encoder.MaxPositionEmbeddings {
		return nil, fmt.Errorf("realm qa: reader_seq_len %d outside [8, %d positions of the encoder]", R, cfg.Encoder.MaxPositionEmbeddings)
	}
	if c.Len() < rc.ReaderBeam {
		return nil, fmt.Errorf("realm qa: the corpus has %d blocks, fewer than the reader beam %d", c.Len(), rc.ReaderBeam)
	}
	if d, ok := r.(*DenseRetriever); ok && d.emb.Store() != store {
		return nil, fmt.Errorf("realm qa: the dense retriever %q uses another store than the reader", d.Label)
	}
	q := &QA{Cfg: cfg, Reader: rc, Corpus: c, Store: store, Backend: backend, Retriever: r, texts: newBlockTexts(c), sp: realm.SpecialTokens(c.Tok)}
	q.maxBody = rc.Len(cfg) - 4 // a corpus over a BlockSource is not scanned.
	if c.Blocks != nil {
		q.maxBody = 0
		for _, b := range c.Blocks {
			q.maxBody = max(q.maxBody, len(b.TokenIDs))
		}
	}
	q.maxBody = max(1, min(q.maxBody, rc.Len(cfg)-4))
	q.ns = MaxSpans(q.maxBody, rc.MaxSpanWidth)
	var err error
	q.exec, err = model.NewExec(backend, store, func(scope *model.Scope, in []*Node) *Node {
		return q.readerLogits(scope, readerInputsFromNodes(in), nil)
	})
	if err != nil {
		return nil, fmt.Errorf("realm qa: reader: %w", err)
	}
	return q, nil
}

// readerQuestion is the question's pieces x as the reader reads them (ReaderConfig.SkipUnknown).
func (q *QA) readerQuestion(x []int32) []int32 {
	if !q.Reader.SkipUnknown {
		return x
	}
	unk := q.Corpus.Tok.UNK()
	return slices.DeleteFunc(slices.Clone(x), func(id int32) bool { return id == unk })
}

// Text returns the reader's view of block id (wordpieces with offsets, words).
func (q *QA) Text(id int64) (*BlockText, error) { return q.texts.get(id) }

// SpanSlots is the number of candidate-span slots per block of the reader's fixed shapes.
func (q *QA) SpanSlots() int { return q.ns }

// readerLogits builds the reader over its inputs and returns the logits f(x,z) + g(s) of every
// candidate span [B, K, NS], masked spans at a large negative value. retrieval, when not nil,
// replaces the prior input as f(x,z) [B, K].
func (q *QA) readerLogits(scope *model.Scope, in readerInputs, retrieval *Node) *Node {
	scores := q.spanScores(scope, in)
	if retrieval == nil {
		retrieval = in.Prior
	}
	_, _, logits := ReaderLogLikelihood(scores, retrieval, in.SpanMask, in.Gold)
	return logits
}

// spanScores runs the reader's BERT and span head: g(s) [B, K, NS].
func (q *QA) spanScores(scope *model.Scope, in readerInputs) *Node {
	B, K, R := in.IDs.Shape().Dim(0), in.IDs.Shape().Dim(1), in.IDs.Shape().Dim(2)
	NS := in.Starts.Shape().Dim(2)
	s := SpanScores(scope.At(ReaderScope), q.Cfg.Encoder, q.Reader,
		Reshape(in.IDs, B*K, R), Reshape(in.Types, B*K, R), Reshape(in.Mask, B*K, R),
		Reshape(in.Starts, B*K, NS), Reshape(in.Ends, B*K, NS))
	return Reshape(s, B, K, NS)
}

// RetrievedBlock is one of the top-k blocks of an answer.
type RetrievedBlock struct {
	// ID is the block id and Title its document's title.
	ID    int64  `json:"id"`
	Title string `json:"title"`
	// Score is the retriever's score (f(x,z) for dense retrievers, BM25's score for BM25).
	Score float64 `json:"score"`
	// Prob is p(z|x) over the top-k as the reader uses it: softmax of f for dense retrievers,
	// uniform otherwise.
	Prob float64 `json:"prob"`
}

// RetrievedBlocks describes the retrieval results rs (blocks of c), with p(z|x) over them: the
// softmax of their scores f(x,z) when dense, else uniform (BM25's scores are not logits).
func RetrievedBlocks(c *realm.Corpus, rs []mips.Result, dense bool) ([]RetrievedBlock, error) {
	logit := func(r mips.Result) float64 {
		if dense {
			return float64(r.Score)
		}
		return 0
	}
	m := math.Inf(-1)
	for _, r := range rs {
		m = max(m, logit(r))
	}
	z := 0.0
	for _, r := range rs {
		z += math.Exp(logit(r) - m)
	}
	out := make([]RetrievedBlock, 0, len(rs))
	for _, r := range rs {
		blk, err := c.Block(r.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, RetrievedBlock{ID: r.ID, Title: blk.Title, Score: float64(r.Score), Prob: math.Exp(logit(r)-m) / z})
	}
	return out, nil
}

// Answer is the reader's best span for a question.
type Answer struct {
	// Question is the question answered.
	Question string `json:"question"`
	// Text is the original text of the best span ("" when no block had a candidate span).
	Text string `json:"text"`
	// BlockID, Title and Block identify the block the span comes from (Block is its body);
	// Start and End are the span's byte offsets in Block.
	BlockID int64  `json:"block_id"`
	Title   string `json:"title"`
	Block   string `json:"block"`
	Start   int    `json:"start"`
	End     int    `json:"end"`
	// Prob is the span's probability among all candidate spans of all top-k blocks; Logit its
	// f(x,z) + g(s).
	Prob  float64 `json:"prob"`
	Logit float64 `json:"logit"`
	// Blocks are the top-k blocks read, best first.
	Blocks []RetrievedBlock `json:"blocks"`
}

// Answer retrieves the top ReaderBeam blocks for question and returns the best span.
func (q *QA) Answer(ctx context.Context, question string) (Answer, error) {
	as, err := q.AnswerBatch(ctx, []string{question})
	if err != nil {
		return Answer{}, err
	}
	return as[0], nil
}

// AnswerBatch answers several questions (the reader runs Reader.Batch questions per call).
func (q *QA) AnswerBatch(ctx context.Context, questions []string) ([]Answer, error) {
	for i, x := range questions {
		if strings.TrimSpace(x) == "" {
			return nil, fmt.Errorf("realm qa: question %d is blank", i)
		}
	}
	res, err := q.Retriever.Retrieve(ctx, questions, q.Reader.ReaderBeam)
	if err != nil {
		return nil, err
	}
	return q.read(ctx, questions, res)
}

// priorLogits returns what the reader adds to span scores for a retrieval result: f(x,z) for a
// dense retriever, 0 (uniform p(z|x)) otherwise.
func (q *QA) priorLogit(r mips.Result) float32 {
	if _, ok := q.Retriever.(*DenseRetriever); ok {
		return r.Score
	}
	return 0
}

// read runs the reader over the first ReaderBeam blocks of each question's results.
func (q *QA) read(ctx context.Context, questions []string, results [][]mips.Result) ([]Answer, error) {
	B, K, R := q.Reader.Batch, q.Reader.ReaderBeam, q.Reader.Len(q.Cfg)
	out := make([]Answer, len(questions))
	rb := newReaderBatch(B, K, R, q.ns, q.Reader.WholeWords())
	for start := 0; start < len(questions); start += B {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+B, len(questions))
		for b := range B {
			var x []int32
			var rs []mips.Result
			if start+b < end {
				x = questionPieces(q.Corpus.Tok, questions[start+b], q.Cfg.QueryLen)
				rs = results[start+b]
			}
			for k := range K {
				if k >= len(rs) {
					rb.clear(b, k, q.sp)
					continue
				}
				bt, err := q.texts.get(rs[k].ID)
				if err != nil {
					return nil, err
				}
				if _, err := rb.set(b, k, q.sp, q.readerQuestion(x), rs[k].ID, bt, q.Reader.MaxSpanWidth, q.maxBody, nil, nil); err != nil {
					return nil, err
				}
				rb.Prior[b*K+k] = q.priorLogit(rs[k])
			}
		}
		args := make([]any, 0, 8)
		for _, t := range rb.tensors() {
			args = append(args, t)
		}
		q.mu.Lock()
		o, err := q.exec.Call(args...)
		q.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("realm qa: reader: %w", err)
		}
		logits := tensors.MustCopyFlatData[float32](o[0])
		o[0].MustFinalizeAll()
		for b := range end - start {
			if out[start+b], err = q.decode(questions[start+b], results[start+b], rb, b, logits); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// decode picks the best span of question b of a reader batch: the argmax of f(x,z) + g(s) over
// every candidate span of every block (ORQA's prediction), with its softmax probability.
func (q *QA) decode(question string, rs []mips.Result, rb *readerBatch, b int, logits []float32) (Answer, error) {
	K, NS := rb.K, rb.NS
	a := Answer{Question: question, BlockID: -1}
	best, bk, bs := math.Inf(-1), -1, -1
	for k := range K {
		i := b*K + k
		for s := range len(rb.spans[i]) {
			if l := float64(logits[i*NS+s]); l > best {
				best, bk, bs = l, k, s
			}
		}
	}
	sum := 0.0
	if bk >= 0 {
		for k := range K {
			i := b*K + k
			for s := range len(rb.spans[i]) {
				sum += math.Exp(float64(logits[i*NS+s]) - best)
			}
		}
		i := b*K + bk
		bt, sp := rb.texts[i], rb.spans[i][bs]
		blk, err := q.Corpus.Block(rb.blocks[i])
		if err != nil {
			return Answer{}, err
		}
		a.BlockID, a.Title, a.Block = rb.blocks[i], blk.Title, bt.Body
		si, sj := bt.TrimSpan(sp[0], sp[1]) // the same answer under exact match, without ": … (".
		a.Start, a.End = bt.Pieces[si].Start, bt.Pieces[sj].End
		a.Text = bt.Body[a.Start:a.End]
		a.Logit, a.Prob = best, 1/sum
	}
	// p(z|x) over the blocks read.
	_, dense := q.Retriever.(*DenseRetriever)
	var err error
	a.Blocks, err = RetrievedBlocks(q.Corpus, rs[:min(K, len(rs))], dense)
	if err != nil {
		return Answer{}, err
	}
	return a, nil
}

// Retriever kinds of BuildQA.
const (
	// RetrieverREALM is the dense retriever of a REALM pre-trained store.
	RetrieverREALM = "realm"
	// RetrieverICT is the dense retriever of a store trained with ICT only (ORQA's baseline).
	RetrieverICT = "ict"
	// RetrieverBM25 is the BM25 baseline (bm25.Params).
	RetrieverBM25 = "bm25"
)

// BuildQA prepares the QA model of one of the three comparable systems on the same reader code
// path: kind RetrieverREALM or RetrieverICT builds a DenseRetriever over store (whose retriever
// was pre-trained with REALM or with ICT only: the kind only names it) and embeds the corpus
// once; RetrieverBM25 indexes the corpus with BM25 (bm25Params). If store has no reader yet, it
// is initialised from the pre-trained encoder (InitReaderFromEncoder) when there is one.
// BuildQA embeds the corpus with store's document tower: use it on a pre-trained store; a store
// already fine-tuned with shared towers goes with the index of its run (LoadDenseRetriever and
// NewQA).
func BuildQA(ctx context.Context, backend compute.Backend, store *model.Store, cfg realm.Config, rc ReaderConfig, c *realm.Corpus, kind string, bm25Params bm25.Params) (*QA, error) {
	return buildQA(ctx, backend, store, cfg, rc, c, kind, bm25Params, nil)
}

// BuildDenseQA is BuildQA for a dense retriever (kind RetrieverREALM or RetrieverICT) whose
// document embeddings are given: vecs [N, d] row-major by block id, computed with store's
// document tower (e.g. pretrain.Pretrainer.CorpusEmbeddings of its snapshot), so the corpus is not
// embedded again.
func BuildDenseQA(backend compute.Backend, store *model.Store, cfg realm.Config, rc ReaderConfig, c *realm.Corpus, kind string, vecs []float32) (*QA, error) {
	if kind != RetrieverREALM && kind != RetrieverICT {
		return nil, fmt.Errorf("realm qa: BuildDenseQA builds %s or %s retrievers, not %q", RetrieverREALM, RetrieverICT, kind)
	}
	if vecs == nil {
		return nil, fmt.Errorf("realm qa: BuildDenseQA: no document embeddings")
	}
	return buildQA(context.Background(), backend, store, cfg, rc, c, kind, bm25.Params{}, vecs)
}

// buildQA is BuildQA, with the document embeddings of a dense retriever when vecs is not nil.
func buildQA(ctx context.Context, backend compute.Backend, store *model.Store, cfg realm.Config, rc ReaderConfig, c *realm.Corpus, kind string, bm25Params bm25.Params, vecs []float32) (*QA, error) {
	hasVar := func(prefix string) bool {
		for v := range store.IterVariables() {
			if len(v.Path()) > len(prefix) && v.Path()[:len(prefix)] == prefix {
				return true
			}
		}
		return false
	}
	if !hasVar("/"+ReaderScope+"/") && hasVar("/"+realm.EncoderScope+"/") {
		if err := InitReaderFromEncoder(store); err != nil {
			return nil, err
		}
	}
	var r QARetriever
	switch kind {
	case RetrieverREALM, RetrieverICT:
		if !hasVar("/" + realm.EmbedderScope + "/") {
			return nil, fmt.Errorf("realm qa: %s retriever: the store has no pre-trained retriever (/%s)", kind, realm.EmbedderScope)
		}
		var d *DenseRetriever
		var err error
		if vecs != nil {
			d, err = NewDenseRetrieverFromVectors(backend, store, cfg, c, vecs, kind)
		} else {
			d, err = NewDenseRetriever(ctx, backend, store, cfg, c, kind)
		}
		if err != nil {
			return nil, err
		}
		r = d
	case RetrieverBM25:
		b, err := bm25.New(c, bm25Params)
		if err != nil {
			return nil, err
		}
		r = b
	default:
		return nil, fmt.Errorf("realm qa: unknown retriever %q (want %s, %s or %s)", kind, RetrieverREALM, RetrieverICT, RetrieverBM25)
	}
	return NewQA(backend, store, cfg, rc, c, r)
}
