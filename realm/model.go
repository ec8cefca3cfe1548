// Package realm is REALM (Guu et al. 2020, "REALM: Retrieval-Augmented Language Model
// Pre-Training") on GoMLX: a neural knowledge retriever p(z|x), a knowledge-augmented encoder
// p(y|z,x) and the marginal likelihood p(y|x) = Σ_z p(y|z,x)·p(z|x) over the top-k documents
// found by maximum inner product search; the training loops that teach the retriever from the
// language-modelling signal alone are package pretrain's.
//
// This package is the model and its equations: Config, Forward, Batch and Outputs; the
// marginal likelihood and its gradient terms (RetrievalLogProbs, MarginalLogLikelihood, …); the
// featuriser (BatchData, Doc, Query, SeqWriter); the MLM and ICT graphs (MLMForward,
// Config.ICTForward); the retriever for inference (Retriever, Snapshot, Retriever.EmbedCorpus);
// and the knowledge corpus (Corpus). The rest sits in sub-packages, each importing this one and
// none of them importing a package above it:
//
//   - training: the optimiser, checkpoints, the run-directory lock and the training loop
//     (Phase, RunConfig, History) that every loop below runs on; it does not import realm;
//   - bm25: the sparse BM25 retriever (the open-QA baseline, ICT's hard negatives);
//   - evaluate: recalls with their exact chance levels and paired comparisons;
//   - pretrain: the MLM and ICT warm-ups, REALM pre-training with its index refresh, the whole
//     pipeline (RunPipeline) and the evaluation of a retriever on held-out sentences;
//   - openqa: open-domain QA: the span reader, the QA model over its retrievers, fine-tuning
//     and evaluation;
//   - hfrealm: Hugging Face REALM checkpoints; runs: the run directories of the command line.
//
// # Model (§3.2 of the paper)
//
//	Embed_input(x) = LayerNorm(W · pool(BERT([CLS] x [SEP])))                     (retriever, query tower)
//	Embed_doc(z)   = LayerNorm(W · pool(BERT([CLS] z_title [SEP] z_body [SEP])))  (retriever, document tower)
//	pool(h)        = tanh(W_p · h_CLS + b_p)                                      (BERT's pooler, Config.RetrieverPooling)
//	f(x, z)        = Embed_input(x)ᵀ Embed_doc(z),   p(z|x) = softmax_z f(x, z)
//	p(y_j|z, x)    = softmax(MLM-head(BERT([CLS] x [SEP] z_body [SEP]))_j)[y_j] (knowledge-augmented encoder)
//
// The two retriever towers share their weights by default, as in the official implementation
// (Config.SeparateTowers gives ORQA/Megatron-style separate towers). The encoder is a separate
// BERT. Candidate 0 of every example is the null document ∅, scored by the retriever on an empty
// document, so the model can always fall back on its parametric knowledge (§3.4).
//
// # Variables
//
// Everything lives under one model.Scope: "embedder" (the document tower, or both towers when
// shared: a BERT, then "projection" and "projection_layer_norm"), "query_embedder" (only with
// separate towers) and "encoder" (a BERT with its masked-LM head); each tower's pooler is its
// BERT's "pooler". Each BERT uses the layout of
// package layers/bert, so Hugging Face BERT checkpoints load into any of them.
package realm

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/realm-go/realm/layers/bert"
)

// Scope names of the model's parts.
const (
	// EmbedderScope holds the document tower (and the query tower when towers are shared).
	EmbedderScope = "embedder"
	// QueryEmbedderScope holds the query tower when Config.SeparateTowers is set.
	QueryEmbedderScope = "query_embedder"
	// EncoderScope holds the knowledge-augmented encoder and its masked-LM head.
	EncoderScope = "encoder"
)

// Config describes a REALM model and the shapes of its inputs.
type Config struct {
	// Retriever is the BERT of each retriever tower.
	Retriever bert.Config `json:"retriever"`
	// Encoder is the BERT of the knowledge-augmented encoder.
	Encoder bert.Config `json:"encoder"`
	// ProjectionDim is d, the size of the retrieval embeddings (128 in the paper).
	ProjectionDim int `json:"projection_dim"`
	// SeparateTowers gives the query and the documents their own retriever BERTs.
	SeparateTowers bool `json:"separate_towers"`
	// RetrieverPooling is what the retriever projects to d: PoolingPooler (BERT's pooled
	// output, as REALM, ORQA and Hugging Face's RealmEmbedder do; DefaultConfig's) or PoolingCLS
	// (the raw [CLS] hidden state, DPR style). Empty means PoolingCLS: runs saved before the
	// option existed projected the raw [CLS] state, and load and score as they did.
	RetrieverPooling string `json:"retriever_pooling,omitempty"`
	// QueryLen is the length of [CLS] x [SEP] for the query tower (and the x part of the
	// encoder's input), in wordpieces.
	QueryLen int `json:"query_len"`
	// DocLen is the length of [CLS] title [SEP] body [SEP] for the document tower; the
	// encoder's input [CLS] x [SEP] z_body [SEP] is at most QueryLen + DocLen long.
	DocLen int `json:"doc_len"`
	// TopK is the number of candidates per example including the null document (8 in the paper's
	// pre-training: 7 retrieved + ∅).
	TopK int `json:"top_k"`
	// MaxMasks is the number of masked-token slots per example (REALM masks one salient span).
	MaxMasks int `json:"max_masks"`
}

// The values of Config.RetrieverPooling.
const (
	// PoolingPooler projects BERT's pooled output tanh(W_p·h_CLS + b_p), as REALM does.
	PoolingPooler = "pooler"
	// PoolingCLS projects the raw [CLS] hidden state h_CLS (DPR style).
	PoolingCLS = "cls"
)

// DefaultConfig is the embedded default: small BERTs (L=2, H=128, A=2) trained from scratch on
// the Factbook, d = 128, k = 8 with ∅, queries of 64 and documents of 128 wordpieces.
func DefaultConfig() Config {
	return Config{
		Retriever:        bert.Tiny(),
		Encoder:          bert.Tiny(),
		ProjectionDim:    128,
		RetrieverPooling: PoolingPooler,
		QueryLen:         64,
		DocLen:           128,
		TopK:             8,
		MaxMasks:         10,
	}
}

// Validate checks that the configuration can build a model.
func (c Config) Validate() error {
	if err := c.Retriever.Validate(); err != nil {
		return fmt.Errorf("realm config: retriever: %w", err)
	}
	if err := c.Encoder.Validate(); err != nil {
		return fmt.Errorf("realm config: encoder: %w", err)
	}
	switch {
	case c.ProjectionDim <= 0:
		return fmt.Errorf("realm config: projection_dim must be > 0, got %d", c.ProjectionDim)
	case c.QueryLen < 3 || c.DocLen < 3:
		return fmt.Errorf("realm config: query_len %d and doc_len %d must be ≥ 3 (room for special tokens)", c.QueryLen, c.DocLen)
	case c.QueryLen > c.Retriever.MaxPositionEmbeddings || c.DocLen > c.Retriever.MaxPositionEmbeddings:
		return fmt.Errorf("realm config: query_len %d / doc_len %d exceed the retriever's %d positions", c.QueryLen, c.DocLen, c.Retriever.MaxPositionEmbeddings)
	case c.QueryLen+c.DocLen > c.Encoder.MaxPositionEmbeddings:
		return fmt.Errorf("realm config: query_len + doc_len = %d exceeds the encoder's %d positions", c.QueryLen+c.DocLen, c.Encoder.MaxPositionEmbeddings)
	case c.TopK < 2:
		return fmt.Errorf("realm config: top_k must be ≥ 2 (∅ plus at least one document), got %d", c.TopK)
	case c.MaxMasks <= 0:
		return fmt.Errorf("realm config: max_masks must be > 0, got %d", c.MaxMasks)
	case c.RetrieverPooling != "" && c.RetrieverPooling != PoolingPooler && c.RetrieverPooling != PoolingCLS:
		return fmt.Errorf("realm config: retriever_pooling %q is not %q or %q", c.RetrieverPooling, PoolingPooler, PoolingCLS)
	}
	if c.Retriever.VocabSize != c.Encoder.VocabSize {
		return fmt.Errorf("realm config: retriever vocabulary %d differs from the encoder's %d", c.Retriever.VocabSize, c.Encoder.VocabSize)
	}
	return nil
}

// Embed is one retriever tower: LayerNorm(W · pool(BERT(ids))) → [B, d], with pool as
// c.RetrieverPooling says. tower is the tower's scope (see QueryTower, DocTower); ids, typeIDs
// int32 [B, S], mask bool [B, S].
func (c Config) Embed(tower *model.Scope, ids, typeIDs, mask *Node) *Node {
	h := bert.Encode(tower, c.Retriever, ids, typeIDs, mask)
	var pooled *Node
	if c.RetrieverPooling == PoolingPooler {
		pooled = bert.Pooler(tower, c.Retriever, h)
	} else {
		pooled = bert.CLS(h)
	}
	proj := layers.DenseWithBias(tower.WithInitializer(initializer.RandomNormalFn(tower, c.Retriever.InitializerRange)).In("projection"), pooled, c.ProjectionDim)
	return norm.LayerNorm(tower.In("projection_layer_norm"), proj, -1).Epsilon(c.Retriever.LayerNormEps).Done()
}

// QueryTower returns the scope of the query tower under root.
func (c Config) QueryTower(root *model.Scope) *model.Scope {
	return root.At("%s", strings.TrimPrefix(c.QueryTowerScope(), "/"))
}

// QueryTowerScope is the absolute scope path of the query tower ("/embedder" when the towers
// are shared), a key for training.Optimizer.LRScale.
func (c Config) QueryTowerScope() string {
	if c.SeparateTowers {
		return "/" + QueryEmbedderScope
	}
	return "/" + EmbedderScope
}

// DocTower returns the scope of the document tower under root.
func (c Config) DocTower(root *model.Scope) *model.Scope {
	return root.At(EmbedderScope)
}

// EmbedQueries computes Embed_input(x) for int32 [B, QueryLen] inputs → [B, d].
func (c Config) EmbedQueries(root *model.Scope, ids, typeIDs, mask *Node) *Node {
	return c.Embed(c.QueryTower(root), ids, typeIDs, mask)
}

// EmbedDocs computes Embed_doc(z) for inputs of any leading shape [..., DocLen] → [..., d].
func (c Config) EmbedDocs(root *model.Scope, ids, typeIDs, mask *Node) *Node {
	lead := ids.Shape().Dimensions[:ids.Rank()-1]
	S := ids.Shape().Dim(-1)
	n := ids.Shape().Size() / S
	e := c.Embed(c.DocTower(root), Reshape(ids, n, S), Reshape(typeIDs, n, S), Reshape(mask, n, S))
	return Reshape(e, append(append([]int(nil), lead...), c.ProjectionDim)...)
}

// Relevance is f(x, z) = Embed_input(x)ᵀ Embed_doc(z) for every candidate of each example:
// queries [B, d], docs [B, K, d] → [B, K].
func Relevance(queries, docs *Node) *Node {
	return Einsum("bd,bkd->bk", queries, docs)
}

// EncoderMLMLogits runs the knowledge-augmented encoder over the joined inputs
// [CLS] x [SEP] z_body [SEP] of every candidate, ids/typeIDs/mask [B, K, S], and returns the
// masked-LM logits at positions (int32 [B, M], the same for every candidate since x comes first)
// → [B, K, M, V].
func (c Config) EncoderMLMLogits(root *model.Scope, ids, typeIDs, mask, positions *Node) *Node {
	B, K, S := ids.Shape().Dim(0), ids.Shape().Dim(1), ids.Shape().Dim(2)
	M := positions.Shape().Dim(1)
	enc := root.At(EncoderScope)
	h := bert.Encode(enc, c.Encoder, Reshape(ids, B*K, S), Reshape(typeIDs, B*K, S), Reshape(mask, B*K, S))
	pos := Reshape(BroadcastToDims(InsertAxes(positions, 1), B, K, M), B*K, M)
	logits := bert.MLMLogits(enc, c.Encoder, h, pos) // [B*K, M, V]
	return Reshape(logits, B, K, M, c.Encoder.VocabSize)
}

// Outputs are the graph values of one REALM forward pass.
type Outputs struct {
	// Loss is −mean_j log p(y_j|x) over the real masked tokens (the training objective).
	Loss *Node
	// Scores are the fresh relevance scores f(x,z) [B, K] (candidate 0 is ∅).
	Scores *Node
	// LogPz is log p(z|x) [B, K].
	LogPz *Node
	// Gold is log p(y_j|z,x) [B, K, M].
	Gold *Node
	// Marginal is log p(y_j|x) [B, M].
	Marginal *Node
	// Utility is the retrieval utility log p(y|x) − log p(y|∅,x) per example [B].
	Utility *Node
	// R is the paper's r(z) per example and candidate [B, K].
	R *Node
	// AccRetrieval and AccNull are the masked-token accuracies [B, M] (1 where correct) of the
	// marginal prediction argmax_y Σ_z p(z|x) p(y|z,x) and of the encoder given only ∅. Only
	// ForwardWithMetrics computes them (they need the full [B, K, M, V] logits); Forward
	// leaves them nil.
	AccRetrieval, AccNull *Node
}

// Batch holds the graph inputs of one REALM pre-training (or evaluation) step.
type Batch struct {
	// QueryIDs, QueryTypes, QueryMask: the masked sentences [CLS] x [SEP], [B, QueryLen].
	QueryIDs, QueryTypes, QueryMask *Node
	// DocIDs, DocTypes, DocMask: [CLS] title [SEP] body [SEP] of each candidate, [B, K, DocLen];
	// candidate 0 is the null document [CLS] [SEP] [SEP].
	DocIDs, DocTypes, DocMask *Node
	// JointIDs, JointTypes, JointMask: [CLS] x [SEP] z_body [SEP], [B, K, QueryLen+DocLen].
	JointIDs, JointTypes, JointMask *Node
	// Positions, Targets, TargetMask: the masked positions in x (counting [CLS]), the original
	// token ids, and which of the MaxMasks slots are real, [B, M].
	Positions, Targets, TargetMask *Node
	// RetrieverGate, a float32 scalar, scales the gradient that reaches the retriever through
	// f(x,z) without changing any value: 1 (or nil) is REALM's update, 0 freezes the retriever
	// while the encoder learns to read documents (pretrain.PretrainConfig.RetrieverWarmup).
	RetrieverGate *Node
}

// Forward computes REALM's marginal likelihood for a batch (eqs. 1–2 of the paper, per masked
// token as in the official implementation), with the retrieval scores recomputed under the
// current parameters so gradients reach the retriever. It is the training step's graph: the
// encoder's log p(y_j|z,x) comes from bert.MLMLogProbs, which never materialises the
// [B, K, M, V] logits as one tensor and runs the vocabulary-sized soft-max as independent
// chains over parts of the batch (both cores busy on the pure-Go backend), so the masked-token
// accuracies are not computed (AccRetrieval and AccNull are nil): see ForwardWithMetrics.
func (c Config) Forward(root *model.Scope, b Batch) Outputs {
	logPz, scores := c.retrieve(root, b)
	B, K, S := b.JointIDs.Shape().Dim(0), b.JointIDs.Shape().Dim(1), b.JointIDs.Shape().Dim(2)
	M := b.Positions.Shape().Dim(1)
	enc := root.At(EncoderScope)
	h := bert.Encode(enc, c.Encoder, Reshape(b.JointIDs, B*K, S), Reshape(b.JointTypes, B*K, S), Reshape(b.JointMask, B*K, S))
	perCandidate := func(x *Node) *Node { return Reshape(BroadcastToDims(InsertAxes(x, 1), B, K, M), B*K, M) }
	gold := bert.MLMLogProbs(enc, c.Encoder, h, perCandidate(b.Positions), perCandidate(ConvertDType(b.Targets, dtypes.Int32)))
	return c.outputs(b, scores, logPz, Reshape(gold, B, K, M)) // log p(y_j|z,x) [B,K,M]
}

// ForwardWithMetrics is Forward (the same loss, variables and values up to float rounding)
// that also computes the masked-token accuracies AccRetrieval and AccNull. They need the
// encoder's full [B, K, M, V] logits (EncoderMLMLogits) and a soft-max over them, which makes
// the step slower: evaluation (pretrain.Pretrainer.EvaluateLM) and the pre-training loop's periodic
// metrics use it, the training step does not.
func (c Config) ForwardWithMetrics(root *model.Scope, b Batch) Outputs {
	logPz, scores := c.retrieve(root, b)
	logits := c.EncoderMLMLogits(root, b.JointIDs, b.JointTypes, b.JointMask, b.Positions) // [B,K,M,V]
	out := c.outputs(b, scores, logPz, GoldLogProbs(logits, b.Targets))                    // log p(y_j|z,x)
	// Accuracies: the marginal predictive distribution Σ_z p(z|x) softmax(logits_z) vs ∅ alone.
	logits = StopGradient(logits)
	probs := Softmax(logits, -1)                                                  // [B,K,M,V]
	mix := ReduceSum(Mul(probs, InsertAxes(Exp(StopGradient(logPz)), -1, -1)), 1) // [B,M,V]
	nullLogits := Squeeze(SliceAxis(logits, 1, AxisRange(0, 1)), 1)               // [B,M,V]
	targets := ConvertDType(b.Targets, dtypes.Int32)
	out.AccRetrieval = StopGradient(ConvertDType(Equal(ConvertDType(ArgMax(mix, -1), dtypes.Int32), targets), dtypes.Float32))
	out.AccNull = StopGradient(ConvertDType(Equal(ConvertDType(ArgMax(nullLogits, -1), dtypes.Int32), targets), dtypes.Float32))
	return out
}

// retrieve is the retriever's part of a forward pass: log p(z|x) and f(x,z), both [B, K].
func (c Config) retrieve(root *model.Scope, b Batch) (logPz, scores *Node) {
	q := c.EmbedQueries(root, b.QueryIDs, b.QueryTypes, b.QueryMask) // [B, d]
	d := c.EmbedDocs(root, b.DocIDs, b.DocTypes, b.DocMask)          // [B, K, d]
	scores = Relevance(q, d)                                         // f(x,z), [B, K]
	if g := b.RetrieverGate; g != nil {
		// f + g·(f − sg(f)): the value of f, the gradient g·∂L/∂f.
		fixed := StopGradient(scores)
		scores = Add(fixed, Mul(ConvertDType(g, scores.DType()), Sub(scores, fixed)))
	}
	return RetrievalLogProbs(scores), scores // log p(z|x)
}

// outputs completes a forward pass from the retriever's log p(z|x) and the encoder's
// log p(y_j|z,x) [B, K, M].
func (c Config) outputs(b Batch, scores, logPz, gold *Node) Outputs {
	marginal := MarginalLogLikelihood(logPz, gold) // log p(y_j|x)
	return Outputs{
		Loss:     MaskedMeanNLL(marginal, b.TargetMask),
		Scores:   scores,
		LogPz:    logPz,
		Gold:     gold,
		Marginal: marginal,
		Utility:  RetrievalUtility(marginal, gold, b.TargetMask),
		R:        RMultiplier(marginal, gold, b.TargetMask),
	}
}

// ReaderLen is the reader's sequence length R: [CLS] question [SEP] body [SEP] in QueryLen +
// DocLen wordpieces (the encoder's joint length, which Config.Validate fits into its positions).
func (c Config) ReaderLen() int { return c.QueryLen + c.DocLen }
