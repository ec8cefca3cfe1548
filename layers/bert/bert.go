// Package bert is BERT (Devlin et al. 2019) in GoMLX: the encoder, its masked-language-model
// head and pooler as graph functions over a *model.Scope, and Hugging Face checkpoint I/O
// (config.json + model.safetensors, single or sharded) so that pre-trained weights such as
// MiniLM load and train here and models trained here load in PyTorch.
//
// # Scopes
//
// Every function takes the root scope of one BERT, so a REALM model can hold several BERTs
// (query tower, document tower, reader) under different scopes: s.In("query_bert"),
// s.In("doc_bert"). To run the same weights twice in one graph, pass s.Shared(name) the
// second time (Scope.In panics when a sub-scope is entered twice).
//
// # Variables and Hugging Face names
//
// Paths are relative to the BERT's root scope; Linear weights are stored [in, out] (GoMLX's
// layers.Dense layout) and transposed from/to PyTorch's [out, in] by Load and Save.
// Mapping and HFNames expose this table to converters.
//
//	bert.embeddings.word_embeddings.weight        embeddings/word/embeddings           [V,H]
//	bert.embeddings.position_embeddings.weight    embeddings/position/embeddings       [P,H]
//	bert.embeddings.token_type_embeddings.weight  embeddings/token_type/embeddings     [T,H]
//	bert.embeddings.LayerNorm.{weight,bias}       embeddings/layer_norm/layer_normalization/{gain,offset}
//	bert.encoder.layer.N.attention.self.{query,key,value}.{weight,bias}
//	                                              layer_N/attention/MultiHeadAttention/{query,key,value}/dense/{weights,biases}
//	bert.encoder.layer.N.attention.output.dense.{weight,bias}
//	                                              layer_N/attention/MultiHeadAttention/output/dense/{weights,biases}
//	bert.encoder.layer.N.attention.output.LayerNorm.{weight,bias}
//	                                              layer_N/attention_layer_norm/layer_normalization/{gain,offset}
//	bert.encoder.layer.N.intermediate.dense.{weight,bias}   layer_N/intermediate/dense/{weights,biases}
//	bert.encoder.layer.N.output.dense.{weight,bias}         layer_N/output/dense/{weights,biases}
//	bert.encoder.layer.N.output.LayerNorm.{weight,bias}     layer_N/output_layer_norm/layer_normalization/{gain,offset}
//	bert.pooler.dense.{weight,bias}               pooler/dense/{weights,biases}        (optional)
//	cls.predictions.transform.dense.{weight,bias} mlm/transform/dense/{weights,biases}
//	cls.predictions.transform.LayerNorm.{weight,bias}  mlm/layer_norm/layer_normalization/{gain,offset}
//	cls.predictions.bias                          mlm/bias                             [V]
//	cls.predictions.decoder.weight                (tied to the word embeddings; not stored)
//
// Load also accepts names without the "bert." prefix (BertModel and sentence-transformers
// checkpoints) and the old LayerNorm.gamma/beta names.
//
// # Graph functions
//
// Encode gives the last hidden states [B, S, H]; CLS and Pooler read the first token;
// MLMLogits evaluates the MLM head only at given positions [B, M] → [B, M, V]; LabelLogProbs
// turns those logits into per-token log-likelihoods (the MLM loss is their negated mean).
// Dropout is active only when the store is in training mode for the graph.
//
// # Weight decay
//
// BERT's AdamW does not decay biases and LayerNorm parameters; GoMLX's
// optimizer.Adam().WeightDecay decays every trainable variable. DecayExempt tells which
// variables BERT exempts, for trainers that apply decay themselves.
package bert

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/layers/attention"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// initializerFor returns BERT's initialiser: N(0, initializer_range) for weight matrices and
// embedding tables, zeros for vectors (biases). LayerNorm sets its own ones/zeros.
func initializerFor(scope *model.Scope, cfg Config) model.VariableInitializer {
	normal := initializer.RandomNormalFn(scope, cfg.InitializerRange)
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		if shape.Rank() <= 1 {
			return graph.Zeros(g, shape)
		}
		return normal(g, shape)
	}
}

// layerNorm is LayerNorm over the last axis with BERT's epsilon (GoMLX's default is 1e-3).
func layerNorm(scope *model.Scope, cfg Config, x *graph.Node) *graph.Node {
	return norm.LayerNorm(scope, x, -1).Epsilon(cfg.LayerNormEps).Done()
}

// dropout applies BERT's dropout rate p, only while training (layers.Dropout checks
// scope.IsTraining).
func dropout(scope *model.Scope, x *graph.Node, p float64) *graph.Node {
	return layers.DropoutStatic(scope, x, p)
}

// Encode runs the BERT encoder and returns the last hidden states [B, S, H].
//
// ids and typeIDs are int32 [B, S] (typeIDs may be nil: all zeros); mask is bool [B, S],
// true for real tokens (nil: no padding). Padding is a key mask, so a padded position's own
// hidden state is computed but never attended to; a row with no real token gives NaNs.
// S must not exceed cfg.MaxPositionEmbeddings. Dropout is active only when the store is in
// training mode for the graph (scope.Store().SetTraining(g, true)).
func Encode(scope *model.Scope, cfg Config, ids, typeIDs, mask *graph.Node) *graph.Node {
	if err := cfg.Validate(); err != nil {
		exceptions.Panicf("bert.Encode: %v", err)
	}
	g := ids.Graph()
	if ids.Rank() != 2 || !ids.DType().IsInt() {
		exceptions.Panicf("bert.Encode: ids must be an integer tensor [batch, seq], got %s", ids.Shape())
	}
	batch, seqLen := ids.Shape().Dim(0), ids.Shape().Dim(1)
	if seqLen > cfg.MaxPositionEmbeddings {
		exceptions.Panicf("bert.Encode: sequence length %d exceeds max_position_embeddings %d", seqLen, cfg.MaxPositionEmbeddings)
	}
	if typeIDs == nil {
		typeIDs = graph.Zeros(g, shapes.Make(ids.DType(), batch, seqLen))
	} else if !typeIDs.Shape().Equal(ids.Shape()) {
		exceptions.Panicf("bert.Encode: typeIDs shape %s differs from ids shape %s", typeIDs.Shape(), ids.Shape())
	}
	if mask != nil && (mask.DType() != dtypes.Bool || mask.Rank() != 2 || mask.Shape().Dim(0) != batch || mask.Shape().Dim(1) != seqLen) {
		exceptions.Panicf("bert.Encode: mask must be bool [%d, %d], got %s", batch, seqLen, mask.Shape())
	}
	scope = scope.WithInitializer(initializerFor(scope, cfg))
	H := cfg.HiddenSize

	// Embeddings: E = LayerNorm(W_word[ids] + W_pos[0..S) + W_type[typeIDs]).
	emb := scope.In("embeddings")
	x := layers.Embedding(emb.In("word"), ids, dtypes.Float32, cfg.VocabSize, H)
	x = graph.Add(x, layers.Embedding(emb.In("token_type"), typeIDs, dtypes.Float32, cfg.TypeVocabSize, H))
	posIDs := graph.Iota(g, shapes.Make(dtypes.Int32, seqLen), 0)
	pos := layers.Embedding(emb.In("position"), posIDs, dtypes.Float32, cfg.MaxPositionEmbeddings, H) // [S, H]
	x = graph.Add(x, graph.ExpandLeftToRank(pos, 3))
	x = layerNorm(emb.In("layer_norm"), cfg, x)
	x = dropout(scope, x, cfg.HiddenDropoutProb)

	training := scope.IsTraining(g)
	for l := range cfg.NumHiddenLayers {
		ls := scope.In("layer_%d", l)
		// Self-attention: softmax(Q Kᵀ / √d_head + mask) V per head, then the output projection.
		mha := attention.SelfAttention(ls.In("attention"), x, cfg.NumAttentionHeads, cfg.HeadDim())
		if mask != nil {
			mha = mha.WithKeyMask(mask)
		}
		if training && cfg.AttentionProbsDropoutProb > 0 {
			mha = mha.WithDropout(graph.Scalar(g, dtypes.Float32, cfg.AttentionProbsDropoutProb))
		}
		a := dropout(ls, mha.Done(), cfg.HiddenDropoutProb)
		// Post-LN residual: x = LayerNorm(x + Dropout(Attention(x))).
		x = layerNorm(ls.In("attention_layer_norm"), cfg, graph.Add(x, a))
		// Feed-forward: x = LayerNorm(x + Dropout(W₂ GELU(W₁ x + b₁) + b₂)), GELU with erf.
		h := activation.Gelu(layers.DenseWithBias(ls.In("intermediate"), x, cfg.IntermediateSize))
		h = dropout(ls, layers.DenseWithBias(ls.In("output"), h, H), cfg.HiddenDropoutProb)
		x = layerNorm(ls.In("output_layer_norm"), cfg, graph.Add(x, h))
	}
	return x
}

// CLS returns the hidden state of the first ([CLS]) token of each sequence: [B, S, H] → [B, H].
func CLS(hidden *graph.Node) *graph.Node {
	return graph.Squeeze(graph.Slice(hidden, graph.AxisRange(), graph.AxisElem(0)), 1)
}

// Pooler is BERT's pooler, tanh(W·h_CLS + b) → [B, H] (Hugging Face bert.pooler.dense),
// present so that checkpoints with a pooler load and round-trip; REALM itself uses CLS.
func Pooler(scope *model.Scope, cfg Config, hidden *graph.Node) *graph.Node {
	scope = scope.WithInitializer(initializerFor(scope, cfg))
	return graph.Tanh(layers.DenseWithBias(scope.In("pooler"), CLS(hidden), cfg.HiddenSize))
}

// GatherPositions selects hidden[b, positions[b, m], :]: hidden [B, S, H] and int32
// positions [B, M] → [B, M, H]. (GatherWithBatchDims is unavailable in this GoMLX version,
// so it flattens the batch into one axis and offsets the indices.)
func GatherPositions(hidden, positions *graph.Node) *graph.Node {
	if hidden.Rank() != 3 || positions.Rank() != 2 || positions.Shape().Dim(0) != hidden.Shape().Dim(0) {
		exceptions.Panicf("bert.GatherPositions: want hidden [B,S,H] and positions [B,M], got %s and %s",
			hidden.Shape(), positions.Shape())
	}
	g := hidden.Graph()
	B, S, H := hidden.Shape().Dim(0), hidden.Shape().Dim(1), hidden.Shape().Dim(2)
	offsets := graph.MulScalar(graph.Iota(g, shapes.Make(positions.DType(), B, 1), 0), float64(S)) // [B, 1]
	flat := graph.Add(positions, offsets)                                                          // [B, M]
	return graph.Gather(graph.Reshape(hidden, B*S, H), graph.ExpandAxes(flat, -1))
}

// MLMLogits is BERT's masked-language-model head (Hugging Face cls.predictions) evaluated
// only at the given positions: hidden [B, S, H], int32 positions [B, M] → logits [B, M, V].
//
//	h = LayerNorm(GELU(W_t·hidden[positions] + b_t));  logits = h·W_wordᵀ + b
//
// The decoder is tied to the word embeddings created by Encode in the same scope (Encode
// must have run, or the checkpoint loaded, first).
func MLMLogits(scope *model.Scope, cfg Config, hidden, positions *graph.Node) *graph.Node {
	g := hidden.Graph()
	table := scope.At("embeddings").At("word").GetVariable("embeddings")
	if table == nil {
		exceptions.Panicf("bert.MLMLogits: no word embeddings under scope %q: call Encode (or Load) with the same scope first", scope.Scope())
	}
	scope = scope.WithInitializer(initializerFor(scope, cfg))
	mlm := scope.In("mlm")
	sel := GatherPositions(hidden, positions)
	h := activation.Gelu(layers.DenseWithBias(mlm.In("transform"), sel, cfg.HiddenSize))
	h = layerNorm(mlm.In("layer_norm"), cfg, h)
	// Decoder on a flat [B·M, H] batch: one contracting axis keeps the matmuls (and their
	// gradients) in the backend's native layouts.
	B, M := h.Shape().Dim(0), h.Shape().Dim(1)
	flat := graph.Reshape(h, B*M, cfg.HiddenSize)
	logits := graph.Einsum("nh,vh->nv", flat, table.NodeValue(g)) // [B·M, V]
	bias := mlm.WithInitializer(initializer.Zero).VariableWithShape("bias", shapes.Make(dtypes.Float32, cfg.VocabSize))
	logits = graph.Add(logits, graph.ExpandLeftToRank(bias.NodeValue(g), 2))
	return graph.Reshape(logits, B, M, cfg.VocabSize)
}

// LabelLogProbs returns log softmax(logits)[label] for every position: logits [..., V] and
// integer labels [...] → [...]. It is the per-token MLM log-likelihood (REALM sums it over a
// span's masked tokens, log p(y|z,x)); the MLM loss is its negated (masked) mean.
//
//	log p(y) = logits[y] − (m + log Σ_v exp(logits[v] − m)),  m = max_v logits[v]
//
// It gathers the label's logit instead of building a [..., V] one-hot tensor, which is what
// makes it cheaper than loss.SparseCategoricalCrossEntropyLogits on a 30k vocabulary.
func LabelLogProbs(logits, labels *graph.Node) *graph.Node {
	V := logits.Shape().Dim(-1)
	if !labels.DType().IsInt() || labels.Rank() != logits.Rank()-1 || labels.Shape().Size()*V != logits.Shape().Size() {
		exceptions.Panicf("bert.LabelLogProbs: want logits [..., V] and integer labels [...], got %s and %s", logits.Shape(), labels.Shape())
	}
	g := logits.Graph()
	N := labels.Shape().Size()
	flat := graph.Reshape(logits, N, V)
	m := graph.StopGradient(graph.ReduceMax(flat, -1)) // [N]; the shift does not change the value.
	lse := graph.Add(graph.Log(graph.ReduceSum(graph.Exp(graph.Sub(flat, graph.ExpandAxes(m, -1))), -1)), m)
	// Index n·V + label[n] into the flattened logits.
	idx := graph.Add(graph.MulScalar(graph.Iota(g, shapes.Make(dtypes.Int32, N), 0), float64(V)),
		graph.ConvertDType(graph.Reshape(labels, N), dtypes.Int32))
	picked := graph.Gather(graph.Reshape(logits, N*V), graph.ExpandAxes(idx, -1)) // [N]
	return graph.Reshape(graph.Sub(picked, lse), labels.Shape().Dimensions...)
}
