// Package evaluate holds the statistics of retrieval evaluation: Recall, a hit rate with its
// exact chance level and the per-sentence hits, and Difference, the paired comparison of two
// recalls over the same sentences (or of one against its chance level). Pre-training's
// held-out recalls (pretrain.Pretrainer.SameTitleRecall, AnswerRecall) and open QA's recall at
// k (openqa.QAEval.RecallHits) are Recalls.
package evaluate

import (
	"fmt"
	"math"
)

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
// (the same exs given to pretrain.Pretrainer.SameTitleRecall or AnswerRecall) by two retrievers.
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
