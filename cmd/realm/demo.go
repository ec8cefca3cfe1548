package main

import (
	"context"
	"fmt"
	"github.com/realm-go/realm/data/spans"
	"os"
	"time"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm"
)

// demoDefaults run the whole pipeline in minutes on two cores: short phases, small batches.
var demoDefaults = pipelineFlags{dir: "out/demo", maxDocs: 300, mlmSteps: 300, ictSteps: 200, realmSteps: 100, refresh: 25,
	batch: 4, ictBatch: 16, mlmBatch: 8, queryLen: 48, docLen: 96, topK: 5, mlmLR: 1e-3, ictLR: 2e-4, realmLR: 2e-4,
	checkpointEvery: 0, evalSentences: 200, heldOut: 0.02, salient: spans.AllKinds, timeout: 60 * time.Minute}

func runDemo(ctx context.Context, args []string) error {
	fs := newFlags("demo", "Runs REALM end to end on the embedded CIA World Factbook, from scratch: masked-LM pre-training\n"+
		"of a small encoder, ICT warm start of the retriever, REALM pre-training with an index refreshed\n"+
		"in the background; then prints held-out accuracy with and without retrieval and retrieval recall\n"+
		"against ICT-only and random retrievers. Leaves the checkpoints in -dir.")
	var f pipelineFlags
	f.register(fs, demoDefaults)
	var qaSteps int
	fs.IntVar(&qaSteps, "qa-steps", 60, "open-QA fine-tuning steps per retriever (0: skip QA)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	defer watchdog(f.timeout)()
	res, err := pretrainAndEvaluate(ctx, &f, os.Stdout)
	if err != nil || qaSteps == 0 {
		return err
	}
	// Open-QA: the same reader fine-tuned over each retriever, compared on the test countries.
	be, err := backend.New()
	if err != nil {
		return err
	}
	qf := qaFlags{dir: f.dir, split: "test", steps: qaSteps, batch: 2, lr: 1e-4, readerBeam: 3, beam: 20, seed: f.seed, progress: f.progress}
	ri := runInfo{Config: res.Config}
	evs := map[string]*realm.QAEval{}
	var realmQA *realm.QA
	for _, kind := range []string{realm.RetrieverBM25, realm.RetrieverICT, realm.RetrieverREALM} {
		q, ev, err := fineTuneQA(ctx, be, &qf, ri, res.Corpus, kind, os.Stdout)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		evs[kind], realmQA = ev, q
	}
	printBaselines(os.Stdout, qf.split, evs)
	test, err := questions("test", res.Corpus)
	if err != nil {
		return err
	}
	fmt.Println("\nA few test questions (countries never seen in fine-tuning), REALM retriever + reader:")
	for _, ex := range test[:min(4, len(test))] {
		a, err := realmQA.Answer(ctx, ex.Question)
		if err != nil {
			return err
		}
		printAnswer(os.Stdout, a)
		fmt.Printf("   gold: %v\n", ex.Answers)
	}
	return nil
}
