package pretrain

import (
	"context"
	"fmt"
	"math"
	"regexp"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/mips"
	"github.com/realm-go/realm/realm"
)

// MaskedText is a sentence for REALM to read and what to mask in it: every occurrence of each of
// Masks (case-insensitive, widened to whole words), as salient-span masking masks a span.
type MaskedText struct {
	Text  string
	Masks []string
}

// Example featurises m as a pre-training example for cfg with c's tokenizer: [CLS] sentence
// [SEP] with the masked pieces set to [MASK]. It has no source block (BlockID −1: no candidate
// is excluded). A mask that is not in the sentence, or that the query's QueryLen cuts off, is
// an error naming it, as are more masked pieces than MaxMasks or a sentence left all masked.
func (m MaskedText) Example(cfg realm.Config, c *realm.Corpus) (examples.Pretrain, error) {
	tok := c.Tok
	pieces := tok.Tokenize(m.Text)
	pieces = pieces[:min(len(pieces), cfg.QueryLen-2)]
	masked := make([]bool, len(pieces))
	for _, s := range m.Masks {
		locs := regexp.MustCompile(`(?i)`+regexp.QuoteMeta(s)).FindAllStringIndex(m.Text, -1)
		found := false
		for _, l := range locs {
			i, j := spans.PieceRange(tok, pieces, spans.Span{Start: l[0], End: l[1]})
			for k := i; k < j; k++ {
				masked[k], found = true, true
			}
		}
		if !found {
			return examples.Pretrain{}, fmt.Errorf("realm: mask %q is not in the first %d wordpieces of %q", s, len(pieces), m.Text)
		}
	}
	ex := examples.Pretrain{BlockID: -1, Text: m.Text, InputIDs: []int32{tok.CLS()}, Salient: true}
	for k, p := range pieces {
		if masked[k] {
			ex.Positions = append(ex.Positions, int32(k+1))
			ex.Targets = append(ex.Targets, p.ID)
			ex.InputIDs = append(ex.InputIDs, tok.MASK())
			continue
		}
		ex.InputIDs = append(ex.InputIDs, p.ID)
	}
	ex.InputIDs = append(ex.InputIDs, tok.SEP())
	switch {
	case len(ex.Positions) == 0:
		return ex, fmt.Errorf("realm: %q masks nothing", m.Text)
	case len(ex.Positions) == len(pieces):
		return ex, fmt.Errorf("realm: %q is masked whole", m.Text)
	case len(ex.Positions) > cfg.MaxMasks:
		return ex, fmt.Errorf("realm: %q masks %d wordpieces, more than MaxMasks %d", m.Text, len(ex.Positions), cfg.MaxMasks)
	}
	return ex, nil
}

// Scorer reads masked sentences with a REALM model as pre-training does, without training it:
// the top k−1 blocks of its corpus (embedded once, with the store's document tower, when the
// Scorer is made) and ∅, p(z|x), r(z), log p(y|x) and the retrieval utility of each sentence.
type Scorer struct {
	Cfg    realm.Config
	Corpus *realm.Corpus
	// Batch is the number of sentences per call (the graph's fixed batch; 0: 8).
	Batch int

	retr  *realm.Retriever
	index mips.Index
	exec  *model.Exec
}

// NewScorer embeds c with store's document tower and indexes it exactly; queries use store's
// query tower and the encoder its masked-LM head, as they are when Score runs.
func NewScorer(ctx context.Context, backend compute.Backend, store *model.Store, cfg realm.Config, c *realm.Corpus) (*Scorer, error) {
	retr, err := realm.NewRetriever(backend, store, cfg, 64)
	if err != nil {
		return nil, err
	}
	vecs, ids, err := retr.EmbedCorpus(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("realm: embedding the corpus to score: %w", err)
	}
	idx, err := mips.NewExact(vecs, ids, cfg.ProjectionDim)
	if err != nil {
		return nil, err
	}
	exec, err := scoreExec(backend, store, cfg)
	if err != nil {
		return nil, err
	}
	return &Scorer{Cfg: cfg, Corpus: c, Batch: 8, retr: retr, index: idx, exec: exec}, nil
}

// Score featurises texts (MaskedText.Example) and scores them.
func (s *Scorer) Score(ctx context.Context, texts []MaskedText) ([]Scored, error) {
	exs := make([]examples.Pretrain, len(texts))
	for i, m := range texts {
		var err error
		if exs[i], err = m.Example(s.Cfg, s.Corpus); err != nil {
			return nil, fmt.Errorf("sentence %d: %w", i, err)
		}
	}
	return s.ScoreExamples(ctx, exs)
}

// ScoreExamples scores pre-training examples (their source blocks excluded from retrieval).
func (s *Scorer) ScoreExamples(ctx context.Context, exs []examples.Pretrain) ([]Scored, error) {
	return score(ctx, s.exec, s.Cfg, s.Corpus, s.index, s.retr, max(1, s.Batch), exs)
}

// scoreExec returns an executable of realm.Config.Forward in inference mode over a batch's
// tensors: log p(z|x) [B, K], r(z) [B, K], the utility [B] and log p(y_j|x) masked to the real
// tokens and summed [B].
func scoreExec(backend compute.Backend, store *model.Store, cfg realm.Config) (*model.Exec, error) {
	return model.NewExec(backend, store, func(scope *model.Scope, in []*Node) []*Node {
		b := realm.BatchFromNodes(in)
		o := cfg.Forward(scope, b)
		ll := ReduceSum(Mul(o.Marginal, ConvertDType(b.TargetMask, o.Marginal.DType())), -1)
		return []*Node{o.LogPz, o.R, o.Utility, ll}
	})
}

// Score reads the masked sentences exs as REALM pre-training does, with the index in service
// and the current parameters (no update): for each sentence the top-k candidates (its source
// block excluded, ∅ added), p(z|x), r(z), log p(y|x) and the retrieval utility.
func (p *Pretrainer) Score(ctx context.Context, exs []examples.Pretrain) ([]Scored, error) {
	if p.Refresher == nil {
		return nil, fmt.Errorf("realm: Score before BuildIndex")
	}
	exec, err := scoreExec(p.Backend, p.Store, p.Cfg)
	if err != nil {
		return nil, err
	}
	idx, _ := p.Refresher.Index()
	return score(ctx, exec, p.Cfg, p.Corpus, idx, p.live, p.Run.BatchSize/p.Run.Parts(), exs)
}

// score runs exec (scoreExec) over exs in batches of B, their candidates retrieved from idx
// with the queries of retr.
func score(ctx context.Context, exec *model.Exec, cfg realm.Config, c *realm.Corpus, idx mips.Index, retr *realm.Retriever, B int, exs []examples.Pretrain) ([]Scored, error) {
	K := cfg.TopK
	out := make([]Scored, 0, len(exs))
	for start := 0; start < len(exs); start += B {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := make([]examples.Pretrain, B) // the graph's batch is fixed: pad with the first.
		for i := range batch {
			batch[i] = exs[min(start+i, len(exs)-1)]
		}
		d, docs, err := batchData(cfg, c, batch, idx, retr)
		if err != nil {
			return nil, err
		}
		res, err := exec.Call(d.Args()...)
		if err != nil {
			return nil, fmt.Errorf("realm: scoring: %w", err)
		}
		logPz, r := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])
		util, ll := tensors.MustCopyFlatData[float32](res[2]), tensors.MustCopyFlatData[float32](res[3])
		for b := 0; b < B && start+b < len(exs); b++ {
			s := Scored{Blocks: []int64{-1}, LogLikelihood: float64(ll[b]), Utility: float64(util[b])}
			for _, doc := range docs[b] {
				s.Blocks = append(s.Blocks, doc.ID)
			}
			for k := range K { // r(z) = [p(y|z,x)/p(y|x) − 1]·p(z|x), §2.4: Σ_z r(z) = 0.
				pz := math.Exp(float64(logPz[b*K+k]))
				s.PZ, s.R = append(s.PZ, pz), append(s.R, float64(r[b*K+k])*pz)
			}
			out = append(out, s)
		}
	}
	return out, nil
}
