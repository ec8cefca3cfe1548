package main

import (
	"context"
	"os"
	"time"
)

// demoDefaults run the whole pipeline in minutes on two cores: short phases, small batches.
var demoDefaults = pipelineFlags{dir: "out/demo", maxDocs: 300, mlmSteps: 300, ictSteps: 200, realmSteps: 100, refresh: 25,
	batch: 4, ictBatch: 16, mlmBatch: 8, queryLen: 48, docLen: 96, topK: 5, mlmLR: 1e-3, ictLR: 2e-4, realmLR: 5e-5,
	checkpointEvery: 0, evalSentences: 200, timeout: 60 * time.Minute}

func runDemo(ctx context.Context, args []string) error {
	fs := newFlags("demo", "Runs REALM end to end on the embedded CIA World Factbook, from scratch: masked-LM pre-training\n"+
		"of a small encoder, ICT warm start of the retriever, REALM pre-training with an index refreshed\n"+
		"in the background; then prints held-out accuracy with and without retrieval and retrieval recall\n"+
		"against ICT-only and random retrievers. Leaves the checkpoints in -dir.")
	var f pipelineFlags
	f.register(fs, demoDefaults)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	defer watchdog(f.timeout)()
	_, err := pretrainAndEvaluate(ctx, &f, os.Stdout)
	return err
}
