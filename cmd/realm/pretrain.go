package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/evaluate"
	"github.com/realm-go/realm/realm/pretrain"
	"github.com/realm-go/realm/realm/runs"
	"github.com/realm-go/realm/realm/training"
)

// pipelineFlags are the flags shared by demo and pretrain.
type pipelineFlags struct {
	dir, bertDir, corpusPath, pooling, realmDirs   string
	pretrained                                     *pretrain.Pretrained // -realm's checkpoints, loaded by resolveBERT.
	mlmSteps, ictSteps, realmSteps, refresh, batch int
	ictBatch, mlmBatch, queryLen, docLen, topK     int
	mlmLR, ictLR, realmLR, heldOut, ictMask        float64
	seed                                           uint64
	checkpointEvery, evalSentences, maxDocs        int
	retrieverWarmup, microBatches                  int
	titles                                         []string // keep only these documents' titles (nil: all).
	salient                                        spans.Kinds
	progress, ictHard                              bool
	timeout                                        time.Duration
}

func (f *pipelineFlags) register(fs *flag.FlagSet, d pipelineFlags) {
	fs.StringVar(&f.dir, "dir", d.dir, "run directory: checkpoints of each phase (an interrupted run resumes from it)")
	fs.StringVar(&f.bertDir, "bert", "", "Hugging Face BERT to start from: a directory (config.json, model.safetensors, tokenizer) or a hub model id, downloaded to the Hugging Face cache; empty: train from scratch")
	fs.StringVar(&f.realmDirs, "realm", "", "released REALM checkpoints to continue from, comma-separated Hugging Face REALM directories or hub ids: a retriever and a\n"+
		"knowledge-augmented encoder, e.g. google/realm-cc-news-pretrained-embedder,google/realm-cc-news-pretrained-encoder (skips MLM and ICT; not with -bert)")
	fs.StringVar(&f.corpusPath, "corpus", "", "knowledge corpus as JSONL {id,title,text} (.jsonl or .jsonl.gz) or Parquet (Hugging Face Wikipedia schema: id, title, text); empty: the embedded Factbook")
	fs.IntVar(&f.maxDocs, "docs", d.maxDocs, "use only the first N documents of the corpus (the Factbook has 10 per country); 0: all")
	fs.IntVar(&f.mlmSteps, "mlm-steps", d.mlmSteps, "masked-LM steps of the from-scratch encoder (ignored with -bert)")
	fs.IntVar(&f.ictSteps, "ict-steps", d.ictSteps, "ICT warm-start steps of the retriever (0: none)")
	fs.IntVar(&f.realmSteps, "steps", d.realmSteps, "REALM pre-training steps")
	fs.IntVar(&f.refresh, "refresh-every", d.refresh, "steps between index refreshes (the snapshot θ' handed to the background builder)")
	fs.IntVar(&f.batch, "batch", d.batch, "REALM batch size (masked sentences per step)")
	fs.IntVar(&f.ictBatch, "ict-batch", d.ictBatch, "ICT batch size (in-batch negatives)")
	fs.IntVar(&f.mlmBatch, "mlm-batch", d.mlmBatch, "MLM batch size")
	fs.IntVar(&f.queryLen, "query-len", d.queryLen, "wordpieces of [CLS] x [SEP]")
	fs.IntVar(&f.docLen, "doc-len", d.docLen, "wordpieces of a block, [CLS] title [SEP] body [SEP] (blocks are packed to this size)")
	fs.IntVar(&f.topK, "k", d.topK, "candidates per sentence, the null document included")
	fs.StringVar(&f.pooling, "retriever-pooling", cmp.Or(d.pooling, realm.PoolingPooler), "what the retriever projects to d: pooler (BERT's pooled output, as REALM) or cls (the raw [CLS] state, DPR style)")
	fs.Float64Var(&f.mlmLR, "mlm-lr", d.mlmLR, "peak learning rate of the MLM phase")
	fs.Float64Var(&f.ictLR, "ict-lr", d.ictLR, "peak learning rate of the ICT phase")
	fs.Float64Var(&f.realmLR, "lr", d.realmLR, "peak learning rate of REALM pre-training")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the data order, masking and initialisation")
	fs.IntVar(&f.checkpointEvery, "checkpoint-every", d.checkpointEvery, "steps between checkpoints (0: end of each phase only)")
	fs.BoolVar(&f.ictHard, "ict-hard-negatives", false, "fill half of each ICT batch with look-alike blocks of other titles (nearest by BM25), as DPR's hard negatives")
	fs.Float64Var(&f.ictMask, "ict-mask-queries", 0, "share of ICT queries masked as REALM masks its sentences (-salient spans), in [0, 1]; 0 keeps ORQA's whole sentences")
	fs.BoolVar(&f.progress, "progress", true, "show a progress bar")
	fs.IntVar(&f.evalSentences, "eval-sentences", d.evalSentences, "held-out sentences to evaluate on (0: all)")
	fs.IntVar(&f.microBatches, "micro-batches", d.microBatches, "split each REALM step's batch into this many parts whose gradients are accumulated (the same update with 1/N of the activation memory; -batch must be a multiple)")
	fs.IntVar(&f.retrieverWarmup, "retriever-warmup", d.retrieverWarmup, "first REALM steps in which the retriever is frozen while the encoder (and a fresh MLM head) learns to read documents")
	fs.Float64Var(&f.heldOut, "held-out", d.heldOut, "fraction of the sentences kept out of REALM pre-training for evaluation (chosen by a hash of block and sentence)")
	fs.TextVar(&f.salient, "salient", d.salient, "salient span kinds REALM pre-training masks: all, or a comma-separated list of entity, date, quantity")
	fs.DurationVar(&f.timeout, "timeout", d.timeout, "give up (with a goroutine dump) after this long; 0: never")
}

func (f *pipelineFlags) validate() error {
	for name, v := range map[string]int{"mlm-steps": f.mlmSteps, "ict-steps": f.ictSteps, "refresh-every": f.refresh - 1,
		"batch": f.batch - 1, "docs": f.maxDocs, "ict-batch": f.ictBatch - 1, "mlm-batch": f.mlmBatch - 1, "checkpoint-every": f.checkpointEvery, "steps": f.realmSteps - 1,
		"retriever-warmup": f.retrieverWarmup, "micro-batches": f.microBatches} {
		if v < 0 {
			return fmt.Errorf("-%s is out of range", name)
		}
	}
	if f.microBatches > 1 && f.batch%f.microBatches != 0 {
		return fmt.Errorf("-batch %d is not a multiple of -micro-batches %d", f.batch, f.microBatches)
	}
	if !(f.heldOut >= 0 && f.heldOut < 1) {
		return fmt.Errorf("-held-out must be in [0, 1), got %v", f.heldOut)
	}
	if f.pooling != realm.PoolingPooler && f.pooling != realm.PoolingCLS {
		return fmt.Errorf("-retriever-pooling %q is not %q or %q", f.pooling, realm.PoolingPooler, realm.PoolingCLS)
	}
	if f.topK < 2 {
		return fmt.Errorf("-k must be ≥ 2 (the null document and at least one retrieved), got %d", f.topK)
	}
	if f.corpusPath != "" {
		if _, err := os.Stat(f.corpusPath); err != nil {
			return fmt.Errorf("-corpus: %w", err)
		}
	}
	if f.bertDir != "" && f.realmDirs != "" {
		return fmt.Errorf("-bert and -realm: start from a BERT or from a pre-trained REALM, not both")
	}
	if f.bertDir != "" && !bert.IsHubID(f.bertDir) {
		if _, err := os.Stat(filepath.Join(f.bertDir, "config.json")); err != nil {
			return fmt.Errorf("-bert %s: not a Hugging Face BERT directory: %w", f.bertDir, err)
		}
	}
	return nil
}

// resolveBERT turns a -bert hub id into the local directory it is downloaded to (bert.Resolve),
// and loads -realm's checkpoints.
func (f *pipelineFlags) resolveBERT(ctx context.Context) error {
	if f.realmDirs != "" {
		dirs, p, err := loadREALM(ctx, f.realmDirs)
		if err != nil {
			return err
		}
		f.pretrained, f.realmDirs = p, strings.Join(dirs, ",")
	}
	if f.bertDir == "" {
		return nil
	}
	dir, err := bert.Resolve(ctx, f.bertDir)
	if err != nil {
		return fmt.Errorf("-bert: %w", err)
	}
	f.bertDir = dir
	return nil
}

func (f *pipelineFlags) config(log io.Writer) pretrain.PipelineConfig {
	m := realm.DefaultConfig()
	m.QueryLen, m.DocLen, m.TopK, m.RetrieverPooling = f.queryLen, f.docLen, f.topK, f.pooling
	run := func(steps, batch int, lr float64) training.RunConfig {
		return training.RunConfig{Steps: steps, BatchSize: batch, LR: lr, Seed: f.seed, CheckpointEvery: f.checkpointEvery,
			Attach: progressBar(f.progress), Log: log, LogEvery: max(1, steps/10)}
	}
	pc := pretrain.PipelineConfig{Model: m, Dir: f.dir, BERTDir: f.bertDir, Seed: int64(f.seed), Log: log, MaxDocs: f.maxDocs,
		MLM: run(f.mlmSteps, f.mlmBatch, f.mlmLR), ICT: run(f.ictSteps, f.ictBatch, f.ictLR),
		REALM: pretrain.PretrainConfig{RunConfig: run(f.realmSteps, f.batch, f.realmLR), RefreshEvery: f.refresh, EmbedBatch: 64, HeldOut: f.heldOut, RetrieverWarmup: f.retrieverWarmup}}
	pc.SalientKinds, pc.Titles, pc.Pretrained = f.salient, f.titles, f.pretrained
	pc.REALM.MicroBatches = f.microBatches
	pc.ICTOptions.HardNegatives = f.ictHard
	pc.ICTOptions.MaskQueries = f.ictMask
	if f.corpusPath != "" {
		path := f.corpusPath
		pc.Docs = func() iter.Seq2[corpus.Document, error] { return corpus.Open(path, corpus.ReadOptions{}) }
	}
	return pc
}

// pretrainDefaults are sized for the embedded Factbook on a 2-core machine.
var pretrainDefaults = pipelineFlags{dir: "out/pretrain", mlmSteps: 2000, ictSteps: 1000, realmSteps: 1000, refresh: 100,
	batch: 8, ictBatch: 32, mlmBatch: 16, queryLen: 64, docLen: 128, topK: 8, mlmLR: 5e-4, ictLR: 1e-4, realmLR: 3e-5,
	checkpointEvery: 200, evalSentences: 1000, heldOut: 0.02, salient: spans.AllKinds, timeout: 0}

func runPretrain(ctx context.Context, args []string) error {
	fs := newFlags("pretrain", "Pre-trains REALM on a corpus (default: the embedded Factbook): the encoder by masked-LM from scratch\n"+
		"or from a Hugging Face BERT (-bert), the retriever by ICT, then REALM pre-training with an index\n"+
		"refreshed in the background; evaluates on held-out sentences and writes eval.json to -dir.")
	var f pipelineFlags
	f.register(fs, pretrainDefaults)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	if err := f.resolveBERT(ctx); err != nil {
		return err
	}
	defer watchdog(f.timeout)()
	_, _, err := pretrainAndEvaluate(ctx, &f, os.Stdout)
	return err
}

// info is what run.json records of a run with model configuration cfg.
func (f *pipelineFlags) info(cfg realm.Config) runs.Info {
	ri := runs.Info{Config: cfg, MaxDocs: f.maxDocs, Titles: f.titles, CorpusPath: f.corpusPath, BERTDir: f.bertDir, Seed: f.seed}
	if f.pretrained != nil {
		ri.REALMDirs, ri.TokenizerDir = strings.Split(f.realmDirs, ","), f.pretrained.TokenizerDir
	}
	return ri
}

// pretrainAndEvaluate runs the pipeline of f, evaluates it on held-out sentences, prints the
// evaluation and writes it to eval.json in the run directory.
func pretrainAndEvaluate(ctx context.Context, f *pipelineFlags, out io.Writer) (*pretrain.PipelineResult, pretrain.Evaluation, error) {
	var ev pretrain.Evaluation
	be, err := backend.New()
	if err != nil {
		return nil, ev, err
	}
	pc := f.config(out)
	if f.dir != "" {
		release, err := training.LockDir(f.dir) // one run at a time in a directory.
		if err != nil {
			return nil, ev, err
		}
		defer release()
		// A new run records itself at once (an interrupted one can still be evaluated); an
		// existing run's run.json is rewritten only once the pipeline has accepted the flags.
		if _, err := os.Stat(filepath.Join(f.dir, runs.InfoFile)); errors.Is(err, fs.ErrNotExist) {
			if err := runs.WriteInfo(f.dir, f.info(pc.Model)); err != nil {
				return nil, ev, err
			}
		}
	}
	res, err := pretrain.RunPipeline(ctx, be, pc)
	if err == nil && f.dir != "" {
		err = runs.WriteInfo(f.dir, f.info(res.Config))
	}
	if err != nil {
		return nil, ev, err
	}
	p := res.Pretrainer
	defer p.Close()
	if err := p.Refresher.WaitIdle(ctx); err != nil {
		return nil, ev, err
	}
	held := p.Eval
	if f.evalSentences > 0 && len(held) > f.evalSentences {
		held = held[:f.evalSentences]
	}
	fmt.Fprintf(out, "evaluating on %d held-out sentences…\n", len(held))
	if ev, err = pretrain.EvaluateHeldOut(ctx, res, held); err != nil {
		return nil, ev, err
	}
	ev.SalientKinds = pc.SalientKinds.String()
	if _, trained := p.History.Last(); !trained {
		// A finished run restored only to be evaluated again: its training figures are those
		// of the earlier evaluation, not zeros.
		if prev, err := runs.ReadEvaluation(f.dir); err == nil {
			ev.Refreshes, ev.MeanOverlap, ev.TrainSeconds, ev.StepsPerSec = prev.Refreshes, prev.MeanOverlap, prev.TrainSeconds, prev.StepsPerSec
		}
	}
	printEvaluation(out, ev)
	if f.dir != "" {
		if err := runs.WriteEvaluation(f.dir, ev); err != nil {
			return nil, ev, err
		}
	}
	return res, ev, nil
}

func printEvaluation(out io.Writer, ev pretrain.Evaluation) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\nHeld-out masked sentences (%d)\t\n", ev.Sentences)
	fmt.Fprintf(w, "%s\t\n", strings.Repeat("─", 44))
	fmt.Fprintf(w, "masked-token accuracy, with retrieval\t%.3f\n", ev.AccRetrieval)
	fmt.Fprintf(w, "masked-token accuracy, null document only\t%.3f\n", ev.AccNull)
	fmt.Fprintf(w, "retrieval utility (nats/token)\t%+.3f\n", ev.Utility)
	// ± one binomial standard error over the sentences counted.
	se := func(v float64, n int) float64 { return evaluate.Recall{Value: v, N: n}.StdErr() }
	for _, part := range []struct {
		what string
		row  pretrain.RecallRow
	}{
		{fmt.Sprintf("same-country recall@%d", ev.TopK), pretrain.RecallRow{Sentences: ev.Sentences, REALM: ev.RecallREALM, ICT: ev.RecallICT, BM25: ev.RecallBM25, Random: ev.RecallRandom}},
		{"  … country named", ev.SubjectNamed},
		{"  … country not named", ev.SubjectUnnamed},
	} {
		if r := part.row; r.Sentences > 0 {
			fmt.Fprintf(w, "%s (%d sentences)\tREALM %.3f ± %.3f, ICT-only %.3f ± %.3f, BM25 %.3f, random %.3f\n", part.what, r.Sentences,
				r.REALM, se(r.REALM, r.Sentences), r.ICT, se(r.ICT, r.Sentences), r.BM25, r.Random)
		}
	}
	fmt.Fprintf(w, "masked-span recall@%d (%d salient)\tREALM %.3f ± %.3f, ICT-only %.3f ± %.3f, BM25 %.3f, random %.3f\n", ev.TopK, ev.AnswerSentences,
		ev.AnswerRecallREALM, se(ev.AnswerRecallREALM, ev.AnswerSentences), ev.AnswerRecallICT, se(ev.AnswerRecallICT, ev.AnswerSentences), ev.AnswerRecallBM25, ev.AnswerRecallRandom)
	for _, d := range []struct {
		what string
		row  pretrain.PairedRow
	}{
		{"same-country, REALM − ICT-only (paired)", ev.Paired.SameCountryVsICT},
		{"same-country, REALM − random (paired)", ev.Paired.SameCountryVsRandom},
		{"masked-span, REALM − ICT-only (paired)", ev.Paired.AnswerVsICT},
		{"masked-span, REALM − random (paired)", ev.Paired.AnswerVsRandom},
	} {
		fmt.Fprintf(w, "%s\t%+.3f ± %.3f", d.what, d.row.Value, d.row.StdErr)
		if d.row.Wins+d.row.Losses > 0 {
			fmt.Fprintf(w, " (only REALM %d, only ICT %d)", d.row.Wins, d.row.Losses)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "index refreshes / mean stale-fresh overlap\t%d / %.3f\n", ev.Refreshes, ev.MeanOverlap)
	fmt.Fprintf(w, "REALM steps per second\t%.2f\n", ev.StepsPerSec)
	w.Flush()
}
