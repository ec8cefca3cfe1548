package pretrain

import (
	"context"

	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/evaluate"
)

// Evaluation is what EvaluateHeldOut measures on held-out masked sentences, as `realm pretrain`
// and `realm demo` write it to a run's eval.json (runs.WriteEvaluation).
type Evaluation struct {
	// Sentences is the number of held-out sentences; AccRetrieval and AccNull the masked-token
	// accuracies with retrieval and with the null document only; Utility the retrieval utility
	// log p(y|x) − log p(y|∅,x) in nats per token.
	Sentences    int     `json:"held_out_sentences"`
	AccRetrieval float64 `json:"masked_accuracy_with_retrieval"`
	AccNull      float64 `json:"masked_accuracy_null_document_only"`
	Utility      float64 `json:"retrieval_utility"`
	// Same-country recall (a retrieved block of the source's country) and answer recall (a
	// retrieved block holding the masked span), each with its chance level, for the REALM,
	// ICT-only and BM25 retrievers (see Pretrainer.SameTitleRecall, AnswerRecall).
	RecallREALM        float64 `json:"same_country_recall_realm"`
	RecallICT          float64 `json:"same_country_recall_ict_only"`
	RecallBM25         float64 `json:"same_country_recall_bm25"`
	RecallRandom       float64 `json:"same_country_recall_random"`
	AnswerSentences    int     `json:"answer_recall_sentences"`
	AnswerRecallREALM  float64 `json:"answer_recall_realm"`
	AnswerRecallICT    float64 `json:"answer_recall_ict_only"`
	AnswerRecallBM25   float64 `json:"answer_recall_bm25"`
	AnswerRecallRandom float64 `json:"answer_recall_random"`
	// The same-country recalls again over the sentences whose masked form still names their
	// country (Pretrainer.TitleNamed) and over the others (mostly those whose country
	// name was the masked span).
	SubjectNamed   RecallRow `json:"same_country_recall_subject_named"`
	SubjectUnnamed RecallRow `json:"same_country_recall_subject_not_named"`
	// Paired differences over the same sentences (evaluate.Recall.Compare and OverChance):
	// REALM's recall minus ICT-only's and minus chance, with standard errors that leave out the
	// variance both retrievers share.
	Paired PairedRows `json:"paired"`
	// SalientKinds is what salient-span masking masked (set by the caller, who configured it).
	SalientKinds string `json:"salient_kinds"`
	TopK         int    `json:"k_retrieved"`
	// Refreshes, MeanOverlap, TrainSeconds and StepsPerSec describe the REALM training: index
	// swaps, the mean overlap of stale and fresh top-k at each swap, its time and speed.
	Refreshes    uint64  `json:"index_refreshes"`
	MeanOverlap  float64 `json:"mean_stale_fresh_overlap"`
	TrainSeconds float64 `json:"realm_train_seconds"`
	StepsPerSec  float64 `json:"realm_steps_per_second"`
	// Configuration is the model's configuration (realm.Config when written here).
	Configuration any `json:"config"`
}

// RecallRow is one recall measured for every retriever over a subset of sentences.
type RecallRow struct {
	// Sentences is how many sentences were counted; the others are each retriever's recall.
	Sentences int     `json:"sentences"`
	REALM     float64 `json:"realm"`
	ICT       float64 `json:"ict_only"`
	BM25      float64 `json:"bm25"`
	Random    float64 `json:"random"`
}

// PairedRows are REALM's paired differences from ICT-only and from chance.
type PairedRows struct {
	// Same-country and answer recall, REALM's minus ICT-only's and minus chance.
	SameCountryVsICT    PairedRow `json:"same_country_realm_minus_ict"`
	SameCountryVsRandom PairedRow `json:"same_country_realm_minus_random"`
	AnswerVsICT         PairedRow `json:"answer_realm_minus_ict"`
	AnswerVsRandom      PairedRow `json:"answer_realm_minus_random"`
}

// PairedRow is an evaluate.Difference as eval.json records it.
type PairedRow struct {
	// Value ± StdErr is the difference; Wins and Losses count the sentences where only REALM,
	// or only the other, found the block.
	Value  float64 `json:"difference"`
	StdErr float64 `json:"std_err"`
	Wins   int     `json:"only_realm"`
	Losses int     `json:"only_other"`
}

// newPairedRow records d.
func newPairedRow(d evaluate.Difference) PairedRow {
	return PairedRow{Value: d.Value, StdErr: d.StdErr, Wins: d.Wins, Losses: d.Losses}
}

// subset returns the items of xs at the indices i where named[i] == want.
func subset[T any](xs []T, named []bool, want bool) []T {
	var out []T
	for i, x := range xs {
		if named[i] == want {
			out = append(out, x)
		}
	}
	return out
}

// EvaluateHeldOut measures a finished pipeline on the held-out masked sentences held: masked
// accuracy with retrieval and with ∅ only, retrieval utility, and same-country and answer
// recall@k of the REALM, ICT-only and BM25 retrievers against chance, overall and split by
// whether the masked sentence still names its country, with REALM's paired differences from
// ICT-only and from chance. It also fills the training figures (index refreshes, stale-fresh
// overlap, time and speed) from res's Pretrainer, whose index must be idle
// (Refresher.WaitIdle).
func EvaluateHeldOut(ctx context.Context, res *PipelineResult, held []examples.Pretrain) (Evaluation, error) {
	var ev Evaluation
	p := res.Pretrainer
	var err error
	ev.Sentences, ev.TopK, ev.Configuration = len(held), res.Config.TopK-1, res.Config
	if ev.AccRetrieval, ev.AccNull, ev.Utility, err = p.EvaluateLM(ctx, held); err != nil {
		return ev, err
	}
	snap, err := realm.TakeSnapshot(res.Store)
	if err != nil {
		return ev, err
	}
	bm25, err := p.RetrieveBM25(held)
	if err != nil {
		return ev, err
	}
	named := make([]bool, len(held))
	for i, ex := range held {
		named[i] = p.TitleNamed(ex)
	}
	var sameRecalls, ansRecalls []evaluate.Recall // REALM, ICT-only, BM25
	for _, r := range []struct {
		snap                   *realm.Snapshot // nil: BM25
		same, ans              *float64
		sameNamed, sameUnnamed *float64
	}{
		{&snap, &ev.RecallREALM, &ev.AnswerRecallREALM, &ev.SubjectNamed.REALM, &ev.SubjectUnnamed.REALM},
		{&res.ICTSnapshot, &ev.RecallICT, &ev.AnswerRecallICT, &ev.SubjectNamed.ICT, &ev.SubjectUnnamed.ICT},
		{nil, &ev.RecallBM25, &ev.AnswerRecallBM25, &ev.SubjectNamed.BM25, &ev.SubjectUnnamed.BM25},
	} {
		retrieved := bm25
		if r.snap != nil {
			if retrieved, err = p.Retrieve(ctx, *r.snap, held); err != nil {
				return ev, err
			}
		}
		same, err := p.SameTitleRecall(held, retrieved)
		if err != nil {
			return ev, err
		}
		ans, err := p.AnswerRecall(held, retrieved)
		if err != nil {
			return ev, err
		}
		*r.same, *r.ans = same.Value, ans.Value
		sameRecalls, ansRecalls = append(sameRecalls, same), append(ansRecalls, ans)
		ev.RecallRandom, ev.AnswerRecallRandom, ev.AnswerSentences = same.Random, ans.Random, ans.N
		for _, part := range []struct {
			named bool
			value *float64
			row   *RecallRow
		}{{true, r.sameNamed, &ev.SubjectNamed}, {false, r.sameUnnamed, &ev.SubjectUnnamed}} {
			exs := subset(held, named, part.named)
			if len(exs) == 0 {
				continue
			}
			rec, err := p.SameTitleRecall(exs, subset(retrieved, named, part.named))
			if err != nil {
				return ev, err
			}
			*part.value, part.row.Random, part.row.Sentences = rec.Value, rec.Random, rec.N
		}
	}
	for _, c := range []struct {
		r   []evaluate.Recall
		ict *PairedRow
		rnd *PairedRow
	}{{sameRecalls, &ev.Paired.SameCountryVsICT, &ev.Paired.SameCountryVsRandom}, {ansRecalls, &ev.Paired.AnswerVsICT, &ev.Paired.AnswerVsRandom}} {
		vsICT, err := c.r[0].Compare(c.r[1])
		if err != nil {
			return ev, err
		}
		vsRandom, err := c.r[0].OverChance()
		if err != nil {
			return ev, err
		}
		*c.ict, *c.rnd = newPairedRow(vsICT), newPairedRow(vsRandom)
	}
	ev.Refreshes = p.Refresher.Generation()
	st := p.Staleness()
	for _, s := range st { // one record per refresh (the initial index has none).
		ev.MeanOverlap += s.Overlap / float64(len(st))
	}
	if last, ok := p.History.Last(); ok {
		ev.TrainSeconds = last.Time.Seconds()
		ev.StepsPerSec = float64(len(p.History.Records())) / max(ev.TrainSeconds, 1e-9)
	}
	return ev, nil
}
