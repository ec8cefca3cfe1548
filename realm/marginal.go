package realm

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph code reads like the paper with a dot import.

	"github.com/realm-go/realm/layers/bert"
)

// This file holds the probability calculus of REALM (Guu et al. 2020, §2.2–2.3), written as
// graph functions over the scores of the k candidate documents of each example. By convention
// candidate 0 of every example is the null document ∅ (§3.4), so
// utility and the "no retrieval" baseline can be read off index 0.

// RetrievalLogProbs is eq. (1) of the paper restricted to the retrieved candidates:
// log p(z|x) = f(x,z) − log Σ_{z'} exp f(x,z'), a log-softmax over the candidate axis.
//
// scores: [B, K] relevance f(x,z) = Embed_input(x)ᵀ Embed_doc(z) computed with the current θ (the
// stale index only chose the candidates). Returns [B, K].
func RetrievalLogProbs(scores *Node) *Node {
	return LogSoftmax(scores, -1)
}

// GoldLogProbs returns log p(y_j | z, x) for every candidate z and masked position j: the
// log-softmax of the masked-LM logits at the target token.
//
// logits: [B, K, M, V] masked-LM logits of the knowledge-augmented encoder at the M masked
// positions of each of the K joined inputs [CLS] x [SEP] z_body [SEP]; targets: int32 [B, M]
// (the original token ids). Returns [B, K, M].
func GoldLogProbs(logits, targets *Node) *Node {
	B, K, M := logits.Shape().Dim(0), logits.Shape().Dim(1), logits.Shape().Dim(2)
	tiled := BroadcastToDims(InsertAxes(ConvertDType(targets, dtypes.Int32), 1), B, K, M) // [B,K,M]
	return bert.LabelLogProbs(logits, tiled)
}

// MarginalLogLikelihood is eq. (2) of the paper applied to each masked token as the official
// implementation does: log p(y_j|x) = logsumexp_z [ log p(z|x) + log p(y_j|z,x) ].
//
// logPz: [B, K] from RetrievalLogProbs; gold: [B, K, M] from GoldLogProbs. Returns [B, M].
// Gradients flow into both terms: into the encoder through gold and into the retriever through
// logPz (eq. 3 of the paper: ∇ log p(y|x) = Σ_z r(z) ∇f(x,z)).
func MarginalLogLikelihood(logPz, gold *Node) *Node {
	joint := Add(InsertAxes(logPz, -1), gold) // [B,K,M]
	return LogSumExp(joint, 1)
}

// LogSumExp reduces axis with the max-shifted formula log Σ exp(x − m) + m, with m held
// constant for the gradient (GoMLX v0.28 has no reduce-logsumexp).
func LogSumExp(x *Node, axis int) *Node {
	m := StopGradient(ReduceAndKeep(x, ReduceMax, axis))
	// A row of −∞ would give m = −∞ and NaN; clamp m to a finite value first.
	m = Where(IsFinite(m), m, ZerosLike(m))
	return Squeeze(Add(Log(ReduceAndKeep(Exp(Sub(x, m)), ReduceSum, axis)), m), axis)
}

// MaskedMeanNLL is REALM's pre-training loss: −Σ_{b,j} mask·log p(y_j|x) / Σ mask, with 0 when
// no token is masked (the official div_no_nan).
//
// marginal: [B, M]; mask: bool [B, M] (false for padding targets).
func MaskedMeanNLL(marginal, mask *Node) *Node {
	w := ConvertDType(mask, marginal.DType())
	total := ReduceAllSum(Mul(marginal, w))
	count := ReduceAllSum(w)
	return Neg(Div(total, Max(count, OnesLike(count))))
}

// RetrievalUtility is the paper's diagnostic RU = log p(y|x) − log p(y|∅,x) per masked token,
// averaged over the real targets of each example: positive when retrieving helped predict the
// masked span beyond what the encoder knows with the null document alone (candidate 0).
//
// marginal: [B, M]; gold: [B, K, M]; mask: bool [B, M]. Returns [B].
func RetrievalUtility(marginal, gold, mask *Node) *Node {
	null := Squeeze(SliceAxis(gold, 1, AxisRange(0, 1)), 1) // [B,M]
	w := ConvertDType(mask, marginal.DType())
	num := ReduceSum(Mul(Sub(marginal, null), w), 1)
	return Div(num, Max(ReduceSum(w, 1), OnesLike(num)))
}

// RMultiplier is the paper's r(z) = p(y|z,x)/p(y|x) − 1 (§2.4), the factor by which a gradient
// step moves f(x,z): documents that predict the masked tokens better than the expectation over
// the top-k (r > 0) have their score raised, the others lowered. It is computed per masked
// token and averaged over the real targets of each example.
//
// marginal: [B, M]; gold: [B, K, M]; mask: bool [B, M]. Returns [B, K].
func RMultiplier(marginal, gold, mask *Node) *Node {
	ratio := Exp(Sub(gold, InsertAxes(marginal, 1))) // p(y_j|z,x)/p(y_j|x), [B,K,M]
	r := SubScalar(ratio, 1)
	w := InsertAxes(ConvertDType(mask, gold.DType()), 1) // [B,1,M]
	w = BroadcastToDims(w, r.Shape().Dimensions...)
	num := ReduceSum(Mul(r, w), -1)
	return Div(num, Max(ReduceSum(w, -1), OnesLike(num)))
}
