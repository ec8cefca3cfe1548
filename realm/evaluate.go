package realm

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/mips"
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
func (p *Pretrainer) Retrieve(ctx context.Context, s Snapshot, exs []examples.Pretrain) ([][]int64, error) {
	r, err := NewRetriever(p.Backend, p.Cfg, nil, p.Run.EmbedBatch)
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
		docs, err := p.candidates(batch, idx, r)
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

// RetrieveBM25 is Retrieve for BM25 (DefaultBM25Params, over the same blocks) queried with the
// visible words of each masked sentence (the masked pieces left out): the lexical reference.
func (p *Pretrainer) RetrieveBM25(exs []examples.Pretrain) ([][]int64, error) {
	bm, err := NewBM25(p.Corpus, DefaultBM25Params())
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

// Recall is a hit rate over held-out sentences, with its chance level.
type Recall struct {
	// Value is the fraction of the counted sentences with a hit; Random its expectation for
	// k−1 distinct uniformly random blocks (besides the source), computed exactly.
	Value, Random float64
	// N is the number of sentences counted.
	N int
	// Hits and Chance hold, per counted sentence (in the order of the sentences given), whether
	// it had a hit and its exact chance of one: what a paired comparison (Compare, OverChance)
	// needs.
	Hits   []bool    `json:"-"`
	Chance []float64 `json:"-"`
}

// StdErr is the binomial standard error of Value.
func (r Recall) StdErr() float64 {
	return math.Sqrt(r.Value * (1 - r.Value) / float64(max(r.N, 1)))
}

// SameTitleRecall scores retrieved (from Retrieve or RetrieveBM25) by same-title recall.
func (p *Pretrainer) SameTitleRecall(exs []examples.Pretrain, retrieved [][]int64) (Recall, error) {
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

// TitleNamed reports whether ex's visible wordpieces spell the title of its source block in c
// (see Pretrainer.TitleNamed).
func (c *Corpus) TitleNamed(ex examples.Pretrain) bool {
	title := c.titles[ex.BlockID] // the title's pieces, tokenised once by NewCorpus.
	if len(title) == 0 {
		return false
	}
	visible := slices.Clone(ex.InputIDs)
	for _, pos := range ex.Positions {
		visible[pos] = -1 // never a vocabulary id, so no run crosses a masked piece.
	}
	return containsRun(visible, title)
}

// AnswerRecall scores retrieved by answer recall over the salient-span sentences of exs.
func (p *Pretrainer) AnswerRecall(exs []examples.Pretrain, retrieved [][]int64) (Recall, error) {
	return p.recall(exs, retrieved, func(ex examples.Pretrain) (func(int64) bool, int, bool) {
		if !ex.Salient || len(ex.Targets) == 0 {
			return nil, 0, false
		}
		holds := func(id int64) bool { return containsRun(p.Corpus.Blocks[id].TokenIDs, ex.Targets) }
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
func (p *Pretrainer) recall(exs []examples.Pretrain, retrieved [][]int64, target func(examples.Pretrain) (hit func(int64) bool, relevant int, ok bool)) (Recall, error) {
	if len(exs) != len(retrieved) {
		return Recall{}, fmt.Errorf("realm: %d sentences but %d retrieved lists", len(exs), len(retrieved))
	}
	N := p.Corpus.Len()
	var r Recall
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
		return Recall{}, fmt.Errorf("realm: no sentence to measure recall on")
	}
	r.Value /= float64(r.N)
	r.Random /= float64(r.N)
	return r, nil
}

// Difference is a paired comparison of two recalls over the same sentences: the mean of the
// per-sentence differences d_i and its standard error sd(d)/√n. Pairing removes the variance
// the two retrievers share (the sentences that are easy or hard for both), so it can tell apart
// two recalls whose own binomial errors overlap.
type Difference struct {
	// Value is mean(d_i), StdErr its standard error, N the number of sentences.
	Value, StdErr float64
	N             int
	// Wins and Losses count the sentences where only the first retriever (Wins) or only the
	// second (Losses) had a hit; zero when the second term is a chance level.
	Wins, Losses int
}

// Z is Value in standard errors (0 when StdErr is 0).
func (d Difference) Z() float64 {
	if d.StdErr == 0 {
		return 0
	}
	return d.Value / d.StdErr
}

// Compare is the paired difference r − o, for two recalls measured over the same sentences
// (the same exs given to SameTitleRecall or AnswerRecall) by two retrievers.
func (r Recall) Compare(o Recall) (Difference, error) {
	if len(r.Hits) != len(o.Hits) || len(r.Hits) == 0 {
		return Difference{}, fmt.Errorf("realm: paired comparison of recalls over %d and %d sentences", len(r.Hits), len(o.Hits))
	}
	d := make([]float64, len(r.Hits))
	var diff Difference
	for i := range d {
		switch {
		case r.Hits[i] && !o.Hits[i]:
			d[i] = 1
			diff.Wins++
		case !r.Hits[i] && o.Hits[i]:
			d[i] = -1
			diff.Losses++
		}
	}
	diff.Value, diff.StdErr, diff.N = meanStdErr(d)
	return diff, nil
}

// OverChance is the paired difference between r's hits and each sentence's exact chance level:
// mean(hit_i − chance_i) = Value − Random, with the standard error of that mean.
func (r Recall) OverChance() (Difference, error) {
	if len(r.Hits) == 0 || len(r.Chance) != len(r.Hits) {
		return Difference{}, fmt.Errorf("realm: recall without per-sentence hits")
	}
	d := make([]float64, len(r.Hits))
	for i, h := range r.Hits {
		if h {
			d[i] = 1
		}
		d[i] -= r.Chance[i]
	}
	var diff Difference
	diff.Value, diff.StdErr, diff.N = meanStdErr(d)
	return diff, nil
}

// meanStdErr returns the mean of xs, its standard error (sample standard deviation over √n)
// and n.
func meanStdErr(xs []float64) (mean, se float64, n int) {
	n = len(xs)
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	if n < 2 {
		return mean, 0, n
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(n-1) / float64(n)), n
}

// containsRun reports whether run occurs in ids as a contiguous subsequence.
func containsRun(ids, run []int32) bool {
	for i := 0; i+len(run) <= len(ids); i++ {
		if slices.Equal(ids[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

// EvaluateRetrieval measures the same-title recall of the retriever whose parameters are s
// over exs, and its exact random baseline (Retrieve, then SameTitleRecall).
func (p *Pretrainer) EvaluateRetrieval(ctx context.Context, s Snapshot, exs []examples.Pretrain) (recall, random float64, err error) {
	retrieved, err := p.Retrieve(ctx, s, exs)
	if err != nil {
		return 0, 0, err
	}
	r, err := p.SameTitleRecall(exs, retrieved)
	return r.Value, r.Random, err
}
