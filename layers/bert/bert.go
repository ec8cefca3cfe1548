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
// turns those logits into per-token log-likelihoods (the MLM loss is their negated mean);
// MLMLogProbs does both without returning the logits, faster for training.
// Dropout is active only when the store is in training mode for the graph.
//
// # Performance on the pure-Go backend
//
// The graphs are laid out for github.com/gomlx/compute's go backend (see
// bench/RESULTS.md): attention keeps heads before the sequence axis so its matmuls need no
// transposes, training graphs avoid fused ops that have no gradient of their own, and large
// batches are built as two independent chains so that both cores work (the backend runs each
// element-wise op, reduction and transpose on one core). Results match the plain formulation
// up to float rounding; the PyTorch parity tests cover every path.
//
// # Weight decay
//
// BERT's AdamW does not decay biases and LayerNorm parameters; GoMLX's
// optimizer.Adam().WeightDecay decays every trainable variable. DecayExempt tells which
// variables BERT exempts, for trainers that apply decay themselves.
package bert

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
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
//
// In training graphs it is built from primitive ops with the variables of norm.LayerNorm
// (layer_normalization/{gain,offset}): the backend's fused LayerNorm has no gradient of its own,
// so GoMLX differentiates its decomposed twin, which then runs as well — the fused op would only
// add work. Inference graphs use norm.LayerNorm (the fused op).
func layerNorm(scope *model.Scope, cfg Config, x *graph.Node) *graph.Node {
	g := x.Graph()
	if !scope.IsTraining(g) {
		return norm.LayerNorm(scope, x, -1).Epsilon(cfg.LayerNormEps).Done()
	}
	// Same variables, initialisers and operations as norm.LayerNorm → nn.LayerNorm's decomposed path.
	ln := scope.In("layer_normalization")
	H := x.Shape().Dim(-1)
	gain := ln.WithInitializer(initializer.One).VariableWithShape("gain", shapes.Make(x.DType(), H)).SetTrainable(true)
	offset := ln.WithInitializer(initializer.Zero).VariableWithShape("offset", shapes.Make(x.DType(), H)).SetTrainable(true)
	mean := graph.ReduceAndKeep(x, graph.ReduceMean, -1)
	xc := graph.Sub(x, mean)
	variance := graph.ReduceAndKeep(graph.Square(xc), graph.ReduceMean, -1)
	y := graph.Div(xc, graph.Sqrt(graph.Add(variance, graph.ConstAs(x, cfg.LayerNormEps))))
	y = graph.Mul(y, graph.ExpandLeftToRank(gain.NodeValue(g), y.Rank()))
	return graph.Add(y, graph.ExpandLeftToRank(offset.NodeValue(g), y.Rank()))
}

// hiddenAct applies cfg.HiddenAct, the activation of the feed-forward blocks and of the MLM
// head's transform (Hugging Face's ACT2FN names):
//   - "gelu": the exact GELU, x·Φ(x) with Φ through erf. Training graphs build it from primitive
//     ops (the fused op's gradient is taken through this same decomposition, which would run
//     besides it); inference graphs use the backend's fused GELU.
//   - "gelu_new" and "gelu_pytorch_tanh": the tanh approximation of GPT-2 and of Google's
//     released REALM checkpoints, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
//   - "relu": max(x, 0).
//
// Config.Validate rejects any other name.
func hiddenAct(scope *model.Scope, cfg Config, x *graph.Node) *graph.Node {
	switch cfg.HiddenAct {
	case ActGeluTanh, ActGeluPyTorchTanh:
		return activation.GeluApproximate(x)
	case ActRelu:
		return activation.Relu(x)
	}
	if !scope.IsTraining(x.Graph()) {
		return activation.Gelu(x)
	}
	cdf := graph.MulScalar(graph.AddScalar(graph.Erf(graph.DivScalar(x, math.Sqrt2)), 1), 0.5)
	return graph.Mul(x, cdf)
}

// selfAttention is BERT's multi-head self-attention with the variables of GoMLX's
// attention.SelfAttention(scope, x, A, H/A) (MultiHeadAttention/{query,key,value,output}/dense),
// created in the same order, laid out for the pure-Go backend: heads are moved before the
// sequence axis once ([B,S,A,D] → [B,A,S,D]) so that both attention matmuls and their
// gradients run in the backend's native batched layout without further transposes (the
// BSHD layout of attention.Core makes the backend transpose scores, probabilities and values
// in both passes), and the key mask is applied as an additive −1e9 bias with a plain softmax
// (exp(−1e9 − max) is exactly 0, the same result as a masked softmax when a row has at least
// one real key, with fewer passes). mask is bool [B, S] or nil; dropout on the probabilities
// only while training.
func selfAttention(scope *model.Scope, cfg Config, x, mask *graph.Node) *graph.Node {
	g := x.Graph()
	B, S, H := x.Shape().Dim(0), x.Shape().Dim(1), x.Shape().Dim(2)
	A, D := cfg.NumAttentionHeads, cfg.HeadDim()
	mha := scope.In("MultiHeadAttention")
	k := layers.Dense(mha.In("key"), x, true, A, D) // [B, S, A, D]
	q := layers.Dense(mha.In("query"), x, true, A, D)
	v := layers.Dense(mha.In("value"), x, true, A, D)
	toBHSD := func(t *graph.Node) *graph.Node { return graph.TransposeAllAxes(t, 0, 2, 1, 3) }
	q, k, v = toBHSD(q), toBHSD(k), toBHSD(v)
	// Scores Q·Kᵀ/√D. When 1/√D is a power of two (D = 64 in BERT-Base/Small/Tiny) scaling is
	// exact, so it is applied to Q [B,A,S,D] rather than to the larger scores [B,A,S,S] — the
	// same values with fewer operations; otherwise the scores are scaled as in BERT.
	scale := 1 / math.Sqrt(float64(D))
	var scores *graph.Node
	if frac, _ := math.Frexp(scale); frac == 0.5 && scaleQueries {
		scores = graph.Einsum("bhqd,bhkd->bhqk", graph.MulScalar(q, scale), k)
	} else {
		scores = graph.MulScalar(graph.Einsum("bhqd,bhkd->bhqk", q, k), scale)
	} // [B, A, S, S]
	if mask != nil {
		bias := graph.Where(mask, graph.ZerosLike(graph.ConvertDType(mask, scores.DType())),
			graph.BroadcastToShape(graph.Scalar(g, scores.DType(), -1e9), mask.Shape())) // [B, S]
		scores = graph.Add(scores, graph.BroadcastToDims(graph.Reshape(bias, B, 1, 1, S), B, A, S, S))
	}
	var probs *graph.Node
	if scope.IsTraining(g) {
		m := graph.StopGradient(graph.ReduceAndKeep(scores, graph.ReduceMax, -1))
		e := graph.Exp(graph.Sub(scores, m))
		probs = graph.Div(e, graph.ReduceAndKeep(e, graph.ReduceSum, -1))
		if cfg.AttentionProbsDropoutProb > 0 {
			probs = layers.DropoutStatic(mha, probs, cfg.AttentionProbsDropoutProb)
		}
	} else {
		probs = graph.Softmax(scores, -1)
	}
	ctx := graph.Einsum("bhqk,bhkd->bhqd", probs, v)                        // [B, A, S, D]
	ctx = graph.Reshape(graph.TransposeAllAxes(ctx, 0, 2, 1, 3), B, S, A*D) // [B, S, H]
	return layers.Dense(mha.In("output"), ctx, true, H)
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
// hidden state is computed but never attended to; a row with no real token is meaningless (it
// attends uniformly to its padding).
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
	emb := scope.In("embeddings")
	x := embed(emb, cfg, ids, typeIDs)
	if n := numChunks(batch, batch*seqLen, splitMinTokens); n > 1 {
		// Independent chains for parts of the batch (see numChunks), each with the same
		// variables: the first part creates them, the others re-enter the same scopes. The
		// embedding lookups stay whole (one scatter into the tables' gradients).
		parts := make([]*graph.Node, n)
		for i := range n {
			lo, hi := i*batch/n, (i+1)*batch/n
			var maskPart *graph.Node
			if mask != nil {
				maskPart = graph.Slice(mask, graph.AxisRange(lo, hi))
			}
			sc, ec := scope, emb
			if i > 0 {
				sc, ec = scope.ResetVisited(), emb.ResetVisited()
			}
			parts[i] = encodeLayers(sc, ec, cfg, graph.Slice(x, graph.AxisRange(lo, hi)), maskPart)
		}
		return graph.Concatenate(parts, 0)
	}
	return encodeLayers(scope, emb, cfg, x, mask)
}

// Batch splitting. The pure-Go backend runs every element-wise op, reduction and transpose
// of a graph on one core (only matmuls and a few fused ops are split across workers) while
// it runs independent ops concurrently. Encode therefore builds the encoder as independent
// chains over parts of the batch when the batch is large enough: every op but the matmuls
// then has a twin that the other core can run. Each sequence's hidden states are computed
// by the same operations as without splitting; only the gradients of the shared weights are
// summed in a different order (float rounding).
var (
	// splitChunks is the number of parts (the machines this project targets have 2 cores).
	splitChunks = 2
	// splitMinTokens is the smallest part of an encoder batch worth its own chain, in tokens.
	splitMinTokens = 1024
	// splitMinLogits is the smallest part of an MLM head worth its own chain, in logits.
	splitMinLogits = 1 << 20
)

// scaleQueries lets selfAttention scale Q instead of the scores when that is exact (tests
// compare both).
var scaleQueries = true

// numChunks returns into how many parts a batch of the given size and total work is split
// so that each part has at least minWork: 1 (no split) for small batches.
func numChunks(batch, work, minWork int) int {
	n := min(splitChunks, batch)
	for n > 1 && work/n < minWork {
		n--
	}
	return max(n, 1)
}

// embed returns the sum of the word, token-type and position embeddings (the variables under
// emb, the embeddings scope) for ids, typeIDs [B, S] → [B, S, H].
func embed(emb *model.Scope, cfg Config, ids, typeIDs *graph.Node) *graph.Node {
	g := ids.Graph()
	seqLen, H := ids.Shape().Dim(1), cfg.HiddenSize
	x := layers.Embedding(emb.In("word"), ids, dtypes.Float32, cfg.VocabSize, H)
	x = graph.Add(x, layers.Embedding(emb.In("token_type"), typeIDs, dtypes.Float32, cfg.TypeVocabSize, H))
	posIDs := graph.Iota(g, shapes.Make(dtypes.Int32, seqLen), 0)
	pos := layers.Embedding(emb.In("position"), posIDs, dtypes.Float32, cfg.MaxPositionEmbeddings, H) // [S, H]
	return graph.Add(x, graph.ExpandLeftToRank(pos, 3))
}

// encodeLayers is the rest of Encode on the summed embeddings x [B, S, H]: the embeddings'
// LayerNorm and dropout (emb is the embeddings scope), then the transformer blocks.
func encodeLayers(scope, emb *model.Scope, cfg Config, x, mask *graph.Node) *graph.Node {
	H := cfg.HiddenSize
	// Embeddings: E = LayerNorm(W_word[ids] + W_pos[0..S) + W_type[typeIDs]).
	x = layerNorm(emb.In("layer_norm"), cfg, x)
	x = dropout(scope, x, cfg.HiddenDropoutProb)

	for l := range cfg.NumHiddenLayers {
		ls := scope.In("layer_%d", l)
		// Self-attention: softmax(Q Kᵀ / √d_head + mask) V per head, then the output projection.
		a := dropout(ls, selfAttention(ls.In("attention"), cfg, x, mask), cfg.HiddenDropoutProb)
		// Post-LN residual: x = LayerNorm(x + Dropout(Attention(x))).
		x = layerNorm(ls.In("attention_layer_norm"), cfg, graph.Add(x, a))
		// Feed-forward: x = LayerNorm(x + Dropout(W₂ act(W₁ x + b₁) + b₂)), act = cfg.HiddenAct.
		h := hiddenAct(scope, cfg, layers.DenseWithBias(ls.In("intermediate"), x, cfg.IntermediateSize))
		h = dropout(ls, layers.DenseWithBias(ls.In("output"), h, H), cfg.HiddenDropoutProb)
		x = layerNorm(ls.In("output_layer_norm"), cfg, graph.Add(x, h))
	}
	return x
}

// CLS returns the hidden state of the first ([CLS]) token of each sequence: [B, S, H] → [B, H].
func CLS(hidden *graph.Node) *graph.Node {
	return graph.Squeeze(graph.Slice(hidden, graph.AxisRange(), graph.AxisElem(0)), 1)
}

// MeanPool averages the hidden states of each sequence's real tokens, Σ_s m_s h_s / Σ_s m_s:
// [B, S, H] and the bool attention mask [B, S] → [B, H]. It is the sentence embedding of
// sentence-transformers models such as all-MiniLM-L6-v2 (checked against them in TestMiniLM);
// each row of mask needs at least one true entry.
func MeanPool(hidden, mask *graph.Node) *graph.Node {
	m := graph.ExpandAxes(graph.ConvertDType(mask, hidden.DType()), -1)
	return graph.Div(graph.ReduceSum(graph.Mul(hidden, m), 1), graph.ReduceSum(m, 1))
}

// Pooler is BERT's pooler, tanh(W·h_CLS + b) → [B, H] (Hugging Face bert.pooler.dense),
// the [CLS] summary that REALM's retriever projects (realm.PoolingPooler).
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
	table := scope.At("embeddings").At("word").GetVariable("embeddings")
	if table == nil {
		exceptions.Panicf("bert.MLMLogits: no word embeddings under scope %q: call Encode (or Load) with the same scope first", scope.Scope())
	}
	return mlmHead(scope, cfg, GatherPositions(hidden, positions))
}

// mlmHead is the MLM head on the gathered hidden states sel [B, M, H] → logits [B, M, V].
func mlmHead(scope *model.Scope, cfg Config, sel *graph.Node) *graph.Node {
	g := sel.Graph()
	table := scope.At("embeddings").At("word").GetVariable("embeddings")
	if table == nil {
		exceptions.Panicf("bert.MLMLogits: no word embeddings under scope %q: call Encode (or Load) with the same scope first", scope.Scope())
	}
	scope = scope.WithInitializer(initializerFor(scope, cfg))
	mlm := scope.In("mlm")
	h := hiddenAct(scope, cfg, layers.DenseWithBias(mlm.In("transform"), sel, cfg.HiddenSize))
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

// MLMLogProbs is LabelLogProbs(MLMLogits(scope, cfg, hidden, positions), labels): the MLM
// log-likelihood log p(labels[b,m]) at the given positions, hidden [B, S, H], int32 positions
// and integer labels [B, M] → [B, M], without returning the [B, M, V] logits. For large
// batches it evaluates the head as independent chains over parts of the batch (see
// numChunks), so that the vocabulary-sized soft-max, its gradient and the decoder's
// transposes run on both cores; every log-probability is computed by the same operations.
// Training loops that need only the loss should prefer it to MLMLogits + LabelLogProbs.
func MLMLogProbs(scope *model.Scope, cfg Config, hidden, positions, labels *graph.Node) *graph.Node {
	B, M := positions.Shape().Dim(0), positions.Shape().Dim(1)
	if !labels.DType().IsInt() || labels.Rank() != 2 || labels.Shape().Dim(0) != B || labels.Shape().Dim(1) != M {
		exceptions.Panicf("bert.MLMLogProbs: want integer labels [%d, %d], got %s", B, M, labels.Shape())
	}
	n := numChunks(B, B*M*cfg.VocabSize, splitMinLogits)
	if n <= 1 {
		return LabelLogProbs(MLMLogits(scope, cfg, hidden, positions), labels)
	}
	sel := GatherPositions(hidden, positions) // [B, M, H]
	parts := make([]*graph.Node, n)
	for i := range n {
		lo, hi := i*B/n, (i+1)*B/n
		sc := scope
		if i > 0 {
			sc = scope.ResetVisited()
		}
		parts[i] = LabelLogProbs(mlmHead(sc, cfg, graph.Slice(sel, graph.AxisRange(lo, hi))), graph.Slice(labels, graph.AxisRange(lo, hi)))
	}
	return graph.Concatenate(parts, 0)
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
