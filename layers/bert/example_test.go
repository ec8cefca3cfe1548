package bert_test

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/layers/bert"
)

// exampleBackend is opened before the examples run: the go backend announces its
// parallelism on stdout, which would otherwise end up in the examples' output.
var exampleBackend = backend.MustNew()

// Load a Hugging Face checkpoint into a sub-scope and encode a padded batch.
func ExampleLoad() {
	store := model.NewStore()
	res, err := bert.Load("testdata/tiny-bert", store.RootScope().In("reader"))
	if err != nil {
		panic(err)
	}
	cfg := res.Config
	fmt.Printf("L=%d H=%d A=%d vocab=%d fresh=%d\n", cfg.NumHiddenLayers, cfg.HiddenSize, cfg.NumAttentionHeads, cfg.VocabSize, len(res.Fresh))

	ids := tensors.FromValue([][]int32{{2, 17, 33, 5}, {2, 8, 0, 0}})
	mask := tensors.FromValue([][]bool{{true, true, true, true}, {true, true, false, false}})
	outs := model.MustCallOnceN(exampleBackend, store, func(scope *model.Scope, ids, mask *graph.Node) []*graph.Node {
		hidden := bert.Encode(scope.In("reader"), cfg, ids, nil, mask)
		return []*graph.Node{hidden, bert.CLS(hidden)}
	}, ids, mask)
	fmt.Println("hidden:", outs[0].Shape().Dimensions, "cls:", outs[1].Shape().Dimensions)
	// Output:
	// L=2 H=32 A=4 vocab=100 fresh=0
	// hidden: [2 4 32] cls: [2 32]
}
