package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	dataqa "github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/evaluate"
	"github.com/realm-go/realm/realm/openqa"
	"github.com/realm-go/realm/realm/pretrain"
	"github.com/realm-go/realm/realm/runs"
)

// demoDefaults run the pipeline from a pre-trained BERT (scripts/demo.sh passes all-MiniLM-L6-v2)
// in about 20 minutes on two cores with xla:cpu: a short ICT warm start, a few REALM steps with
// the retriever frozen for the first half, and open-QA fine-tuning on every train question about
// the corpus's countries. The sizes are measured: see docs/main-job.md.
var demoDefaults = pipelineFlags{dir: "out/demo", ictSteps: 100, realmSteps: 20, retrieverWarmup: 10, refresh: 10,
	batch: 4, ictBatch: 16, mlmBatch: 8, queryLen: 48, docLen: 96, topK: 5, mlmLR: 1e-3, ictLR: 1e-4, realmLR: 1e-4,
	checkpointEvery: 0, evalSentences: 160, heldOut: 0.02, salient: spans.AllKinds, timeout: 60 * time.Minute}

// scratchDemoDefaults run the whole pipeline from scratch (a small BERT trained by masked-LM on
// the corpus), for machines with no network: it shows the machinery, not a model that reads.
var scratchDemoDefaults = pipelineFlags{dir: "out/demo", mlmSteps: 300, ictSteps: 200, realmSteps: 100, refresh: 25,
	batch: 4, ictBatch: 16, mlmBatch: 8, queryLen: 48, docLen: 96, topK: 5, mlmLR: 1e-3, ictLR: 2e-4, realmLR: 2e-4,
	checkpointEvery: 0, evalSentences: 200, heldOut: 0.02, salient: spans.AllKinds, timeout: 60 * time.Minute}

// demoQA are the demo's open-QA settings.
type demoQA struct {
	steps, batch, readerBeam      int
	warmup, readerLen             int
	spans                         string
	lr, retrieverLRScale          float64
	testCountries, trainCountries int
}

func runDemo(ctx context.Context, args []string) error {
	// -from-scratch changes the other flags' defaults: parse once, and again with its defaults.
	fs, f, qa, scratch := newDemoFlags(demoDefaults)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *scratch {
		fs, f, qa, scratch = newDemoFlags(scratchDemoDefaults)
		if err := parse(fs, args); err != nil {
			return err
		}
	}
	if *scratch && f.bertDir != "" {
		return fmt.Errorf("-from-scratch and -bert exclude each other")
	}
	if err := f.validate(); err != nil {
		return err
	}
	if !*scratch && f.bertDir == "" {
		return fmt.Errorf("demo starts from a pre-trained BERT: give -bert DIR or a hub id (scripts/fetch-minilm.sh prints a directory), or -from-scratch")
	}
	if qa.steps < 0 || qa.batch <= 0 || qa.readerBeam <= 0 || !(qa.lr > 0) || qa.testCountries < 0 || qa.trainCountries < 0 || qa.warmup < 0 || qa.readerLen < 0 || !(qa.retrieverLRScale >= 0) {
		return fmt.Errorf("-qa-steps, -qa-warmup, -qa-retriever-lr-scale, -reader-len, -test-countries and -train-countries must be ≥ 0, -qa-batch, -qa-lr and -reader-beam > 0")
	}
	if err := validReaderSpans(qa.spans); err != nil {
		return err
	}
	if qa.steps > 0 && qa.warmup > qa.steps {
		return fmt.Errorf("-qa-warmup %d exceeds -qa-steps %d", qa.warmup, qa.steps)
	}
	if err := f.resolveBERT(ctx); err != nil {
		return err
	}
	if f.corpusPath == "" && qa.testCountries+qa.trainCountries > 0 {
		titles, err := demoCountries(qa.testCountries, qa.trainCountries)
		if err != nil {
			return err
		}
		f.titles = titles
	}
	defer watchdog(f.timeout)()
	start := "a small BERT trained from scratch"
	if !*scratch {
		start = f.bertDir
	}
	corpusDesc := "the embedded Factbook"
	if f.titles != nil {
		corpusDesc = fmt.Sprintf("the Factbook's documents on %d test and %d train countries of the QA splits", qa.testCountries, qa.trainCountries)
	}
	fmt.Printf("REALM demo on backend %s, from %s; corpus: %s\n", backend.Config(), start, corpusDesc)
	res, ev, err := pretrainAndEvaluate(ctx, f, os.Stdout)
	if err != nil || qa.steps == 0 {
		return err
	}
	// Open-QA: the same reader fine-tuned over each retriever, compared on the test countries.
	// Only the corpus, the configuration and the corpus embeddings of pre-training are kept.
	be, err := backend.New()
	if err != nil {
		return err
	}
	cfg, c := res.Config, res.Corpus
	embed := cachedEmbeddings(be, cfg, c, res.Pretrainer.Embeddings) // res is not used past here.
	releaseMemory()
	qf := qaFlags{dir: f.dir, split: "test", steps: qa.steps, batch: qa.batch, lr: qa.lr, warmup: qa.warmup, retrieverLRScale: qa.retrieverLRScale,
		readerBeam: qa.readerBeam, readerLen: qa.readerLen, spans: qa.spans, beam: 20, seed: f.seed, progress: f.progress}
	ri := runs.Info{Config: cfg}
	evs := map[string]*openqa.QAEval{}
	var realmQA *openqa.QA
	for _, kind := range []string{openqa.RetrieverBM25, openqa.RetrieverICT, openqa.RetrieverREALM} {
		q, ev, err := fineTuneQA(ctx, be, &qf, ri, c, kind, embed, os.Stdout)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		evs[kind] = ev
		if kind == openqa.RetrieverREALM {
			realmQA = q // kept for the summary; the others are freed before the next stage.
		}
		releaseMemory()
	}
	printBaselines(os.Stdout, qf.split, evs)
	return printDemoSummary(ctx, os.Stdout, ev, evs, realmQA, c)
}

// newDemoFlags registers the demo's flags with the pipeline defaults d.
func newDemoFlags(d pipelineFlags) (*flag.FlagSet, *pipelineFlags, *demoQA, *bool) {
	fs := newFlags("demo", "Runs REALM end to end on the embedded CIA World Factbook and prints what it learned:\n"+
		"from a pre-trained BERT (-bert DIR or hub id; scripts/demo.sh fetches all-MiniLM-L6-v2), an ICT warm start\n"+
		"of the retriever, REALM pre-training with an index refreshed in the background, held-out\n"+
		"masked-LM and retrieval figures, then open-QA fine-tuning of the span reader over BM25,\n"+
		"ICT-only and REALM retrieval, compared on the test countries' questions. -from-scratch\n"+
		"trains a small BERT by masked-LM first instead (no download). Leaves the checkpoints in -dir.")
	f, qa := &pipelineFlags{}, &demoQA{}
	f.register(fs, d)
	scratch := fs.Bool("from-scratch", false, "train a small BERT from scratch by masked-LM instead of starting from -bert (the other defaults change with it)")
	fs.IntVar(&qa.steps, "qa-steps", 130, "open-QA fine-tuning steps per retriever (0: skip QA)")
	fs.IntVar(&qa.batch, "qa-batch", 2, "questions per open-QA fine-tuning step")
	fs.Float64Var(&qa.lr, "qa-lr", 3e-4, "peak learning rate of open-QA fine-tuning")
	fs.Float64Var(&qa.retrieverLRScale, "qa-retriever-lr-scale", 0.1, "the dense retrievers' query tower fine-tunes at this multiple of -qa-lr (at the full rate, REALM's diverged)")
	fs.IntVar(&qa.warmup, "qa-warmup", 13, "warm-up steps of open-QA fine-tuning (a tenth of -qa-steps, as in BERT's fine-tuning; 0: ORQA's rule, at least 100 steps or half the run)")
	fs.IntVar(&qa.readerBeam, "reader-beam", 3, "retrieved blocks the reader reads per question")
	fs.StringVar(&qa.spans, "reader-spans", openqa.SpansWholeWord, "the reader's candidate spans: whole_word (the Factbook's answers are whole words) or wordpiece (every span of wordpieces, as ORQA and REALM)")
	fs.IntVar(&qa.readerLen, "reader-len", 128, "the reader's sequence length, [CLS] question [SEP] block [SEP] with the block cut to fit (0: query length + document length; the Factbook's questions have at most 30 wordpieces)")
	fs.IntVar(&qa.testCountries, "test-countries", 12, "the corpus holds the Factbook documents of the first N countries of the QA test split… (0 with -train-countries 0: the first -docs documents)")
	fs.IntVar(&qa.trainCountries, "train-countries", 24, "…and of the first N countries of the QA train split, whose questions fine-tune the reader")
	return fs, f, qa, scratch
}

// releaseMemory runs the garbage collector and returns freed memory to the system between the
// demo's stages: tensors on an XLA device are freed by finalizers, which run only after a
// collection, and the Go collector does not count that memory when it decides to run.
func releaseMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// demoCountries returns the titles of the demo's corpus: the first nTest countries of the
// Factbook QA test split and the first nTrain of its train split.
func demoCountries(nTest, nTrain int) ([]string, error) {
	var titles []string
	for _, s := range []struct {
		split string
		n     int
	}{{"test", nTest}, {"train", nTrain}} {
		cs, err := dataqa.FactbookCountries(s.split)
		if err != nil {
			return nil, err
		}
		if s.n > len(cs) {
			return nil, fmt.Errorf("-%s-countries %d: the %s split asks about %d countries", s.split, s.n, s.split, len(cs))
		}
		titles = append(titles, cs[:s.n]...)
	}
	return titles, nil
}

// printDemoSummary says in words what the run showed, where REALM's figures sit against the
// baselines, and answers a few test questions with the blocks they came from.
func printDemoSummary(ctx context.Context, out io.Writer, ev pretrain.Evaluation, evs map[string]*openqa.QAEval, realmQA *openqa.QA, c *realm.Corpus) error {
	r, ict, bm25 := evs[openqa.RetrieverREALM], evs[openqa.RetrieverICT], evs[openqa.RetrieverBM25]
	at5 := map[string]evaluate.Recall{}
	for kind, e := range evs {
		rec, err := e.RecallHits(5)
		if err != nil {
			return err
		}
		at5[kind] = rec
	}
	vsICT, err := at5[openqa.RetrieverREALM].Compare(at5[openqa.RetrieverICT])
	if err != nil {
		return err
	}
	vsBM25, err := at5[openqa.RetrieverREALM].Compare(at5[openqa.RetrieverBM25])
	if err != nil {
		return err
	}
	n := r.Overall.N
	se := func(v float64) float64 { return evaluate.Recall{Value: v, N: n}.StdErr() }
	w := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
	fmt.Fprintf(w, "\nWhat this run shows\n")
	fmt.Fprintf(w, "%s\n", strings.Repeat("─", 19))
	verb := "helped"
	if ev.AccRetrieval <= ev.AccNull || ev.Utility <= 0 {
		verb = "did not help"
	}
	fmt.Fprintf(w, "• Retrieval %s the language model: on %d held-out masked sentences, masked-token accuracy %.3f with the\n"+
		"  retrieved blocks against %.3f with the null document alone (retrieval utility %+.3f nats per token).\n",
		verb, ev.Sentences, ev.AccRetrieval, ev.AccNull, ev.Utility)
	fmt.Fprintf(w, "• Open QA on %d test questions about countries no fine-tuning question asked about, each retriever with the\n"+
		"  same reader: exact match REALM %.3f ± %.3f, ICT-only %.3f, BM25 %.3f.\n",
		n, r.Overall.EM, se(r.Overall.EM), ict.Overall.EM, bm25.Overall.EM)
	fmt.Fprintf(w, "• An answer was in the top 5 blocks for %.3f of the questions with REALM's retriever, %.3f with ICT-only's and\n"+
		"  %.3f with BM25 (paired over the same questions: REALM − ICT-only %+.3f ± %.3f, REALM − BM25 %+.3f ± %.3f).\n",
		at5[openqa.RetrieverREALM].Value, at5[openqa.RetrieverICT].Value, at5[openqa.RetrieverBM25].Value,
		vsICT.Value, vsICT.StdErr, vsBM25.Value, vsBM25.StdErr)
	best, bestEM := "", -1.0
	for _, kind := range []string{openqa.RetrieverBM25, openqa.RetrieverICT, openqa.RetrieverREALM} {
		if e := evs[kind].Overall.EM; e > bestEM {
			best, bestEM = kind, e
		}
	}
	fmt.Fprintf(w, "• The best retriever + reader here is %s (%.3f exact match); one standard error of these figures is about %.3f.\n",
		strings.ToUpper(best), bestEM, se(0.5))
	if err := w.Flush(); err != nil {
		return err
	}
	// A few answered test questions (the first right ones of different relations) and one miss.
	var picked []openqa.QAPrediction
	relations := map[string]bool{}
	for _, p := range r.Predictions {
		if p.Correct && !relations[p.Relation] && len(picked) < 3 {
			relations[p.Relation] = true
			picked = append(picked, p)
		}
	}
	if i := slices.IndexFunc(r.Predictions, func(p openqa.QAPrediction) bool { return !p.Correct }); i >= 0 {
		picked = append(picked, r.Predictions[i])
	}
	fmt.Fprintf(out, "\nTest questions answered by REALM's retriever + reader, with the blocks it read:\n")
	for _, p := range picked {
		a, err := realmQA.Answer(ctx, p.Question)
		if err != nil {
			return err
		}
		mark := "right"
		if !dataqa.ExactMatch(a.Text, p.Answers) {
			mark = "wrong"
		}
		fmt.Fprintf(out, "\nQ: %s\nA: %s   (%s; gold: %s; p=%.2f, from %q)\n", a.Question, a.Text, mark, strings.Join(p.Answers, " | "), a.Prob, a.Title)
		for i, b := range a.Blocks {
			fmt.Fprintf(out, "   %d. p(z|x)=%.3f  %s: %s\n", i+1, b.Prob, b.Title, blockHead(c.Blocks[b.ID].Body, 70))
		}
	}
	return nil
}

// blockHead returns the first n runes of a block body on one line, with an ellipsis when cut.
func blockHead(body string, n int) string {
	s := strings.Join(strings.Fields(body), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
