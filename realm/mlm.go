package realm

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/layers/bert"
)

// MLMOutputs are the graph values of one plain masked-language-model step.
type MLMOutputs struct {
	// Loss is the mean negative log-likelihood of the masked tokens.
	Loss *Node
	// Accuracy is 1 where the most likely token is the target, [B, M] (0 on padding slots).
	Accuracy *Node
}

// MLMForward is BERT's masked-language-model objective (Devlin et al. 2019) on the BERT under
// scope: the warm-up that gives the from-scratch REALM its language knowledge before retrieval
// is learned. ids/typeIDs/mask [B, S]; positions, targets, targetMask [B, M].
func MLMForward(scope *model.Scope, cfg bert.Config, ids, typeIDs, mask, positions, targets, targetMask *Node) MLMOutputs {
	h := bert.Encode(scope, cfg, ids, typeIDs, mask)
	logits := bert.MLMLogits(scope, cfg, h, positions) // [B, M, V]
	gold := Squeeze(GoldLogProbs(InsertAxes(logits, 1), targets), 1)
	pred := ConvertDType(ArgMax(logits, -1), dtypes.Int32)
	hit := And(Equal(pred, ConvertDType(targets, dtypes.Int32)), targetMask)
	return MLMOutputs{
		Loss:     MaskedMeanNLL(gold, targetMask),
		Accuracy: StopGradient(ConvertDType(hit, dtypes.Float32)),
	}
}

// CopyVariables copies the value of every variable under the scope path from (e.g.
// "/encoder") to the same relative path under to (e.g. "/embedder"), creating the
// destination variables as needed. It initialises REALM's retriever towers and encoder from
// one pre-trained BERT, as the paper does. Variables matching skip (by their path relative to
// from) are left out — e.g. the MLM head, which the retriever does not have.
func CopyVariables(store *model.Store, from, to string, skip func(rel string) bool) (int, error) {
	n := 0
	for v := range store.IterVariables() {
		p := v.Path()
		if len(p) <= len(from) || p[:len(from)] != from || p[len(from)] != '/' {
			continue
		}
		rel := p[len(from):]
		if skip != nil && skip(rel) {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return n, fmt.Errorf("copying %s: %w", p, err)
		}
		clone, err := val.Clone()
		if err != nil {
			return n, fmt.Errorf("copying %s: %w", p, err)
		}
		dst := to + rel
		if dv := store.GetVariable(dst); dv != nil {
			if !dv.Shape().Equal(val.Shape()) {
				return n, fmt.Errorf("copying %s to %s: shape %s ≠ %s", p, dst, val.Shape(), dv.Shape())
			}
			if err := dv.SetValue(clone); err != nil {
				return n, fmt.Errorf("copying %s to %s: %w", p, dst, err)
			}
		} else {
			scope, name := model.SplitPath(dst)
			if _, err := store.Scope(scope).CreateVariable(name, clone); err != nil {
				return n, fmt.Errorf("copying %s to %s: %w", p, dst, err)
			}
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("copying %s to %s: no variable under %s", from, to, from)
	}
	return n, nil
}

// MLMMaxMasks is the number of masked slots of an MLM example: 15% of QueryLen+DocLen, rounded up.
func (c Config) MLMMaxMasks() int { return (15*(c.QueryLen+c.DocLen) + 99) / 100 }
