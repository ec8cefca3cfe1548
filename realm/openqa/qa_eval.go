package openqa

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/evaluate"
)

// QAEvalOptions configures Evaluate.
type QAEvalOptions struct {
	// RecallAt lists the k of retrieval recall@k (default 1, 5, 10, 20, 50, 100, each capped at
	// the corpus size).
	RecallAt []int
	// KeepPredictions stores every question's prediction in the result.
	KeepPredictions bool
}

// RecallAtK is the fraction of questions with an answer string in one of their top k blocks.
type RecallAtK struct {
	// K is the number of top blocks and Recall the fraction of questions.
	K      int     `json:"k"`
	Recall float64 `json:"recall"`
}

// QAScores are the measures of one set of questions.
type QAScores struct {
	// N is the number of questions.
	N int `json:"n"`
	// EM is the exact-match accuracy of the predicted span (qa.ExactMatch against every
	// acceptable answer, SQuAD normalisation).
	EM float64 `json:"em"`
	// Recall is retrieval recall@k: an answer string (SQuAD-normalised, whole words) inside one
	// of the top k blocks.
	Recall []RecallAtK `json:"recall"`
}

// QAPrediction is one evaluated question.
type QAPrediction struct {
	// ID, Question, Answers and Relation come from the qa.Example.
	ID       string   `json:"id,omitempty"`
	Question string   `json:"question"`
	Answers  []string `json:"answers"`
	Relation string   `json:"relation,omitempty"`
	// Prediction is the answer's text, BlockID its block and Prob its span probability.
	Prediction string  `json:"prediction"`
	BlockID    int64   `json:"block_id"`
	Prob       float64 `json:"prob"`
	// Correct is qa.ExactMatch(Prediction, Answers).
	Correct bool `json:"correct"`
	// FirstHit is the rank (0-based) of the first retrieved block containing an answer, −1 if
	// none of the evaluated top blocks does.
	FirstHit int `json:"first_hit"`
}

// QAEval is the result of Evaluate: overall and per-relation scores (Factbook relations; empty
// relations are grouped under "").
type QAEval struct {
	// Retriever is the retriever's Name; ReaderBeam the number of blocks read per question.
	Retriever  string `json:"retriever"`
	ReaderBeam int    `json:"reader_beam"`
	// Overall scores every question; PerRelation each relation (absent when no example has one).
	Overall     QAScores            `json:"overall"`
	PerRelation map[string]QAScores `json:"per_relation,omitempty"`
	// Predictions are kept with QAEvalOptions.KeepPredictions, in the order of the examples.
	Predictions []QAPrediction `json:"predictions,omitempty"`
}

// Evaluate answers every example and measures exact match and retrieval recall@k, overall and
// per relation.
func (q *QA) Evaluate(ctx context.Context, exs []qa.Example, opts QAEvalOptions) (*QAEval, error) {
	if len(exs) == 0 {
		return nil, fmt.Errorf("realm qa: nothing to evaluate")
	}
	ks := opts.RecallAt
	if len(ks) == 0 {
		ks = []int{1, 5, 10, 20, 50, 100}
	}
	var capped []int
	for _, k := range ks {
		if k = min(k, q.Corpus.Len()); k > 0 && !slices.Contains(capped, k) {
			capped = append(capped, k)
		}
	}
	slices.Sort(capped)
	maxK := max(q.Reader.ReaderBeam, capped[len(capped)-1])
	out := &QAEval{Retriever: q.Retriever.Name(), ReaderBeam: q.Reader.ReaderBeam}
	type acc struct {
		n, em int
		hits  []int
	}
	all := &acc{hits: make([]int, len(capped))}
	per := map[string]*acc{}
	const chunk = 64
	for start := 0; start < len(exs); start += chunk {
		batch := exs[start:min(start+chunk, len(exs))]
		questions := make([]string, len(batch))
		for i, ex := range batch {
			questions[i] = ex.Question
		}
		res, err := q.Retriever.Retrieve(ctx, questions, maxK)
		if err != nil {
			return nil, err
		}
		answers, err := q.read(ctx, questions, res)
		if err != nil {
			return nil, err
		}
		realm.ReportProgress(ctx, "evaluating "+q.Retriever.Name(), start+len(batch), len(exs))
		for i, ex := range batch {
			norm := prepareAnswers(ex.Answers)
			first := -1
			for r, hit := range res[i] {
				bt, err := q.texts.get(hit.ID)
				if err != nil {
					return nil, err
				}
				if len(bt.matchSpans(norm, 0, 0, true)) > 0 {
					first = r
					break
				}
			}
			correct := answers[i].BlockID >= 0 && qa.ExactMatch(answers[i].Text, ex.Answers)
			a := per[ex.Relation]
			if a == nil {
				a = &acc{hits: make([]int, len(capped))}
				per[ex.Relation] = a
			}
			for _, x := range []*acc{all, a} {
				x.n++
				if correct {
					x.em++
				}
				for j, k := range capped {
					if first >= 0 && first < k {
						x.hits[j]++
					}
				}
			}
			if opts.KeepPredictions {
				out.Predictions = append(out.Predictions, QAPrediction{ID: ex.ID, Question: ex.Question, Answers: ex.Answers,
					Relation: ex.Relation, Prediction: answers[i].Text, BlockID: answers[i].BlockID, Prob: answers[i].Prob,
					Correct: correct, FirstHit: first})
			}
		}
	}
	scores := func(a *acc) QAScores {
		s := QAScores{N: a.n, EM: float64(a.em) / float64(a.n)}
		for j, k := range capped {
			s.Recall = append(s.Recall, RecallAtK{K: k, Recall: float64(a.hits[j]) / float64(a.n)})
		}
		return s
	}
	out.Overall = scores(all)
	if len(per) > 1 || per[""] == nil {
		out.PerRelation = map[string]QAScores{}
		for rel, a := range per {
			out.PerRelation[rel] = scores(a)
		}
	}
	return out, nil
}

// RecallHits returns retrieval recall@k per question (an answer string in one of the top k
// blocks) as an evaluate.Recall, for paired comparisons of retrievers over the same questions
// (evaluate.Recall.Compare). It needs the predictions (QAEvalOptions.KeepPredictions) and a k no
// larger than the deepest recall@k or the reader beam evaluated.
func (e *QAEval) RecallHits(k int) (evaluate.Recall, error) {
	if len(e.Predictions) != e.Overall.N || e.Overall.N == 0 {
		return evaluate.Recall{}, fmt.Errorf("realm qa: %s evaluation kept %d predictions of %d questions (QAEvalOptions.KeepPredictions)", e.Retriever, len(e.Predictions), e.Overall.N)
	}
	deepest := e.ReaderBeam
	for _, r := range e.Overall.Recall {
		deepest = max(deepest, r.K)
	}
	if k < 1 || k > deepest {
		return evaluate.Recall{}, fmt.Errorf("realm qa: recall@%d of a %s evaluation that looked at the top %d blocks", k, e.Retriever, deepest)
	}
	r := evaluate.Recall{N: len(e.Predictions), Hits: make([]bool, len(e.Predictions))}
	for i, p := range e.Predictions {
		r.Hits[i] = p.FirstHit >= 0 && p.FirstHit < k
		if r.Hits[i] {
			r.Value++
		}
	}
	r.Value /= float64(r.N)
	return r, nil
}

// JSON returns the result as indented JSON.
func (e *QAEval) JSON() ([]byte, error) { return json.MarshalIndent(e, "", "  ") }

// WriteTable writes the scores as a text table: one row overall, then one per relation.
func (e *QAEval) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"relation", "n", "EM"}
	for _, r := range e.Overall.Recall {
		head = append(head, fmt.Sprintf("R@%d", r.K))
	}
	fmt.Fprintf(tw, "%s\t\n", strings.Join(head, "\t"))
	row := func(name string, s QAScores) {
		cells := []string{name, fmt.Sprint(s.N), fmt.Sprintf("%.3f", s.EM)}
		for _, r := range s.Recall {
			cells = append(cells, fmt.Sprintf("%.3f", r.Recall))
		}
		fmt.Fprintf(tw, "%s\t\n", strings.Join(cells, "\t"))
	}
	row(fmt.Sprintf("all (%s, k=%d)", e.Retriever, e.ReaderBeam), e.Overall)
	for _, rel := range slices.Sorted(maps.Keys(e.PerRelation)) {
		row(rel, e.PerRelation[rel])
	}
	return tw.Flush()
}

// Table returns WriteTable's text.
func (e *QAEval) Table() string {
	var b strings.Builder
	_ = e.WriteTable(&b)
	return b.String()
}
