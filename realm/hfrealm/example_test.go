package hfrealm_test

import (
	"fmt"
	"log"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/hfrealm"
)

// ExampleLoad reads a RealmEmbedder checkpoint in transformers' layout (a tiny random one; the
// released google/realm-cc-news-pretrained-embedder has the same layout) and embeds a
// [CLS] x [SEP] query with it.
func ExampleLoad() {
	be := backend.MustNew()
	store := model.NewStore()
	res, err := hfrealm.Load("testdata/gelu_new/embedder", store.RootScope())
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := res.Config.REALM(8, 16)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Class, res.Config.HiddenAct, cfg.RetrieverPooling == realm.PoolingPooler)

	ids := [][]int32{{2, 5, 20, 6, 38, 3, 0, 0}} // [CLS] the capital of france [SEP] [PAD] [PAD]
	types := [][]int32{make([]int32, 8)}
	mask := [][]bool{{true, true, true, true, true, true, false, false}}
	emb, err := model.CallOnce(be, store, func(root *model.Scope, ids, types, mask *Node) *Node {
		return cfg.EmbedQueries(root, ids, types, mask)
	}, ids, types, mask)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Embed_input(x):", emb.Shape())
	// Output:
	// RealmEmbedder gelu_new true
	// Embed_input(x): (Float32)[1, 16]
}
