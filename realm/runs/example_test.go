package runs_test

import (
	"context"
	"fmt"
	"log"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/realm/hfrealm"
	"github.com/realm-go/realm/realm/pretrain"
	"github.com/realm-go/realm/realm/runs"
)

// The examples run on tiny REALM checkpoints that transformers 4.30.2 wrote with random weights
// (realm/hfrealm/testdata, vocabulary of 53 words): what they print is what such a model
// computes (transformers computes the same, see realm/hfrealm's parity tests), not knowledge.
// With google/realm-cc-news-pretrained-embedder and -encoder, or a run of `realm pretrain`
// (runs.Open), the same lines read a real corpus.
var (
	pretrainedDirs = []string{"../hfrealm/testdata/gelu/embedder", "../hfrealm/testdata/gelu/encoder"}
	documents      = []corpus.Document{
		{ID: "fr", Title: "france", Text: "paris is the capital of france. the euro is the currency of france."},
		{ID: "az", Title: "azerbaijan", Text: "baku is the capital city of azerbaijan. the manat is the currency of azerbaijan."},
		{ID: "sea", Title: "sea", Text: "the north sea is east of the island. a river runs to the sea."},
	}
)

// Embed a corpus of one's own with a pre-trained REALM retriever and retrieve from it.
func ExampleRun_Retrieve() {
	ctx := context.Background()
	pt, err := hfrealm.LoadPretrained(pretrainedDirs)
	if err != nil {
		log.Fatal(err)
	}
	run, err := runs.FromPretrained(nil, pt, corpus.Documents(documents...))
	if err != nil {
		log.Fatal(err)
	}
	vecs, ids, err := run.EmbedCorpus(ctx) // Embed_doc(z) of every block
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d blocks embedded in d = %d\n", len(ids), len(vecs)/len(ids))
	hits, err := run.Retrieve(ctx, "what is the capital of azerbaijan?", 2)
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hits {
		fmt.Printf("%-10s f(x,z) = %5.2f  p(z|x) = %.2f\n", h.Title, h.Score, h.Prob)
	}
	// Output:
	// 3 blocks embedded in d = 16
	// azerbaijan f(x,z) =  7.33  p(z|x) = 0.89
	// france     f(x,z) =  5.22  p(z|x) = 0.11
}

// The REALM loss and r(z) of a batch of masked sentences: each sentence's top-k blocks (the null
// document ∅ first, as z = −1), p(z|x), r(z) and log p(y|x), whose negative is the loss.
func ExampleRun_Score() {
	ctx := context.Background()
	pt, err := hfrealm.LoadPretrained(pretrainedDirs)
	if err != nil {
		log.Fatal(err)
	}
	run, err := runs.FromPretrained(nil, pt, corpus.Documents(documents...))
	if err != nil {
		log.Fatal(err)
	}
	scored, err := run.Score(ctx, []pretrain.MaskedText{
		{Text: "baku is the capital of azerbaijan.", Masks: []string{"baku"}},
		{Text: "the euro is the currency of france.", Masks: []string{"euro"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range scored {
		fmt.Printf("loss %.3f, utility %+.3f:", -s.LogLikelihood, s.Utility)
		for k, id := range s.Blocks {
			fmt.Printf("  z=%d p=%.2f r=%+.3f", id, s.PZ[k], s.R[k])
		}
		fmt.Println()
	}
	// Output:
	// loss 2.539, utility +0.011:  z=-1 p=0.95 r=-0.010  z=1 p=0.04 r=+0.006  z=0 p=0.00 r=+0.004
	// loss 4.285, utility -0.024:  z=-1 p=0.98 r=+0.024  z=1 p=0.02 r=-0.023  z=0 p=0.00 r=-0.001
}

// Open a model and answer a question: a RealmForOpenQA directory (here one that
// hfrealm.SaveOpenQA wrote and transformers answers from identically), or a run directory that
// `realm demo` or `realm finetune` left.
func ExampleOpen() {
	run, err := runs.Open("../hfrealm/testdata/go_saved/openqa")
	if err != nil {
		log.Fatal(err)
	}
	a, err := run.Answer(context.Background(), "what is the capital of france")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q (block %d)\n", a.Text, a.BlockID)
	// Output:
	// "on the sea" (block 3)
}
