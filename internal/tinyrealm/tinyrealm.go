// Package tinyrealm builds a tiny REALM with random weights (BERT L=2, H=32, 53 wordpieces,
// gelu_new) for the tools that write test fixtures and synthetic indexes.
package tinyrealm

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/openqa"
)

// New returns a store holding every variable of a tiny REALM whose retrieval embeddings have
// dimension d: both retriever towers (shared), the encoder with its MLM head and the reader with
// its span head, initialised from seed with a standard deviation of 0.4; and its configs.
func New(d int, seed int64) (*model.Store, realm.Config, openqa.ReaderConfig, error) {
	b := bert.Tiny()
	b.VocabSize, b.HiddenSize, b.NumHiddenLayers, b.NumAttentionHeads, b.IntermediateSize = 53, 32, 2, 4, 64
	b.MaxPositionEmbeddings, b.HiddenAct, b.InitializerRange = 64, bert.ActGeluTanh, 0.4
	cfg := realm.DefaultConfig()
	cfg.Retriever, cfg.Encoder, cfg.ProjectionDim, cfg.TopK, cfg.QueryLen, cfg.DocLen = b, b, d, 3, 16, 16
	rc := openqa.DefaultReaderConfig()
	rc.SpanHiddenSize, rc.MaxSpanWidth, rc.ReaderBeam, rc.RetrieverBeam, rc.SeqLen = 16, 4, 2, 4, 24
	if err := cfg.Validate(); err != nil {
		return nil, cfg, rc, err
	}
	store := model.NewStore()
	store.SetRNGStateFromSeed(seed)
	ids := [][]int32{{2, 5, 6, 7, 8, 9, 10, 3}, {2, 11, 12, 13, 14, 15, 16, 3}}
	types := [][]int32{make([]int32, 8), make([]int32, 8)}
	mask := [][]bool{{true, true, true, true, true, true, true, true}, {true, true, true, true, true, true, true, true}}
	pos := [][]int32{{1, 2}, {3, 4}}
	// One call creates every variable.
	_, err := model.CallOnceN(backend.MustNew(), store, func(root *model.Scope, ids, types, mask, pos *Node) []*Node {
		q := cfg.EmbedQueries(root, ids, types, mask)
		ids3, types3, mask3 := InsertAxes(ids, 1), InsertAxes(types, 1), InsertAxes(mask, 1)
		logits := cfg.EncoderMLMLogits(root, ids3, types3, mask3, pos)
		spans := openqa.SpanScores(root.At(openqa.ReaderScope), cfg.Encoder, rc, ids, types, mask, pos, pos)
		return []*Node{q, logits, spans}
	}, ids, types, mask, pos)
	return store, cfg, rc, err
}
