package pretrain

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"

	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/bm25"
	"github.com/realm-go/realm/realm/training"
)

// noSpans is a Tagger that finds nothing: spans.Masker then masks random whole words, BERT's
// own masking, which the plain MLM warm-up uses.
type noSpans struct{}

func (noSpans) Tag(string) []spans.Span { return nil }

// TrainMLM pre-trains the knowledge-augmented encoder from scratch with BERT's masked-LM
// objective on pairs of consecutive blocks, [CLS] z_i [SEP] z_i+1 [SEP] with 15% of the words
// masked, at REALM's joint length QueryLen+DocLen so every position the encoder will read is
// trained. This is the from-scratch substitute for starting from a pre-trained BERT.
func TrainMLM(ctx context.Context, backend compute.Backend, store *model.Store, cfg realm.Config, c *realm.Corpus, run training.RunConfig, h *training.History) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	L, M := cfg.QueryLen+cfg.DocLen, cfg.MLMMaxMasks()
	masker := spans.NewMasker(noSpans{}, c.Tok)
	sp := realm.SpecialTokens(c.Tok)
	ord := &training.Order{N: c.Len(), Seed: run.Seed}
	p := &training.Phase{Task: "mlm", Run: run, Backend: backend, Store: store, Config: cfg, History: h,
		MetricNames: []string{"accuracy"},
		ModelFn: func(scope *model.Scope, in []*Node) []*Node {
			ids, types, mask, positions, targets, targetMask := in[0], in[1], in[2], in[3], in[4], in[5] // Batch's order.
			o := realm.MLMForward(scope.In(realm.EncoderScope), cfg.Encoder, ids, types, mask, positions, targets, targetMask)
			train.AddMainLoss(o.Loss)
			return []*Node{Div(ReduceAllSum(o.Accuracy), MaxScalar(ReduceAllSum(ConvertDType(targetMask, dtypes.Float32)), 1))}
		},
		Batch: func(step int64) ([]*tensors.Tensor, error) {
			B := run.BatchSize
			ids, types, mask := make([]int32, B*L), make([]int32, B*L), make([]bool, B*L)
			pos, tgt, tmask := make([]int32, B*M), make([]int32, B*M), make([]bool, B*M)
			for b := range B {
				i := step*int64(B) + int64(b)
				a := ord.At(i)
				first := c.Blocks[a].TokenIDs
				var second []int32
				if a+1 < c.Len() && c.Blocks[a+1].DocID == c.Blocks[a].DocID {
					second = c.Blocks[a+1].TokenIDs
				}
				w := realm.SeqWriter{IDs: ids[b*L : (b+1)*L], Types: types[b*L : (b+1)*L], Mask: mask[b*L : (b+1)*L]}
				na, nb := len(first), len(second)
				if na+nb > L-3 { // keep the first block whole where possible.
					na = min(na, L-3)
					nb = min(nb, L-3-na)
				}
				w.Put(sp.CLS, 0)
				w.PutAll(first[:na], 0)
				w.Put(sp.SEP, 0)
				if nb > 0 {
					w.PutAll(second[:nb], 1)
					w.Put(sp.SEP, 1)
				}
				w.Pad(sp.PAD)
				// Mask 15% of the words of the real tokens, [CLS]/[SEP] excluded.
				var pieces []tokenize.Piece
				var where []int
				for k := 1; k < w.N; k++ {
					if id := ids[b*L+k]; id != sp.SEP {
						pieces = append(pieces, tokenize.Piece{ID: id})
						where = append(where, k)
					}
				}
				rng := rand.New(rand.NewPCG(run.Seed^0x6d6c6d, uint64(i)))
				mk := masker.Mask("", pieces, rng)
				for m, k := range mk.Positions {
					if m >= M {
						break
					}
					at := where[k]
					pos[b*M+m], tgt[b*M+m], tmask[b*M+m] = int32(at), ids[b*L+at], true
					ids[b*L+at] = c.Tok.MASK()
				}
			}
			return []*tensors.Tensor{
				tensors.FromFlatDataAndDimensions(ids, B, L), tensors.FromFlatDataAndDimensions(types, B, L),
				tensors.FromFlatDataAndDimensions(mask, B, L), tensors.FromFlatDataAndDimensions(pos, B, M),
				tensors.FromFlatDataAndDimensions(tgt, B, M), tensors.FromFlatDataAndDimensions(tmask, B, M),
			}, nil
		},
	}
	return p.Execute(ctx)
}

// InitRetrieverFromEncoder copies the encoder's BERT (not its MLM head) into the retriever
// tower(s), as REALM initialises every BERT from the same pre-trained one.
func InitRetrieverFromEncoder(store *model.Store, cfg realm.Config) error {
	skipHead := func(rel string) bool { return len(rel) >= 4 && rel[:4] == "/mlm" }
	towers := []string{realm.EmbedderScope}
	if cfg.SeparateTowers {
		towers = append(towers, realm.QueryEmbedderScope)
	}
	for _, t := range towers {
		if _, err := realm.CopyVariables(store, "/"+realm.EncoderScope, "/"+t, skipHead); err != nil {
			return err
		}
	}
	return nil
}

// ICTOptions are the Inverse Cloze Task's options beyond its training.RunConfig.
type ICTOptions struct {
	// HardNegatives fills half of each batch with look-alikes, as DPR adds BM25 negatives: each
	// of the first BatchSize/2 blocks brings its nearest block by BM25 (bm25.HardNegativeNeighbours)
	// that has another title. Random in-batch negatives of a corpus of parallel articles (the
	// Factbook's ten sections, country after country) almost never share the positive's
	// section, so ICT learns to tell sections apart and hardly learns the subject; a
	// look-alike from another title differs from the positive mostly by its subject.
	HardNegatives bool
	// MaskQueries is the share of ICT queries masked as REALM pre-training masks its sentences
	// (a salient span found by QueryTagger, else random words): REALM's retriever serves masked
	// sentences, and where the masked span is the subject ORQA's whole-sentence queries teach
	// nothing about finding it. 0 keeps ORQA's whole sentences.
	MaskQueries float64
	// QueryTagger finds the salient spans of ICT queries; Pipeline sets it from the corpus's
	// gazetteer and its SalientKinds, and TrainICT needs it when MaskQueries > 0.
	QueryTagger spans.Tagger
}

// check tells whether the options suit run (QueryTagger aside, which Pipeline fills in).
func (o ICTOptions) check(run training.RunConfig) error {
	if o.HardNegatives && run.BatchSize%2 != 0 {
		return fmt.Errorf("realm: ict: hard negatives pair the blocks of a batch, so the batch size must be even, got %d", run.BatchSize)
	}
	if o.MaskQueries < 0 || o.MaskQueries > 1 {
		return fmt.Errorf("realm: ict: the share of masked queries must lie in [0, 1], got %g", o.MaskQueries)
	}
	return nil
}

// TrainICT warm-starts the retriever with the Inverse Cloze Task (ORQA): each batch holds one
// sentence of each of BatchSize random blocks as queries and the blocks (the sentence removed 90%
// of the time) as candidates; the other blocks of the batch are the negatives (half of them
// look-alikes with opts.HardNegatives).
func TrainICT(ctx context.Context, backend compute.Backend, store *model.Store, cfg realm.Config, c *realm.Corpus, run training.RunConfig, h *training.History, opts ICTOptions) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := opts.check(run); err != nil {
		return err
	}
	var masker *spans.Masker
	if opts.MaskQueries > 0 {
		if opts.QueryTagger == nil {
			return fmt.Errorf("realm: ict: masking %g of the queries needs a QueryTagger", opts.MaskQueries)
		}
		masker = spans.NewMasker(opts.QueryTagger, c.Tok)
	}
	var neighbours [][]int64
	if opts.HardNegatives {
		var err error
		if neighbours, err = bm25.HardNegativeNeighbours(c, hardNegativeCandidates); err != nil {
			return err
		}
	}
	Q, D := cfg.QueryLen, cfg.DocLen
	var mu sync.Mutex
	// An epoch's examples in training order, and (with hard negatives only) in block order for
	// finding look-alikes.
	type epoch struct{ exs, byBlock []examples.ICT }
	epochs := map[int]epoch{}
	epochExamples := func(e int) (epoch, error) {
		mu.Lock()
		defer mu.Unlock()
		if ep, ok := epochs[e]; ok {
			return ep, nil
		}
		var exs []examples.ICT
		for ex, err := range examples.ICTExamples(c.Tok, c.BlockSeq(), examples.ICTOptions{QueryMaxLen: Q, BlockMaxLen: D, MaskRate: opts.MaskQueries, Masker: masker, Seed: run.Seed + uint64(e)}) {
			if err != nil {
				return epoch{}, err
			}
			exs = append(exs, ex)
		}
		if len(exs) < run.BatchSize {
			return epoch{}, fmt.Errorf("realm: ict: only %d blocks have two sentences or more, fewer than a batch of %d", len(exs), run.BatchSize)
		}
		ep := epoch{exs: exs}
		if opts.HardNegatives {
			ep.byBlock = slices.Clone(exs)
		}
		rand.New(rand.NewPCG(run.Seed, uint64(e)+7)).Shuffle(len(exs), func(i, j int) { exs[i], exs[j] = exs[j], exs[i] })
		clear(epochs) // keep one epoch in memory.
		epochs[e] = ep
		return ep, nil
	}
	p := &training.Phase{Task: "ict", Run: run, Backend: backend, Store: store, Config: cfg, History: h, Unsplittable: true,
		MetricNames: []string{"accuracy"},
		ModelFn: func(scope *model.Scope, in []*Node) []*Node {
			qIDs, qTypes, qMask, dIDs, dTypes, dMask := in[0], in[1], in[2], in[3], in[4], in[5] // Batch's order.
			o := cfg.ICTForward(scope, qIDs, qTypes, qMask, dIDs, dTypes, dMask)
			train.AddMainLoss(o.Loss)
			return []*Node{ReduceAllMean(o.Accuracy)}
		},
		Batch: func(step int64) ([]*tensors.Tensor, error) {
			B := run.BatchSize
			seeds := B // blocks drawn from the epoch's order per batch.
			if opts.HardNegatives {
				seeds = B / 2
			}
			first, err := epochExamples(0)
			if err != nil {
				return nil, err
			}
			perEpoch := int64(len(first.exs) / seeds)
			ep, err := epochExamples(int(step / perEpoch))
			if err != nil {
				return nil, err
			}
			off := int(step%perEpoch) * seeds
			batch := ep.exs[off : off+seeds]
			if opts.HardNegatives {
				batch = withLookAlikes(batch, ep.exs, ep.byBlock, neighbours, step)
			}
			qIDs, qTypes, qMask := make([]int32, B*Q), make([]int32, B*Q), make([]bool, B*Q)
			dIDs, dTypes, dMask := make([]int32, B*D), make([]int32, B*D), make([]bool, B*D)
			for b := range B {
				ex := batch[b]
				q := c.Tok.PadTo(ex.Query, Q)
				d := c.Tok.PadTo(ex.Context, D)
				copy(qIDs[b*Q:], q.IDs)
				copy(qTypes[b*Q:], q.TypeIDs)
				copy(qMask[b*Q:], q.Mask)
				copy(dIDs[b*D:], d.IDs)
				copy(dTypes[b*D:], d.TypeIDs)
				copy(dMask[b*D:], d.Mask)
			}
			return []*tensors.Tensor{
				tensors.FromFlatDataAndDimensions(qIDs, B, Q), tensors.FromFlatDataAndDimensions(qTypes, B, Q),
				tensors.FromFlatDataAndDimensions(qMask, B, Q), tensors.FromFlatDataAndDimensions(dIDs, B, D),
				tensors.FromFlatDataAndDimensions(dTypes, B, D), tensors.FromFlatDataAndDimensions(dMask, B, D),
			}, nil
		},
	}
	return p.Execute(ctx)
}

// hardNegativeCandidates is how many look-alikes of each block TrainICT keeps, best first: the
// first one not already in the batch joins it.
const hardNegativeCandidates = 8

// withLookAlikes returns seeds followed, for each seed, by the ICT example whose block is the
// first of the seed block's look-alikes (neighbours[blockID]) not in the batch yet; where none
// qualifies, an example of exs (the epoch, in training order) chosen from step's position keeps
// the batch full. byBlock holds the same examples sorted by block, at most one per block (as
// ICTExamples makes them).
func withLookAlikes(seeds, exs, byBlock []examples.ICT, neighbours [][]int64, step int64) []examples.ICT {
	batch := append(make([]examples.ICT, 0, 2*len(seeds)), seeds...)
	in := make(map[int64]bool, 2*len(seeds))
	for _, ex := range seeds {
		in[ex.BlockID] = true
	}
	for i, ex := range seeds {
		var pick *examples.ICT
		for _, id := range neighbours[ex.BlockID] {
			if j, ok := slices.BinarySearchFunc(byBlock, id, func(e examples.ICT, id int64) int { return cmp.Compare(e.BlockID, id) }); ok && !in[id] {
				pick = &byBlock[j]
				break
			}
		}
		start := step*int64(len(seeds)) + int64(i)*131
		for k := int64(0); pick == nil; k++ { // deterministic fill: walk exs from a step-dependent start.
			if j := int((start + k) % int64(len(exs))); !in[exs[j].BlockID] {
				pick = &exs[j]
			}
		}
		in[pick.BlockID] = true
		batch = append(batch, *pick)
	}
	return batch
}
