package pretrain

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/mips"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/bm25"
	"github.com/realm-go/realm/realm/evaluate"
)

// What a retriever's top k−1 blocks (the source block excluded, as in training) say about
// held-out masked sentences. Two questions, each against the exact chance level of k−1
// distinct blocks drawn uniformly from the N−1 others:
//
//   - same-title recall: does a retrieved block share the source's title (for the Factbook,
//     its country)? The retriever must read, from the visible words, where the sentence
//     comes from.
//   - answer recall: does a retrieved block contain the masked span (its wordpieces, in
//     order)? This is what REALM's learning signal rewards: a block that holds y raises
//     p(y|z,x), so ∂log p(y|x)/∂f(x,z) = p(z|x)·r(z) > 0 pushes such blocks up. Only
//     salient-span examples count (random-word masks are not one span).

// Retrieve returns, for each sentence of exs, the ids of the Cfg.TopK−1 blocks that the
// retriever with parameters s ranks first besides the source block (it embeds the whole
// corpus with s, or reuses the embeddings of CorpusEmbeddings).
func (p *Pretrainer) Retrieve(ctx context.Context, s realm.Snapshot, exs []examples.Pretrain) ([][]int64, error) {
	r, err := realm.NewRetriever(p.Backend, nil, p.Cfg, p.Run.EmbedBatch)
	if err != nil {
		return nil, err
	}
	if err := r.Load(s); err != nil {
		return nil, err
	}
	vecs, ids, err := p.CorpusEmbeddings(ctx, s)
	if err != nil {
		return nil, err
	}
	idx, err := mips.NewExact(vecs, ids, p.Cfg.ProjectionDim)
	if err != nil {
		return nil, err
	}
	out := make([][]int64, 0, len(exs))
	for start := 0; start < len(exs); start += p.Run.BatchSize {
		batch := exs[start:min(start+p.Run.BatchSize, len(exs))]
		docs, err := candidates(p.Cfg, p.Corpus, batch, idx, r)
		if err != nil {
			return nil, err
		}
		for _, ds := range docs {
			ids := make([]int64, len(ds))
			for j, d := range ds {
				ids[j] = d.ID
			}
			out = append(out, ids)
		}
	}
	return out, nil
}

// RetrieveBM25 is Retrieve for BM25 (bm25.DefaultParams, over the same blocks) queried with the
// visible words of each masked sentence (the masked pieces left out): the lexical reference.
func (p *Pretrainer) RetrieveBM25(exs []examples.Pretrain) ([][]int64, error) {
	bm, err := bm25.New(p.Corpus, bm25.DefaultParams())
	if err != nil {
		return nil, err
	}
	k, mask := p.Cfg.TopK-1, p.Corpus.Tok.MASK()
	out := make([][]int64, len(exs))
	for i, ex := range exs {
		visible := make([]int32, 0, len(ex.InputIDs))
		for _, id := range ex.InputIDs {
			if id != mask && !p.Corpus.Tok.IsSpecial(id) {
				visible = append(visible, id)
			}
		}
		for _, r := range bm.Search(p.Corpus.Tok.Decode(visible), k+1) {
			if r.ID != ex.BlockID && len(out[i]) < k {
				out[i] = append(out[i], r.ID)
			}
		}
	}
	return out, nil
}

// SameTitleRecall scores retrieved (from Retrieve or RetrieveBM25) by same-title recall.
func (p *Pretrainer) SameTitleRecall(exs []examples.Pretrain, retrieved [][]int64) (evaluate.Recall, error) {
	perTitle := map[string]int{}
	for _, b := range p.Corpus.Blocks {
		perTitle[b.Title]++
	}
	return p.recall(exs, retrieved, func(ex examples.Pretrain) (func(int64) bool, int, bool) {
		title := p.Corpus.Blocks[ex.BlockID].Title
		return func(id int64) bool { return p.Corpus.Blocks[id].Title == title }, perTitle[title] - 1, true
	})
}

// TitleNamed reports whether ex's visible wordpieces (the masked ones left out) spell the
// title of its source block: whether the masked sentence still says which document (in the
// Factbook, which country) it is about. Same-title recall splits on it, since a sentence whose
// subject was masked can only be placed by what else it says.
func (p *Pretrainer) TitleNamed(ex examples.Pretrain) bool { return p.Corpus.TitleNamed(ex) }

// AnswerRecall scores retrieved by answer recall over the salient-span sentences of exs.
func (p *Pretrainer) AnswerRecall(exs []examples.Pretrain, retrieved [][]int64) (evaluate.Recall, error) {
	return p.recall(exs, retrieved, func(ex examples.Pretrain) (func(int64) bool, int, bool) {
		if !ex.Salient || len(ex.Targets) == 0 {
			return nil, 0, false
		}
		holds := func(id int64) bool { return realm.ContainsRun(p.Corpus.Blocks[id].TokenIDs, ex.Targets) }
		m := 0 // blocks besides the source holding the span: the chance level's numerator.
		for id := range p.Corpus.Blocks {
			if int64(id) != ex.BlockID && holds(int64(id)) {
				m++
			}
		}
		return holds, m, true
	})
}

// recall counts the sentences whose retrieved blocks include one that hit (from target) says
// is relevant; target also gives the number of relevant blocks besides the source, and
// whether the sentence counts at all.
func (p *Pretrainer) recall(exs []examples.Pretrain, retrieved [][]int64, target func(examples.Pretrain) (hit func(int64) bool, relevant int, ok bool)) (evaluate.Recall, error) {
	if len(exs) != len(retrieved) {
		return evaluate.Recall{}, fmt.Errorf("realm: %d sentences but %d retrieved lists", len(exs), len(retrieved))
	}
	N := p.Corpus.Len()
	var r evaluate.Recall
	for i, ex := range exs {
		hit, relevant, ok := target(ex)
		if !ok {
			continue
		}
		r.N++
		h := slices.ContainsFunc(retrieved[i], func(id int64) bool { return id != ex.BlockID && hit(id) })
		if h {
			r.Value++
		}
		// P(at least one of k distinct random blocks among the N−1 others is relevant).
		miss := 1.0
		for j := range len(retrieved[i]) {
			miss *= float64(N-1-relevant-j) / float64(N-1-j)
		}
		chance := 1 - math.Max(miss, 0)
		r.Random += chance
		r.Hits, r.Chance = append(r.Hits, h), append(r.Chance, chance)
	}
	if r.N == 0 {
		return evaluate.Recall{}, fmt.Errorf("realm: no sentence to measure recall on")
	}
	r.Value /= float64(r.N)
	r.Random /= float64(r.N)
	return r, nil
}

// EvaluateRetrieval measures the same-title recall of the retriever whose parameters are s
// over exs, and its exact random baseline (Retrieve, then SameTitleRecall).
func (p *Pretrainer) EvaluateRetrieval(ctx context.Context, s realm.Snapshot, exs []examples.Pretrain) (recall, random float64, err error) {
	retrieved, err := p.Retrieve(ctx, s, exs)
	if err != nil {
		return 0, 0, err
	}
	r, err := p.SameTitleRecall(exs, retrieved)
	return r.Value, r.Random, err
}
