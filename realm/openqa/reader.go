package openqa

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
	"github.com/realm-go/realm/realm"
)

// This file is the reader of open-domain QA fine-tuning (REALM §3.5, which follows ORQA, Lee et
// al. 2019, §4): a BERT over [CLS] question [SEP] block body [SEP] whose span scores, added to
// the retrieval score of their block, define
//
//	p(y|x) ∝ Σ_{z ∈ top-k} Σ_{s ∈ S(z,y)} exp( f(x,z) + g(s) ),   g(s) = MLP([h_start(s); h_end(s)])
//
// normalised over every candidate span of every top-k block (ORQA's "marginal_log_loss" over the
// flattened [k·spans] logits). Since log p(z|x) = f(x,z) − log Σ_k exp f(x,z') differs from f by a
// constant per question, adding f or log p(z|x) gives the same distribution; the graph adds
// f, as ORQA and Hugging Face's RealmReader do.
//
// # Variables and the Hugging Face REALM layout
//
// The reader lives under the scope "reader" of the same model.Scope as the retriever towers
// ("embedder", "query_embedder") and the pre-training encoder ("encoder"): a BERT with the
// layout of package layers/bert, and the span head under "reader/qa_outputs". A converter from
// the Hugging Face checkpoint google/realm-orqa-nq-openqa (RealmForOpenQA: model.safetensors or
// pytorch_model.bin, config.json with span_hidden_size=256, max_span_width=10,
// reader_beam_size=5, reader_seq_len=320, searcher_beam_size=5000, retriever_proj_size=128,
// reader_layer_norm_eps=1e-3) would take:
//
//	embedder.realm.<BERT name without "bert.">   /embedder/<bert.Mapping path>       (query tower; the towers are shared)
//	embedder.cls.dense.{weight,bias}             /embedder/projection/dense/{weights,biases}            (weight transposed)
//	embedder.cls.LayerNorm.{weight,bias}         /embedder/projection_layer_norm/layer_normalization/{gain,offset}
//	embedder.cls.predictions.*                   (unused: the retriever has no MLM head; skip)
//	reader.realm.<BERT name without "bert.">     /reader/<bert.Mapping path>
//	reader.cls.predictions.*                     (unused by QA; skip)
//	reader.qa_outputs.dense_intermediate.{weight,bias}   /reader/qa_outputs/dense_intermediate/dense/{weights,biases}  (weight transposed, [H, 2·256])
//	reader.qa_outputs.dense_output.{weight,bias}         /reader/qa_outputs/dense_output/dense/{weights,biases}        (weight transposed, [256, 1])
//	reader.qa_outputs.layer_normalization.{weight,bias}  /reader/qa_outputs/layer_normalization/{gain,offset}
//	block_emb [13353718, 128]                     the fixed document embeddings: mips.NewExact(block_emb, ids 0…N−1, 128)
//
// plus the block texts (the RealmRetriever's block_records.npy, one string per block, which
// become a realm.Corpus with empty titles) and the tokenizer's vocab.txt (tokenize.FromVocabTxt,
// lower-cased). bert.HFNames gives the BERT half of the table; dense_intermediate's output
// columns are [start projection (256) | end projection (256)] in both layouts.

// ReaderScope is the scope of the QA reader (its BERT and its span head).
const ReaderScope = "reader"

// ReaderConfig holds the reader's hyperparameters and the beams of fine-tuning and answering.
type ReaderConfig struct {
	// SpanHiddenSize is the width of the start and end projections of the span MLP (256 in
	// ORQA/REALM; dense_intermediate has 2× this many outputs).
	SpanHiddenSize int `json:"span_hidden_size"`
	// MaxSpanWidth is the longest answer span in wordpieces (10 in ORQA/REALM).
	MaxSpanWidth int `json:"max_span_width"`
	// ReaderBeam is the number k of top blocks the reader reads (5 in ORQA/REALM).
	ReaderBeam int `json:"reader_beam"`
	// RetrieverBeam is the wider top-k of the retriever loss and of recall (REALM used 5000 over
	// 13M Wikipedia blocks; 100 is the default for the Factbook's ~10k blocks).
	RetrieverBeam int `json:"retriever_beam"`
	// LayerNormEps is the epsilon of the span MLP's LayerNorm (1e-3: Keras' default, which ORQA
	// used and Hugging Face kept as reader_layer_norm_eps).
	LayerNormEps float64 `json:"layer_norm_eps"`
	// Batch is the number of questions the reader evaluates per call when answering (the last
	// call is padded, so every call runs the same compiled graph).
	Batch int `json:"batch"`
	// ExactGold makes the fine-tuning gold spans the occurrences of an answer's wordpieces
	// (BlockText.AnswerSpans: ORQA's and transformers' block_has_answer matching). By default
	// they are every whole-word span whose text equals an answer under SQuAD normalisation
	// (BlockText.MatchSpans), the spans exact match counts as right: on the demo's Factbook
	// questions the reader learned faster from those (see the README's main job).
	ExactGold bool `json:"exact_gold,omitempty"`
	// SeqLen is the reader's sequence length: [CLS] question [SEP] body [SEP] packed into SeqLen
	// positions, the body cut to fit (ORQA's and Hugging Face's reader_seq_len, 288 and 320
	// there). 0 takes realm.Config.ReaderLen, QueryLen + DocLen, which never cuts a body; questions
	// are usually far shorter than QueryLen (the Factbook's: 8 wordpieces at the median, 30 at
	// most), so a shorter SeqLen saves the reader's compute on padding.
	SeqLen int `json:"reader_seq_len,omitempty"`
	// Spans is which spans of a block the reader scores: SpansWordpiece (every span of at most
	// MaxSpanWidth wordpieces, as ORQA, REALM and transformers' RealmReader do;
	// DefaultReaderConfig's) or SpansWholeWord (only spans that start and end at word
	// boundaries; the main job's, whose answers are whole words). Empty means SpansWholeWord: QA
	// runs saved before the option existed scored whole-word spans, and answer as they did.
	Spans string `json:"spans,omitempty"`
	// SkipUnknown leaves the question's [UNK] pieces out of what the reader reads (the retriever
	// still embeds them), as transformers' RealmRetriever does: it gives the reader
	// tokenizer.decode(question, skip_special_tokens=True) tokenised again. hfrealm sets it for
	// released models.
	SkipUnknown bool `json:"skip_unknown,omitempty"`
}

// The values of ReaderConfig.Spans.
const (
	// SpansWordpiece scores every span of wordpieces: a span may start or end inside a word.
	SpansWordpiece = "wordpiece"
	// SpansWholeWord scores only spans of whole words.
	SpansWholeWord = "whole_word"
)

// WholeWords reports whether the reader scores whole-word spans only.
func (rc ReaderConfig) WholeWords() bool { return rc.Spans != SpansWordpiece }

// Len is the reader's sequence length under model configuration cfg (SeqLen, or cfg.ReaderLen
// when SeqLen is 0).
func (rc ReaderConfig) Len(cfg realm.Config) int {
	if rc.SeqLen > 0 {
		return rc.SeqLen
	}
	return cfg.ReaderLen()
}

// DefaultReaderConfig returns ORQA/REALM's reader settings (every wordpiece span of at most 10
// pieces) with a retriever beam of 100.
func DefaultReaderConfig() ReaderConfig {
	return ReaderConfig{SpanHiddenSize: 256, MaxSpanWidth: 10, ReaderBeam: 5, RetrieverBeam: 100, LayerNormEps: 1e-3, Batch: 8, Spans: SpansWordpiece}
}

// Validate checks the reader settings.
func (rc ReaderConfig) Validate() error {
	switch {
	case rc.SpanHiddenSize <= 0:
		return fmt.Errorf("realm reader: span_hidden_size must be > 0, got %d", rc.SpanHiddenSize)
	case rc.MaxSpanWidth <= 0:
		return fmt.Errorf("realm reader: max_span_width must be > 0, got %d", rc.MaxSpanWidth)
	case rc.ReaderBeam <= 0:
		return fmt.Errorf("realm reader: reader_beam must be > 0, got %d", rc.ReaderBeam)
	case rc.RetrieverBeam < rc.ReaderBeam:
		return fmt.Errorf("realm reader: retriever_beam %d must be ≥ reader_beam %d", rc.RetrieverBeam, rc.ReaderBeam)
	case rc.LayerNormEps <= 0:
		return fmt.Errorf("realm reader: layer_norm_eps must be > 0, got %g", rc.LayerNormEps)
	case rc.Batch <= 0:
		return fmt.Errorf("realm reader: batch must be > 0, got %d", rc.Batch)
	case rc.SeqLen < 0:
		return fmt.Errorf("realm reader: reader_seq_len must be ≥ 0, got %d", rc.SeqLen)
	case rc.Spans != "" && rc.Spans != SpansWordpiece && rc.Spans != SpansWholeWord:
		return fmt.Errorf("realm reader: spans %q is not %q or %q", rc.Spans, SpansWordpiece, SpansWholeWord)
	}
	return nil
}

// InitReaderFromEncoder copies the pre-trained knowledge-augmented encoder's BERT (not its MLM
// head) into the reader scope, as REALM initialises its QA reader (§3.5). The span head is
// created fresh by the first graph that uses it.
func InitReaderFromEncoder(store *model.Store) error {
	skipHead := func(rel string) bool { return strings.HasPrefix(rel, "/mlm") }
	if _, err := realm.CopyVariables(store, "/"+realm.EncoderScope, "/"+ReaderScope, skipHead); err != nil {
		return fmt.Errorf("realm: initialising the reader from the encoder: %w", err)
	}
	return nil
}

// SpanScores is the span scorer of ORQA/REALM: for every candidate span s = (i, j) of every
// joined input,
//
//	[p_start; p_end] = W_int·h + b_int                  (qa_outputs/dense_intermediate, 2×SpanHiddenSize)
//	g(s)             = w_out · LayerNorm(ReLU(p_start[i] + p_end[j])) + b_out
//
// scope is the reader's scope (its BERT and "qa_outputs"); ids, types, mask [N, R]; starts and
// ends int32 [N, NS] are positions in the joined input (padding spans may point anywhere valid:
// the caller masks them). Returns [N, NS].
func SpanScores(scope *model.Scope, enc bert.Config, rc ReaderConfig, ids, types, mask, starts, ends *Node) *Node {
	h := bert.Encode(scope, enc, ids, types, mask) // [N, R, H]
	return SpanHead(scope.In("qa_outputs"), enc.InitializerRange, rc, h, starts, ends)
}

// SpanHead is the span MLP of SpanScores over given hidden states h [N, R, H] → [N, NS].
func SpanHead(scope *model.Scope, initStd float64, rc ReaderConfig, h, starts, ends *Node) *Node {
	scope = scope.WithInitializer(initializer.RandomNormalFn(scope, initStd))
	n := rc.SpanHiddenSize
	proj := layers.DenseWithBias(scope.In("dense_intermediate"), h, 2*n) // [N, R, 2n]
	pStart := SliceAxis(proj, -1, AxisRange(0, n))
	pEnd := SliceAxis(proj, -1, AxisRange(n, 2*n))
	hidden := Add(bert.GatherPositions(pStart, starts), bert.GatherPositions(pEnd, ends)) // [N, NS, n]
	hidden = Max(hidden, ZerosLike(hidden))                                               // ReLU
	hidden = norm.LayerNorm(scope, hidden, -1).Epsilon(rc.LayerNormEps).Done()
	return Squeeze(layers.DenseWithBias(scope.In("dense_output"), hidden, 1), -1)
}

// readerMaskedOut is the logit given to masked-out candidates: finite, so a row with no candidate at
// all stays finite (its loss is then multiplied by 0) and gradients never meet 0·∞.
const readerMaskedOut = -1e9

// MarginalLogLoss is ORQA's marginal_log_loss over the last axis:
//
//	loss = log Σ_{c ∈ candidates} exp(logit_c) − log Σ_{c ∈ correct} exp(logit_c) = −log Σ_{c correct} p(c)
//
// logits [..., C]; candidates and correct bool [..., C] (correct ⊆ candidates). It returns the
// loss [...] — zero where no candidate is correct, as the official code multiplies it by
// any(correct) — and that any(correct) as float32 [...].
func MarginalLogLoss(logits, candidates, correct *Node) (loss, anyCorrect *Node) {
	off := FillScalar(logits.Graph(), logits.Shape(), readerMaskedOut)
	den := realm.LogSumExp(Where(candidates, logits, off), -1)
	gold := LogicalAnd(correct, candidates)
	num := realm.LogSumExp(Where(gold, logits, off), -1)
	anyCorrect = ConvertDType(ReduceMax(ConvertDType(gold, dtypes.Float32), -1), logits.DType())
	return Mul(Sub(den, num), anyCorrect), anyCorrect
}

// ReaderLogLikelihood is log p(y|x) of REALM §3.5 for a batch: the logits of every candidate
// span of every top-k block are g(s) + f(x,z); log p(y|x) = logsumexp over the correct spans
// S(z,y) of all k blocks minus logsumexp over all candidate spans of all k blocks.
//
// spanScores [B, K, NS] are g(s); retrieval [B, K] the scores f(x,z) (or zeros for a uniform
// p(z|x)); candidates and gold bool [B, K, NS]. Returns the reader loss −log p(y|x) [B] (zero for
// questions with no correct span in their top-k, which contribute no reader loss, as in the
// official code), the indicator of such a correct span [B], and the full logits [B, K, NS] with
// masked candidates at a large negative value.
func ReaderLogLikelihood(spanScores, retrieval, candidates, gold *Node) (loss, anyGold, logits *Node) {
	B, K, NS := spanScores.Shape().Dim(0), spanScores.Shape().Dim(1), spanScores.Shape().Dim(2)
	logits = Add(spanScores, BroadcastToDims(InsertAxes(retrieval, -1), B, K, NS))
	loss, anyGold = MarginalLogLoss(Reshape(logits, B, K*NS), Reshape(candidates, B, K*NS), Reshape(gold, B, K*NS))
	return loss, anyGold, Where(candidates, logits, FillScalar(logits.Graph(), logits.Shape(), readerMaskedOut))
}

// RetrieverEarlyLoss is ORQA's early-update retriever loss over the wide beam:
// −log Σ_{z positive} p(z|x) with p(z|x) = softmax_z f(x,z) over the RetrieverBeam blocks, zero
// for questions whose beam holds no block containing an answer.
//
// scores [B, Kw] are f(x,z); positive bool [B, Kw]. Returns the loss [B] and the indicator [B].
func RetrieverEarlyLoss(scores, positive *Node) (loss, anyPositive *Node) {
	all := BroadcastToShape(Const(scores.Graph(), true), positive.Shape())
	return MarginalLogLoss(scores, all, positive)
}
