package examples_test

import (
	"fmt"

	"github.com/realm-go/realm/data/blocks"
	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/data/tokenize"
)

// Example shows the streaming pre-training pipeline: corpus → blocks →
// masked sentences → shuffled, padded batches.
func Example() {
	tok, err := tokenize.Default()
	if err != nil {
		panic(err)
	}
	gaz, err := spans.BuildGazetteer(corpus.Factbook(), spans.GazetteerOptions{})
	if err != nil {
		panic(err)
	}
	masker := spans.NewMasker(spans.RuleTagger{Gazetteer: gaz}, tok)
	blks := blocks.Build(tok, corpus.Factbook(), blocks.Options{}, nil)
	exs := examples.PretrainExamples(tok, masker, blks, examples.PretrainOptions{Seed: 1})
	for batch, err := range examples.Batches(examples.Shuffle(exs, 1000, 1), 16, true) {
		if err != nil {
			panic(err)
		}
		pb, err := examples.NewPretrainBatch(tok, batch, []int{32, 64}, []int{8, 16, 64})
		if err != nil {
			panic(err)
		}
		fmt.Println(pb.B, len(pb.InputIDs) == pb.B*pb.S, len(pb.Targets) == pb.B*pb.M)
		break
	}
	// Output:
	// 16 true true
}
