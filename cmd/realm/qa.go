package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/corpus"
	dataqa "github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/internal/atomicfile"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/bm25"
	"github.com/realm-go/realm/realm/hfrealm"
	"github.com/realm-go/realm/realm/openqa"
	"github.com/realm-go/realm/realm/pretrain"
	"github.com/realm-go/realm/realm/runs"
	"github.com/realm-go/realm/realm/training"
)

// questions reads a QA split: that of -qa (and -qa-test) when given, else the Factbook's,
// keeping the questions about countries in the corpus.
func (f *qaFlags) questions(split string, c *realm.Corpus) ([]dataqa.Example, error) {
	if f.qa != "" {
		path, keep := f.qa, func(ex dataqa.Example) bool { return dataqa.HashSplit(ex.Question) == split }
		if f.qaTest != "" {
			keep = func(dataqa.Example) bool { return true }
			if split != "train" {
				path = f.qaTest
			}
		}
		exs, err := readQA(path, keep)
		if err == nil && len(exs) == 0 {
			err = fmt.Errorf("no question of the %s split", split)
		}
		return exs, err
	}
	titles := map[string]bool{}
	for _, b := range c.Blocks {
		titles[b.Title] = true
	}
	var out []dataqa.Example
	for ex, err := range dataqa.Factbook(split) {
		if err != nil {
			return nil, err
		}
		if ex.Country == "" || titles[ex.Country] {
			out = append(out, ex)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s question is about a country of this corpus", split)
	}
	return out, nil
}

// readQA reads the questions of path (NQ-open JSONL or Parquet) that keep accepts.
func readQA(path string, keep func(dataqa.Example) bool) ([]dataqa.Example, error) {
	var out []dataqa.Example
	for ex, err := range dataqa.Open(path, corpus.ReadOptions{}) {
		if err != nil {
			return nil, fmt.Errorf("-qa %s: %w", path, err)
		}
		if keep(ex) {
			out = append(out, ex)
		}
	}
	return out, nil
}

// qaFlags are the flags of finetune, eval and ask.
type qaFlags struct {
	dir, retriever, split string
	steps, batch, warmup  int
	lr, retrieverLRScale  float64
	readerBeam, beam      int
	readerLen             int
	spans                 string
	qa, qaTest            string // users' questions instead of the Factbook's (registerQA).
	seed                  uint64
	progress              bool
}

// registerQA adds -qa and -qa-test, the questions of finetune and eval.
func (f *qaFlags) registerQA(fs *flag.FlagSet) {
	fs.StringVar(&f.qa, "qa", "", "questions and answers instead of the Factbook's, NQ-open JSONL ({\"question\", \"answer\": [...]}) or Parquet;\n"+
		"split into train, dev and test by a hash of each question (qa.HashSplit) unless -qa-test is given")
	fs.StringVar(&f.qaTest, "qa-test", "", "with -qa: the questions of the dev and test splits, -qa then all training")
}

func (f *qaFlags) register(fs *flag.FlagSet, withTraining bool) {
	fs.StringVar(&f.dir, "dir", "out/demo", "pre-training run directory (from 'realm pretrain' or 'realm demo')")
	fs.StringVar(&f.retriever, "retriever", "realm", "retriever: realm (REALM pre-trained), ict (ICT only, ORQA), bm25, or all")
	fs.StringVar(&f.split, "split", "test", "QA split to evaluate: train, dev or test (the Factbook's, or of -qa)")
	fs.IntVar(&f.readerBeam, "reader-beam", 5, "retrieved blocks the reader reads per question")
	fs.IntVar(&f.readerLen, "reader-len", 0, "the reader's sequence length, [CLS] question [SEP] block [SEP] with the block cut to fit (0: query length + document length)")
	if withTraining {
		fs.StringVar(&f.spans, "reader-spans", openqa.SpansWordpiece, "the reader's candidate spans: wordpiece (every span of wordpieces, as ORQA and REALM) or whole_word (spans of whole words only); eval and ask use the fine-tuned run's")
		fs.IntVar(&f.steps, "steps", 300, "fine-tuning steps")
		fs.IntVar(&f.batch, "batch", 4, "questions per fine-tuning step")
		fs.Float64Var(&f.lr, "lr", 1e-4, "peak learning rate")
		fs.Float64Var(&f.retrieverLRScale, "retriever-lr-scale", 1, "the dense retrievers' query tower trains at this multiple of -lr (the reader at -lr itself)")
		fs.IntVar(&f.warmup, "warmup", 0, "warm-up steps of the learning rate (0: ORQA's rule, min(10000, max(100, steps/10)), at most half the run)")
		fs.IntVar(&f.beam, "retriever-beam", 100, "top-k of the retriever's early-update loss (REALM used 5000)")
		fs.Uint64Var(&f.seed, "seed", 1, "seed of the data order")
		fs.BoolVar(&f.progress, "progress", true, "show a progress bar")
	}
}

// readerConfig is the reader's configuration from the flags.
func (f *qaFlags) readerConfig() openqa.ReaderConfig {
	rc := openqa.DefaultReaderConfig()
	rc.ReaderBeam, rc.SeqLen, rc.Spans = f.readerBeam, f.readerLen, f.spans
	return rc
}

// validReaderSpans checks a -reader-spans flag (demo, finetune).
func validReaderSpans(spans string) error {
	if spans != openqa.SpansWordpiece && spans != openqa.SpansWholeWord {
		return fmt.Errorf("-reader-spans %q is not %q or %q", spans, openqa.SpansWordpiece, openqa.SpansWholeWord)
	}
	return nil
}

func (f *qaFlags) retrievers() ([]string, error) {
	if f.retriever == "all" {
		return []string{openqa.RetrieverBM25, openqa.RetrieverICT, openqa.RetrieverREALM}, nil
	}
	switch f.retriever {
	case openqa.RetrieverBM25, openqa.RetrieverICT, openqa.RetrieverREALM:
		return []string{f.retriever}, nil
	}
	return nil, fmt.Errorf("-retriever %q: want realm, ict, bm25 or all", f.retriever)
}

func (f *qaFlags) validSplit() error {
	if f.qaTest != "" && f.qa == "" {
		return fmt.Errorf("-qa-test needs -qa, the training questions")
	}
	for _, s := range dataqa.Splits {
		if s == f.split {
			return nil
		}
	}
	return fmt.Errorf("-split %q: want one of %v", f.split, dataqa.Splits)
}

// docEmbeddings returns the corpus embeddings of a pre-trained store's document tower, [N, d]
// by block id, when they are known already (nil: BuildQA embeds the corpus).
type docEmbeddings func(ctx context.Context, store *model.Store) ([]float32, error)

// cachedEmbeddings reuses the corpus embeddings a pre-training run computed (cache: its
// Pretrainer's Embeddings, whose initial index is the ICT retriever's and whose last refresh is
// the final model's), computing those it lacks. It holds the cache, not the Pretrainer, so the
// pre-training model can be freed.
func cachedEmbeddings(be compute.Backend, cfg realm.Config, c *realm.Corpus, cache *pretrain.EmbeddingCache) docEmbeddings {
	return func(ctx context.Context, store *model.Store) ([]float32, error) {
		s, err := realm.TakeSnapshot(store)
		if err != nil {
			return nil, err
		}
		vecs, ids, err := pretrain.CorpusEmbeddings(ctx, be, cfg, c, s, 64, cache)
		if err != nil {
			return nil, err
		}
		d := len(vecs) / max(len(ids), 1)
		byID := make([]float32, len(vecs))
		for i, id := range ids {
			copy(byID[int(id)*d:int(id+1)*d], vecs[i*d:(i+1)*d])
		}
		return byID, nil
	}
}

// fineTuneQA fine-tunes one retriever's QA model and evaluates it. embed, when not nil, gives
// the dense retrievers' corpus embeddings.
func fineTuneQA(ctx context.Context, be compute.Backend, f *qaFlags, ri runs.Info, c *realm.Corpus, kind string, embed docEmbeddings, out io.Writer) (*openqa.QA, *openqa.QAEval, error) {
	store, err := runs.PretrainedStore(f.dir, kind)
	if err != nil {
		return nil, nil, err
	}
	rc := f.readerConfig()
	rc.RetrieverBeam = min(f.beam, c.Len())
	if err := rc.Validate(); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(runs.QADir(f.dir, kind), 0o755); err != nil {
		return nil, nil, err
	}
	data, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(runs.QADir(f.dir, kind), runs.ReaderFile), append(data, '\n')); err != nil {
		return nil, nil, err
	}
	var q *openqa.QA
	if embed != nil && kind != openqa.RetrieverBM25 {
		vecs, err := embed(ctx, store)
		if err != nil {
			return nil, nil, err
		}
		q, err = openqa.BuildDenseQA(be, store, ri.Config, rc, c, kind, vecs)
		if err != nil {
			return nil, nil, err
		}
	} else if q, err = openqa.BuildQA(ctx, be, store, ri.Config, rc, c, kind, bm25.DefaultParams()); err != nil {
		return nil, nil, err
	}
	train, err := f.questions("train", c)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(out, "fine-tuning %s + reader on %d questions, %d steps\n", kind, len(train), f.steps)
	run := training.RunConfig{Dir: runs.QADir(f.dir, kind), Steps: f.steps, BatchSize: f.batch, LR: f.lr, WarmupSteps: f.warmup, Seed: f.seed,
		Attach: progressBar(f.progress), Log: out, LogEvery: max(1, f.steps/10)}
	if f.retrieverLRScale != 1 {
		run.LRScale = map[string]float64{ri.Config.QueryTowerScope(): f.retrieverLRScale}
	}
	if err := q.FineTune(ctx, train, run, &training.History{}); err != nil {
		return nil, nil, err
	}
	ev, err := evaluateQA(ctx, q, f, c, out)
	return q, ev, err
}

func evaluateQA(ctx context.Context, q *openqa.QA, f *qaFlags, c *realm.Corpus, out io.Writer) (*openqa.QAEval, error) {
	exs, err := f.questions(f.split, c)
	if err != nil {
		return nil, err
	}
	ev, err := q.Evaluate(ctx, exs, openqa.QAEvalOptions{RecallAt: []int{1, 5, 20, 100}, KeepPredictions: true})
	if err != nil {
		return nil, err
	}
	data, err := ev.JSON()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(runs.QADir(f.dir, q.Retriever.Name()), "eval-"+f.split+".json"), data); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "\n%s on the %s split:\n", q.Retriever.Name(), f.split)
	if err := ev.WriteTable(out); err != nil {
		return nil, err
	}
	return ev, nil
}

func printBaselines(out io.Writer, split string, evs map[string]*openqa.QAEval) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\nOpen-QA on the Factbook %s split\t\t\t\t\n", split)
	fmt.Fprintf(w, "retriever + reader\tquestions\texact match\trecall@1\trecall@5\n")
	for _, kind := range []string{openqa.RetrieverBM25, openqa.RetrieverICT, openqa.RetrieverREALM} {
		ev, ok := evs[kind]
		if !ok {
			continue
		}
		r := map[int]float64{}
		for _, x := range ev.Overall.Recall {
			r[x.K] = x.Recall
		}
		fmt.Fprintf(w, "%s\t%d\t%.3f\t%.3f\t%.3f\n", strings.ToUpper(kind), ev.Overall.N, ev.Overall.EM, r[1], r[5])
	}
	w.Flush()
}

// qaRun is what finetune, eval and ask work on: the retrievers asked for, the pre-training run
// (its configuration and corpus) and the backend.
type qaRun struct {
	kinds []string
	run   *runs.Run
	be    compute.Backend
}

// open checks the flags the QA commands share and opens the run directory.
func (f *qaFlags) open() (*qaRun, error) {
	kinds, err := f.retrievers()
	if err != nil {
		return nil, err
	}
	if err := f.validSplit(); err != nil {
		return nil, err
	}
	run, err := runs.Open(f.dir)
	if err != nil {
		return nil, err
	}
	be, err := backend.New()
	if err != nil {
		return nil, err
	}
	return &qaRun{kinds: kinds, run: run, be: be}, nil
}

func runFinetune(ctx context.Context, args []string) error {
	fs := newFlags("finetune", "Fine-tunes open-domain QA (reader + query tower, document index fixed) on the Factbook QA train\n"+
		"split from a pre-training run, for one retriever or all three (BM25, ICT-only, REALM), then\n"+
		"evaluates exact match and retrieval recall on -split and prints the comparison.")
	var f qaFlags
	f.register(fs, true)
	f.registerQA(fs)
	realmDirs := fs.String("realm", "", "start from released REALM checkpoints instead of a pre-training run: comma-separated Hugging Face REALM\n"+
		"directories or hub ids, a retriever and an encoder or reader (google/realm-cc-news-pretrained-embedder,google/realm-cc-news-pretrained-encoder);\n"+
		"-dir (new) then holds them as a run of no pre-training step over the Factbook's first -docs documents or -corpus")
	maxDocs := fs.Int("docs", 300, "with -realm: the first N documents of the corpus (0: all)")
	corpusPath := fs.String("corpus", "", "with -realm: the knowledge corpus as JSONL {id,title,text} or Parquet (Hugging Face Wikipedia schema); empty: the embedded Factbook")
	queryLen := fs.Int("query-len", 64, "with -realm: wordpieces of [CLS] question [SEP]")
	docLen := fs.Int("doc-len", 288, "with -realm: wordpieces of a block, [CLS] title [SEP] body [SEP]")
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(f.dir, runs.InfoFile)); err == nil || *realmDirs != "" {
		release, err := training.LockDir(f.dir) // one run at a time in a directory.
		if err != nil {
			return err
		}
		defer release()
	}
	if *realmDirs != "" {
		if f.retriever != openqa.RetrieverREALM && f.retriever != openqa.RetrieverBM25 {
			return fmt.Errorf("-realm: -retriever %s: a released REALM has no ICT-only retriever; use realm or bm25", f.retriever)
		}
		if err := startFromREALM(ctx, f.dir, *realmDirs, *corpusPath, *maxDocs, *queryLen, *docLen, f.seed); err != nil {
			return err
		}
	}
	if f.steps <= 0 || f.batch <= 0 || f.lr <= 0 || f.readerBeam <= 0 || f.beam <= 0 {
		return fmt.Errorf("-steps, -batch, -lr, -reader-beam and -retriever-beam must be > 0")
	}
	if err := validReaderSpans(f.spans); err != nil {
		return err
	}
	r, err := f.open()
	if err != nil {
		return err
	}
	evs := map[string]*openqa.QAEval{}
	for _, kind := range r.kinds {
		if _, evs[kind], err = fineTuneQA(ctx, r.be, &f, r.run.Info, r.run.Corpus, kind, nil, os.Stdout); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
	printBaselines(os.Stdout, f.split, evs)
	return nil
}

// startFromREALM makes dir a run that starts from the released REALM checkpoints dirs (a
// comma-separated list, hub ids resolved): run.json and, in realm/, a checkpoint of no step.
func startFromREALM(ctx context.Context, dir, dirs, corpusPath string, maxDocs, queryLen, docLen int, seed uint64) error {
	if _, err := os.Stat(filepath.Join(dir, runs.InfoFile)); err == nil {
		return fmt.Errorf("-realm: -dir %s already holds a run; give a new directory", dir)
	}
	local, pt, err := loadREALM(ctx, dirs)
	if err != nil {
		return err
	}
	cfg := pt.Config
	cfg.QueryLen, cfg.DocLen = queryLen, docLen
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("-realm: -query-len %d, -doc-len %d: %w", queryLen, docLen, err)
	}
	if corpusPath != "" {
		if _, err := os.Stat(corpusPath); err != nil {
			return fmt.Errorf("-corpus: %w", err)
		}
	}
	if _, err := (training.Checkpoints{Dir: filepath.Join(dir, "realm")}).Save(pt.Store, training.TrainState{Task: "realm", Seed: seed}); err != nil {
		return err
	}
	return runs.WriteInfo(dir, runs.Info{Config: cfg, MaxDocs: maxDocs, CorpusPath: corpusPath, REALMDirs: local, TokenizerDir: pt.TokenizerDir, Seed: seed})
}

func runEval(ctx context.Context, args []string) error {
	fs := newFlags("eval", "Evaluates fine-tuned QA models of a run (exact match, recall@k, per relation) on a Factbook split,\n"+
		"or a Hugging Face RealmForOpenQA model on a QA file:\n"+
		"  realm eval -model DIR -qa nq-open-test.jsonl")
	var f qaFlags
	f.register(fs, false)
	f.registerQA(fs)
	modelDir := fs.String("model", "", "a Hugging Face RealmForOpenQA directory or hub id to evaluate instead of -dir's fine-tuned models (on all of -qa)")
	records := fs.String("block-records", "", "with -model: the RealmRetriever's block_records.npy (default: the one in -model's directory)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *modelDir != "" {
		if f.qa == "" {
			return fmt.Errorf("-model needs -qa FILE, the questions to evaluate on")
		}
		return evalOpenQA(ctx, *modelDir, *records, f.qa, os.Stdout)
	}
	r, err := f.open()
	if err != nil {
		return err
	}
	evs := map[string]*openqa.QAEval{}
	for _, kind := range r.kinds {
		q, err := r.run.QA(r.be, kind, f.readerConfig())
		if err != nil {
			return err
		}
		if evs[kind], err = evaluateQA(ctx, q, &f, r.run.Corpus, os.Stdout); err != nil {
			return err
		}
	}
	printBaselines(os.Stdout, f.split, evs)
	return nil
}

func runAsk(ctx context.Context, args []string) error {
	fs := newFlags("ask", "Answers questions given as arguments with a fine-tuned QA model:\n"+
		"  realm ask -dir out/demo \"What is the capital of Aruba?\"")
	var f qaFlags
	f.register(fs, false)
	modelDir := fs.String("model", "", "a Hugging Face RealmForOpenQA directory or hub id (google/realm-orqa-nq-openqa, downloaded to the Hugging Face cache) to answer with instead of -dir's fine-tuned model")
	records := fs.String("block-records", "", "with -model: the RealmRetriever's block_records.npy (default: the one in -model's directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("no question given (see -h)")
	}
	if *modelDir != "" {
		return askOpenQA(ctx, *modelDir, *records, fs.Args())
	}
	if f.retriever == "all" {
		return fmt.Errorf("-retriever all: ask uses one retriever")
	}
	r, err := f.open()
	if err != nil {
		return err
	}
	q, err := r.run.QA(r.be, r.kinds[0], f.readerConfig())
	if err != nil {
		return err
	}
	for _, question := range fs.Args() {
		a, err := q.Answer(ctx, question)
		if err != nil {
			return err
		}
		printAnswer(os.Stdout, a)
	}
	return nil
}

// openHFQA opens -model, a Hugging Face RealmForOpenQA directory or hub id (resolveModel), with
// the block records of records (default: block_records.npy in the model's directory).
func openHFQA(ctx context.Context, modelDir, records string) (*openqa.QA, string, error) {
	dir, err := resolveModel(ctx, modelDir)
	if err != nil {
		return nil, "", err
	}
	be, err := backend.New()
	if err != nil {
		return nil, "", err
	}
	q, err := hfrealm.OpenQA(be, dir, cmp.Or(records, filepath.Join(dir, hfrealm.BlockRecordsFile)), 0)
	return q, dir, err
}

// evalOpenQA evaluates a Hugging Face RealmForOpenQA model on the questions of qaPath: exact
// match (the official normalisation) and recall@k of its retriever.
func evalOpenQA(ctx context.Context, modelDir, records, qaPath string, out io.Writer) error {
	questions, err := readQA(qaPath, func(dataqa.Example) bool { return true })
	if err != nil {
		return err
	}
	q, dir, err := openHFQA(ctx, modelDir, records)
	if err != nil {
		return err
	}
	ev, err := q.Evaluate(ctx, questions, openqa.QAEvalOptions{RecallAt: []int{1, q.Reader.ReaderBeam}})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s on %s:\n", dir, qaPath)
	return ev.WriteTable(out)
}

// askOpenQA answers questions with a Hugging Face RealmForOpenQA model and its block records.
func askOpenQA(ctx context.Context, modelDir, records string, questions []string) error {
	q, _, err := openHFQA(ctx, modelDir, records)
	if err != nil {
		return err
	}
	for _, question := range questions {
		a, err := q.Answer(ctx, question)
		if err != nil {
			return err
		}
		printAnswer(os.Stdout, a)
	}
	return nil
}

func printAnswer(out io.Writer, a openqa.Answer) {
	fmt.Fprintf(out, "Q: %s\nA: %s   (p=%.2f, from %q, block %d)\n", a.Question, a.Text, a.Prob, a.Title, a.BlockID)
	for i, b := range a.Blocks {
		fmt.Fprintf(out, "   %d. p(z|x)=%.3f  %s (block %d)\n", i+1, b.Prob, b.Title, b.ID)
	}
}
