package openqa_test

import (
	"context"
	"fmt"
	"os"

	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/bm25"
	"github.com/realm-go/realm/realm/openqa"
	"github.com/realm-go/realm/realm/training"
)

// ExampleBuildQA shows the open-QA flow of the CLI and the notebooks: a pre-trained store (here
// restored from a REALM run directory), the QA model with one of the three retrievers, fine-tuning
// on the Factbook training questions, one answer and the evaluation table.
func ExampleBuildQA() {
	ctx := context.Background()
	be := backend.MustNew()
	tok, _ := tokenize.Default()
	cfg := realm.DefaultConfig()
	c, _, _ := realm.BuildCorpus(tok, corpus.Factbook(), cfg.DocLen)
	store := model.NewStore()
	if _, ok, err := (training.Checkpoints{Dir: "runs/realm"}).Restore(store); err != nil || !ok {
		fmt.Println("no pre-trained model:", err)
		return
	}
	// openqa.RetrieverICT for the ORQA baseline (a store pre-trained with ICT only), or
	// openqa.RetrieverBM25 for BM25 + the same reader.
	q, err := openqa.BuildQA(ctx, be, store, cfg, openqa.DefaultReaderConfig(), c, openqa.RetrieverREALM, bm25.DefaultParams())
	if err != nil {
		fmt.Println(err)
		return
	}
	var train, test []qa.Example
	for ex := range qa.Factbook("train") {
		train = append(train, ex)
	}
	for ex := range qa.Factbook("test") {
		test = append(test, ex)
	}
	run := training.RunConfig{Dir: "runs/qa-realm", Steps: 2000, BatchSize: 8, LR: 1e-5, Seed: 1, CheckpointEvery: 500}
	if err := q.FineTune(ctx, train, run, &training.History{}); err != nil {
		fmt.Println(err)
		return
	}
	a, _ := q.Answer(ctx, "What is the capital of Aruba?")
	fmt.Printf("%s (p=%.2f, block %d %q)\n", a.Text, a.Prob, a.BlockID, a.Title)
	ev, _ := q.Evaluate(ctx, test, openqa.QAEvalOptions{})
	_ = ev.WriteTable(os.Stdout)
}
