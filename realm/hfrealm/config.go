// Package hfrealm reads and writes Hugging Face transformers' REALM checkpoints (the layout of
// Google's released models on the hub: google/realm-cc-news-pretrained-embedder, -encoder,
// -scorer, google/realm-orqa-nq-reader, …): Load reads a directory into the variables of a
// realm model, Save writes a model trained here in the same layout, which transformers' classes
// load. Weights come from model.safetensors (single or sharded) or PyTorch's
// pytorch_model.bin.
//
// Each class of transformers' REALM keeps its BERT under its own prefix and adds its heads:
//
//	RealmEmbedder             realm.* (BERT and pooler), cls.dense, cls.LayerNorm            → /embedder
//	RealmScorer               embedder.<the RealmEmbedder's names>                           → /embedder (towers shared)
//	RealmKnowledgeAugEncoder  realm.*, cls.predictions.* (the masked-LM head)                 → /encoder
//	RealmReader               realm.*, qa_outputs.{dense_intermediate,dense_output,layer_normalization} → /reader
//	RealmForOpenQA            embedder.<RealmEmbedder>, reader.<RealmReader>, block_emb       → /embedder, /reader; LoadBlockEmb
//
// (cls.predictions.* of an embedder or a reader is an unused head and is skipped, as are
// transformers' position_ids buffers.) The retriever of every class projects BERT's pooled
// output, so the realm.Config that Config.REALM returns has RetrieverPooling =
// realm.PoolingPooler, and the activation is config.json's hidden_act (gelu_new in the
// released checkpoints). The tests compare every class with transformers 4.30.2 on tiny random
// models of both activations (tools/fixtures/make_realm_fixture.py).
//
// An open-QA model's index opens without reading it whole (OpenQA, OpenRetriever): block_emb is
// read into the exact search's own layout, and the texts of its blocks (the retriever's
// block_records.npy, BlockRecords) are read when retrieved. Save writes every class but
// RealmForOpenQA, which SaveOpenQA writes with its index; LoadPretrained gathers checkpoints to
// continue pre-training or fine-tuning from.
package hfrealm

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/openqa"
)

// ModelType is config.json's model_type of every REALM class.
const ModelType = "realm"

// Config is transformers' RealmConfig, the config.json of every REALM class: the BERT fields
// shared by all its towers, and REALM's own.
type Config struct {
	bert.Config
	// RetrieverProjSize is d, the size of the retrieval embeddings (128).
	RetrieverProjSize int `json:"retriever_proj_size"`
	// NumCandidates is the number of candidates of the scorer and the knowledge-augmented
	// encoder (8).
	NumCandidates int `json:"num_candidates"`
	// SpanHiddenSize is the width of the reader's start and end projections (256).
	SpanHiddenSize int `json:"span_hidden_size"`
	// MaxSpanWidth is the reader's longest span in wordpieces (10).
	MaxSpanWidth int `json:"max_span_width"`
	// ReaderLayerNormEps is the epsilon of the reader's span LayerNorm (1e-3).
	ReaderLayerNormEps float64 `json:"reader_layer_norm_eps"`
	// ReaderBeamSize is the number of blocks the reader reads (5).
	ReaderBeamSize int `json:"reader_beam_size"`
	// ReaderSeqLen is the reader's sequence length, question and block (320 = 288 + 32).
	ReaderSeqLen int `json:"reader_seq_len"`
	// NumBlockRecords is the number of blocks of an open-QA model's index (13,353,718).
	NumBlockRecords int `json:"num_block_records"`
	// SearcherBeamSize is the number of blocks the open-QA retriever keeps (5000).
	SearcherBeamSize int `json:"searcher_beam_size"`
}

// defaultConfig holds RealmConfig's defaults, for the fields a config.json leaves out.
func defaultConfig() Config {
	return Config{
		Config: bert.Config{
			ModelType: ModelType, VocabSize: 30522, HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
			IntermediateSize: 3072, HiddenAct: bert.ActGeluTanh, HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1,
			MaxPositionEmbeddings: 512, TypeVocabSize: 2, InitializerRange: 0.02, LayerNormEps: 1e-12, PadTokenID: 1,
		},
		RetrieverProjSize: 128, NumCandidates: 8, SpanHiddenSize: 256, MaxSpanWidth: 10, ReaderLayerNormEps: 1e-3,
		ReaderBeamSize: 5, ReaderSeqLen: 320, NumBlockRecords: 13353718, SearcherBeamSize: 5000,
	}
}

// LoadConfig reads and validates a REALM config.json.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("hfrealm config: %w", err)
	}
	c := defaultConfig()
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("hfrealm config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate checks that c describes a REALM model this package can build.
func (c Config) Validate() error {
	if c.ModelType != ModelType {
		return fmt.Errorf("hfrealm config: model_type %q is not %q", c.ModelType, ModelType)
	}
	if err := c.BERT().Validate(); err != nil {
		return fmt.Errorf("hfrealm config: %w", err)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"retriever_proj_size", c.RetrieverProjSize}, {"num_candidates", c.NumCandidates}, {"span_hidden_size", c.SpanHiddenSize},
		{"max_span_width", c.MaxSpanWidth}, {"reader_beam_size", c.ReaderBeamSize}, {"reader_seq_len", c.ReaderSeqLen},
		{"searcher_beam_size", c.SearcherBeamSize}} {
		if f.v <= 0 {
			return fmt.Errorf("hfrealm config: %s must be positive, got %d", f.name, f.v)
		}
	}
	if !(c.ReaderLayerNormEps > 0) {
		return fmt.Errorf("hfrealm config: reader_layer_norm_eps must be positive, got %g", c.ReaderLayerNormEps)
	}
	return nil
}

// BERT is the configuration of each of the model's BERTs.
func (c Config) BERT() bert.Config {
	b := c.Config
	b.ModelType, b.Architectures = "bert", nil
	return b
}

// REALM is the realm.Config of a model with these BERTs: the retriever projects the pooled
// output to RetrieverProjSize, queries of queryLen and blocks of docLen wordpieces, TopK =
// NumCandidates.
func (c Config) REALM(queryLen, docLen int) (realm.Config, error) {
	m := realm.DefaultConfig()
	m.Retriever, m.Encoder = c.BERT(), c.BERT()
	m.ProjectionDim, m.RetrieverPooling, m.SeparateTowers = c.RetrieverProjSize, realm.PoolingPooler, false
	m.QueryLen, m.DocLen, m.TopK = queryLen, docLen, c.NumCandidates
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("hfrealm: %w", err)
	}
	return m, nil
}

// Reader is the openqa.ReaderConfig of the model's open-QA reader: REALM's span head
// (span_hidden_size, max_span_width, reader_layer_norm_eps), reader_beam_size blocks read of
// searcher_beam_size retrieved, reader_seq_len positions; every wordpiece span, and the
// question without its [UNK] pieces, as transformers' RealmRetriever gives it to the reader.
func (c Config) Reader() openqa.ReaderConfig {
	rc := openqa.DefaultReaderConfig()
	rc.SpanHiddenSize, rc.MaxSpanWidth, rc.LayerNormEps = c.SpanHiddenSize, c.MaxSpanWidth, c.ReaderLayerNormEps
	rc.ReaderBeam, rc.RetrieverBeam, rc.SeqLen = c.ReaderBeamSize, c.SearcherBeamSize, c.ReaderSeqLen
	rc.Spans, rc.SkipUnknown = openqa.SpansWordpiece, true // as RealmReader and RealmRetriever read.
	return rc
}
