package openqa

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/internal/realmtest"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/bm25"
	"github.com/realm-go/realm/realm/pretrain"
	"github.com/realm-go/realm/realm/training"
)

// factbookQuestions returns the Factbook training questions about the corpus's countries.
func qaFactbookQuestions(t *testing.T, c *realm.Corpus) []qa.Example {
	t.Helper()
	titles := map[string]bool{}
	for _, b := range c.Blocks {
		titles[b.Title] = true
	}
	var out []qa.Example
	for ex, err := range qa.Factbook("train") {
		if err != nil {
			t.Fatal(err)
		}
		if titles[ex.Country] {
			out = append(out, ex)
		}
	}
	if len(out) < 4 {
		t.Fatalf("only %d questions about the corpus", len(out))
	}
	return out
}

func qaTinyReaderConfig() ReaderConfig {
	return ReaderConfig{SpanHiddenSize: 8, MaxSpanWidth: 4, ReaderBeam: 3, RetrieverBeam: 10, LayerNormEps: 1e-3, Batch: 4}
}

// checkAnswer checks that an answer is a span of one of its retrieved blocks.
func qaCheckAnswer(t *testing.T, q *QA, a Answer) {
	t.Helper()
	if a.BlockID < 0 || a.Text == "" {
		t.Fatalf("no answer: %+v", a)
	}
	ids := []int64{}
	sum := 0.0
	for _, b := range a.Blocks {
		ids = append(ids, b.ID)
		sum += b.Prob
	}
	if len(a.Blocks) != q.Reader.ReaderBeam || !slices.Contains(ids, a.BlockID) {
		t.Errorf("answer block %d not among the %d blocks read %v", a.BlockID, q.Reader.ReaderBeam, ids)
	}
	if math.Abs(sum-1) > 1e-5 {
		t.Errorf("p(z|x) over the blocks read sums to %v", sum)
	}
	if a.Block != q.Corpus.Blocks[a.BlockID].Body || a.Text != a.Block[a.Start:a.End] || a.Title != q.Corpus.Blocks[a.BlockID].Title {
		t.Errorf("answer %q is not the span [%d,%d) of block %d", a.Text, a.Start, a.End, a.BlockID)
	}
	if !(a.Prob > 0 && a.Prob <= 1) {
		t.Errorf("span probability %v", a.Prob)
	}
}

// checkEval checks the ranges and consistency of an evaluation.
func qaCheckEval(t *testing.T, ev *QAEval, n int) {
	t.Helper()
	if ev.Overall.N != n || ev.Overall.EM < 0 || ev.Overall.EM > 1 {
		t.Errorf("overall %+v", ev.Overall)
	}
	prev := -1.0
	for _, r := range ev.Overall.Recall {
		if r.Recall < prev || r.Recall < 0 || r.Recall > 1 {
			t.Errorf("recall@%d = %v after %v", r.K, r.Recall, prev)
		}
		prev = r.Recall
	}
	total := 0
	for _, s := range ev.PerRelation {
		total += s.N
	}
	if total != n || ev.PerRelation["capital"].N != 1 {
		t.Errorf("per relation %+v", ev.PerRelation)
	}
	em := 0
	for _, p := range ev.Predictions {
		if p.Correct != qa.ExactMatch(p.Prediction, p.Answers) {
			t.Errorf("prediction %q for %q marked correct=%v", p.Prediction, p.Answers, p.Correct)
		}
		if p.Correct {
			em++
		}
	}
	if math.Abs(float64(em)/float64(n)-ev.Overall.EM) > 1e-9 {
		t.Errorf("EM %v, predictions give %d/%d", ev.Overall.EM, em, n)
	}
	// RecallHits gives the per-question hits behind every recall@k of the table.
	for _, r := range ev.Overall.Recall {
		hits, err := ev.RecallHits(r.K)
		if err != nil {
			t.Fatal(err)
		}
		if hits.N != n || math.Abs(hits.Value-r.Recall) > 1e-9 {
			t.Errorf("RecallHits(%d) = %v over %d, table %v", r.K, hits.Value, hits.N, r.Recall)
		}
		if d, err := hits.Compare(hits); err != nil || d.Value != 0 {
			t.Errorf("recall@%d compared with itself: %+v, %v", r.K, d, err)
		}
	}
	if _, err := ev.RecallHits(1000); err == nil {
		t.Error("RecallHits beyond the blocks evaluated: no error")
	}
	js, err := ev.JSON()
	var back QAEval
	if err != nil || json.Unmarshal(js, &back) != nil || back.Overall.N != n {
		t.Errorf("JSON round trip: %v", err)
	}
	if tab := ev.Table(); !strings.Contains(tab, "capital") || !strings.Contains(tab, "R@5") {
		t.Errorf("table:\n%s", tab)
	}
}

// TestQAEndToEnd runs the whole QA pipeline on a few Factbook documents with a tiny BERT: reader
// initialised from the encoder, a dense (ICT-trained) retriever over fixed document embeddings,
// a few fine-tuning steps, Answer and Evaluate; then the BM25 baseline through the same code path.
func TestQAEndToEnd(t *testing.T) {
	cfg, c := realmtest.SmallFactbook(t, 6)
	ctx := context.Background()
	be := backend.MustNew()
	store := realmtest.NewStore()
	// A few MLM steps create the encoder, which initialises the retriever and the reader.
	if err := pretrain.TrainMLM(ctx, be, store, cfg, c, training.RunConfig{Steps: 2, BatchSize: 2, LR: 1e-3, Seed: 1}, &training.History{}); err != nil {
		t.Fatal(err)
	}
	if err := pretrain.InitRetrieverFromEncoder(store, cfg); err != nil {
		t.Fatal(err)
	}
	if err := InitReaderFromEncoder(store); err != nil {
		t.Fatal(err)
	}
	enc := store.GetVariable("/encoder/embeddings/word/embeddings").MustValue().Value().([][]float32)
	rd := store.GetVariable("/reader/embeddings/word/embeddings")
	if rd == nil || rd.MustValue().Value().([][]float32)[1037][2] != enc[1037][2] {
		t.Fatal("the reader was not initialised from the encoder")
	}
	// ORQA's ICT-only retriever (REALM's differs only by its pre-training: same code path).
	if err := pretrain.TrainICT(ctx, be, store, cfg, c, training.RunConfig{Steps: 2, BatchSize: 4, LR: 1e-3, Seed: 1}, &training.History{}, pretrain.ICTOptions{}); err != nil {
		t.Fatal(err)
	}
	q, err := BuildQA(ctx, be, store, cfg, qaTinyReaderConfig(), c, RetrieverICT, bm25.Params{})
	if err != nil {
		t.Fatal(err)
	}
	dense, ok := q.Retriever.(*DenseRetriever)
	if !ok || dense.Name() != RetrieverICT {
		t.Fatalf("BuildQA(ict) made a %T", q.Retriever)
	}
	exs := qaFactbookQuestions(t, c)
	docsBefore := slices.Clone(dense.Vectors())
	qBefore, err := dense.EmbedQuestions([]string{exs[0].Question})
	if err != nil {
		t.Fatal(err)
	}
	h := &training.History{}
	run := training.RunConfig{Dir: filepath.Join(t.TempDir(), "realm"), Steps: 3, BatchSize: 2, LR: 1e-3, Seed: 2}
	if err := q.FineTune(ctx, exs, run, h); err != nil {
		t.Fatal(err)
	}
	recs := h.Records()
	if len(recs) != 3 {
		t.Fatalf("%d fine-tuning records, want 3", len(recs))
	}
	for _, r := range recs {
		for _, name := range []string{"loss", "reader_loss", "retriever_loss", "reader_oracle", "retriever_oracle", "span_em"} {
			v, ok := r.Metrics[name]
			if !ok || math.IsNaN(v) || v < 0 {
				t.Errorf("step %d: metric %s = %v (present %v)", r.Step, name, v, ok)
			}
		}
	}
	// The query tower trained; the document embeddings (index) did not change.
	qAfter, err := dense.EmbedQuestions([]string{exs[0].Question})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(qBefore, qAfter) {
		t.Error("fine-tuning did not change the query embedding")
	}
	if !slices.Equal(docsBefore, dense.Vectors()) {
		t.Error("fine-tuning changed the fixed document embeddings")
	}
	// The run keeps its index: re-embedding the corpus with the fine-tuned (shared) towers gives
	// other vectors, and FineTune in the same directory puts the saved ones back.
	saved, err := LoadDenseRetriever(be, store, cfg, c, filepath.Join(run.Dir, QAIndexFile), "ict")
	if err != nil || !slices.Equal(saved.Vectors(), docsBefore) {
		t.Fatalf("saved index differs from the one fine-tuned with (err %v)", err)
	}
	fresh, err := NewDenseRetriever(ctx, be, store, cfg, c, "ict")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(fresh.Vectors(), docsBefore) {
		t.Error("fine-tuning did not change the shared document tower (test premise)")
	}
	qf, err := NewQA(be, store, cfg, qaTinyReaderConfig(), c, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if err := qf.FineTune(ctx, exs, run, &training.History{}); err != nil || !slices.Equal(fresh.Vectors(), docsBefore) {
		t.Errorf("resuming the finished run did not restore its index (err %v)", err)
	}

	a, err := q.Answer(ctx, "What is the capital of Aruba?")
	if err != nil {
		t.Fatal(err)
	}
	qaCheckAnswer(t, q, a)
	ev, err := q.Evaluate(ctx, exs, QAEvalOptions{RecallAt: []int{1, 5, 10}, KeepPredictions: true})
	if err != nil {
		t.Fatal(err)
	}
	qaCheckEval(t, ev, len(exs))
	for _, p := range ev.Predictions {
		if p.Question == a.Question && (p.Prediction != a.Text || p.BlockID != a.BlockID) {
			t.Errorf("Evaluate predicted %q (block %d), Answer %q (block %d)", p.Prediction, p.BlockID, a.Text, a.BlockID)
		}
	}
	// Recall is the brute-force "an answer inside one of the top k blocks".
	res, err := dense.Retrieve(ctx, []string{exs[0].Question}, 5)
	if err != nil {
		t.Fatal(err)
	}
	hit := false
	for _, r := range res[0] {
		bt, err := q.Text(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		hit = hit || bt.ContainsAnswer(exs[0].Answers)
	}
	if p := ev.Predictions[0]; (p.FirstHit >= 0 && p.FirstHit < 5) != hit {
		t.Errorf("first hit %d, brute-force top-5 hit %v", p.FirstHit, hit)
	}

	// BM25 + the same reader, same code path: only the reader trains.
	qb, err := BuildQA(ctx, be, store, cfg, qaTinyReaderConfig(), c, RetrieverBM25, bm25.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := BuildQA(ctx, be, store, cfg, qaTinyReaderConfig(), c, "tfidf", bm25.DefaultParams()); err == nil {
		t.Error("BuildQA accepted an unknown retriever")
	}
	hb := &training.History{}
	run.Dir = filepath.Join(t.TempDir(), "bm25")
	if err := qb.FineTune(ctx, exs, run, hb); err != nil {
		t.Fatal(err)
	}
	if r, ok := hb.Last(); !ok || r.Metrics["retriever_loss"] != 0 {
		t.Errorf("BM25 fine-tuning: last record %+v", r)
	}
	a, err = qb.Answer(ctx, "What is the capital of Aruba?")
	if err != nil {
		t.Fatal(err)
	}
	qaCheckAnswer(t, qb, a)
	for _, b := range a.Blocks {
		if math.Abs(b.Prob-1/float64(len(a.Blocks))) > 1e-9 {
			t.Errorf("BM25 p(z|x) = %v, want uniform", b.Prob)
		}
	}
	ev, err = qb.Evaluate(ctx, exs, QAEvalOptions{RecallAt: []int{1, 5, 10}, KeepPredictions: true})
	if err != nil {
		t.Fatal(err)
	}
	qaCheckEval(t, ev, len(exs))
	if ev.Retriever != "bm25" || ev.Overall.Recall[2].Recall == 0 {
		t.Errorf("BM25 over Aruba's blocks found no answer in the top 10: %+v", ev.Overall)
	}
	t.Logf("\n%s", ev.Table())
}

// qaBM25Setup returns the tiny model configuration, six Factbook documents (Aruba's), the
// backend and BM25 over them: the set-up of the reader's training tests.
func qaBM25Setup(t *testing.T) (realm.Config, *realm.Corpus, compute.Backend, *bm25.Index) {
	t.Helper()
	cfg, c := realmtest.SmallFactbook(t, 6)
	bm, err := bm25.New(c, bm25.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	return cfg, c, backend.MustNew(), bm
}

// TestReaderLearns fine-tunes a fresh tiny reader with BM25's top-k on the Aruba questions: the
// reader loss must fall and the reader must then answer some training questions exactly.
func TestReaderLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for ~10 s")
	}
	cfg, c, be, bm := qaBM25Setup(t)
	ctx := context.Background()
	rc := qaTinyReaderConfig()
	rc.SpanHiddenSize = 32
	q, err := NewQA(be, realmtest.NewStore(), cfg, rc, c, bm)
	if err != nil {
		t.Fatal(err)
	}
	exs := qaFactbookQuestions(t, c)
	h := &training.History{}
	if err := q.FineTune(ctx, exs, training.RunConfig{Steps: 40, BatchSize: 4, LR: 3e-3, Seed: 1}, h); err != nil {
		t.Fatal(err)
	}
	_, loss := h.Series("loss")
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	first, last := mean(loss[:8]), mean(loss[len(loss)-8:])
	if !(last < 0.6*first) {
		t.Errorf("reader loss %.3f over the first 8 steps, %.3f over the last 8: not learning", first, last)
	}
	ev, err := q.Evaluate(ctx, exs, QAEvalOptions{RecallAt: []int{3}})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Overall.EM == 0 {
		t.Errorf("no training question answered after fine-tuning:\n%s", ev.Table())
	}
	t.Logf("loss %.3f → %.3f\n%s", first, last, ev.Table())
}

// TestFineTuneWarnsWithoutGold fine-tunes on questions whose answers no block holds: every batch
// has no gold span, the run says so in its log and records the share as batches_without_gold;
// with answers the corpus holds, it does not warn.
func TestFineTuneWarnsWithoutGold(t *testing.T) {
	cfg, c, be, bm := qaBM25Setup(t)
	ctx := context.Background()
	exs := qaFactbookQuestions(t, c)
	unanswerable := make([]qa.Example, len(exs))
	for i, ex := range exs {
		ex.Answers = []string{"Xyzzy Plugh"}
		unanswerable[i] = ex
	}
	for _, tc := range []struct {
		name  string
		exs   []qa.Example
		warns bool
	}{{"unanswerable", unanswerable, true}, {"answerable", exs, false}} {
		q, err := NewQA(be, realmtest.NewStore(), cfg, qaTinyReaderConfig(), c, bm)
		if err != nil {
			t.Fatal(err)
		}
		var log strings.Builder
		h := &training.History{}
		if err := q.FineTune(ctx, tc.exs, training.RunConfig{Steps: 3, BatchSize: 4, LR: 1e-3, Seed: 1, Log: &log}, h); err != nil {
			t.Fatal(err)
		}
		_, share := h.Series("batches_without_gold")
		if len(share) != 3 {
			t.Fatalf("%s: %d batches_without_gold records, want 3", tc.name, len(share))
		}
		warned := strings.Contains(log.String(), "no gold span")
		if warned != tc.warns || (share[2] == 1) != tc.warns {
			t.Errorf("%s: warned %v, share of batches without gold %v; log:\n%s", tc.name, warned, share, log.String())
		}
	}
}

// BenchmarkQAFineTuneStep measures one fine-tuning step of the default-sized model (L=2, H=128
// BERTs, QueryLen 64, DocLen 128, the reader's 256-wide span head over ~1200 spans per block)
// with a dense retriever, batch 4 × 5 blocks read, a beam of 100, on 20 Factbook documents.
// On the project's 2-core EPYC (GOEXPERIMENT=simd, go:parallelism=32): 5.6 s/step; with a
// 64-wide span head 3.3 s/step (the span head is ~40% of the step at ORQA's width 256).
func BenchmarkQAFineTuneStep(b *testing.B) {
	tok, err := tokenize.Default()
	if err != nil {
		b.Fatal(err)
	}
	cfg := realm.DefaultConfig()
	c, _, err := realm.BuildCorpus(tok, corpus.Head(corpus.Factbook(), 20), cfg.DocLen)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	be := backend.MustNew()
	store := realmtest.NewStore()
	d, err := NewDenseRetriever(ctx, be, store, cfg, c, "realm")
	if err != nil {
		b.Fatal(err)
	}
	q, err := NewQA(be, store, cfg, DefaultReaderConfig(), c, d)
	if err != nil {
		b.Fatal(err)
	}
	var exs []qa.Example
	for ex, err := range qa.Factbook("train") {
		if err != nil {
			b.Fatal(err)
		}
		exs = append(exs, ex)
	}
	// The first step compiles the graph: time the b.N steps after it from the run's history.
	h := &training.History{}
	if err := q.FineTune(ctx, exs, training.RunConfig{Steps: b.N + 1, BatchSize: 4, LR: 1e-4, Seed: 1}, h); err != nil {
		b.Fatal(err)
	}
	recs := h.Records()
	b.ReportMetric((recs[len(recs)-1].Time-recs[0].Time).Seconds()/float64(b.N), "s/step")
	b.ReportMetric(float64(q.SpanSlots()), "span_slots")
}

// TestReaderSeqLen checks ReaderConfig.SeqLen: the reader reads [CLS] question [SEP] body [SEP]
// in SeqLen positions, so every answer comes from the part of its block that fits, and a length
// past the encoder's positions is refused.
func TestReaderSeqLen(t *testing.T) {
	cfg, c, be, bm := qaBM25Setup(t)
	rc := qaTinyReaderConfig()
	if rc.Len(cfg) != cfg.QueryLen+cfg.DocLen {
		t.Fatalf("default reader length %d, want QueryLen + DocLen = %d", rc.Len(cfg), cfg.QueryLen+cfg.DocLen)
	}
	rc.SeqLen = cfg.Encoder.MaxPositionEmbeddings + 1
	if _, err := NewQA(be, realmtest.NewStore(), cfg, rc, c, bm); err == nil || !strings.Contains(err.Error(), "reader_seq_len") {
		t.Fatalf("reader_seq_len past the positions: %v", err)
	}
	rc.SeqLen = 20
	q, err := NewQA(be, realmtest.NewStore(), cfg, rc, c, bm)
	if err != nil {
		t.Fatal(err)
	}
	exs := qaFactbookQuestions(t, c)
	questions := make([]string, 0, 8)
	for _, ex := range exs[:min(8, len(exs))] {
		questions = append(questions, ex.Question)
	}
	answers, err := q.AnswerBatch(context.Background(), questions)
	if err != nil {
		t.Fatal(err)
	}
	cut := 0 // answers from blocks longer than what fits
	for i, a := range answers {
		qaCheckAnswer(t, q, a)
		body := rc.SeqLen - 3 - len(questionPieces(c.Tok, questions[i], cfg.QueryLen)) // body pieces that fit
		bt, err := q.Text(a.BlockID)
		if err != nil {
			t.Fatal(err)
		}
		if len(bt.Pieces) <= body {
			continue
		}
		cut++
		if a.End > bt.Pieces[body-1].End {
			t.Errorf("answer %q ends at byte %d, past the %d body pieces that fit in %d positions (byte %d)", a.Text, a.End, body, rc.SeqLen, bt.Pieces[body-1].End)
		}
	}
	if cut == 0 {
		t.Fatal("no answer came from a block longer than the reader's length: the test checks nothing")
	}
}
