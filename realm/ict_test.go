package realm

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm/training"
)

// TestICTLearns trains the retriever on synthetic ICT batches (each query is a few tokens of
// its block, among them the block's topic word) and checks that in-batch accuracy climbs far above chance.
func TestICTLearns(t *testing.T) {
	cfg := tinyConfig()
	cfg.Retriever.HiddenSize, cfg.Retriever.IntermediateSize, cfg.ProjectionDim = 32, 64, 16
	const B, steps = 8, 600
	store := model.NewStore()
	store.SetParam(initializer.ParamInitialSeed, int64(1))
	opt := training.Optimizer{PeakLR: 1e-2, WarmupSteps: 20, TotalSteps: steps, ClipNorm: 1}
	exec := model.MustNewExec(backend.MustNew(), store, func(scope *model.Scope, in []*Node) []*Node {
		o := cfg.ICTForward(scope, in[0], in[1], in[2], in[3], in[4], in[5])
		opt.Update(scope, o.Loss)
		return []*Node{o.Loss, ReduceAllMean(o.Accuracy)}
	})
	rng := rand.New(rand.NewPCG(3, 4))
	var accFirst, accLast float64
	const window = 30
	for step := range steps {
		Q, D := cfg.QueryLen, cfg.DocLen
		qIDs, qTypes, qMask := make([]int32, B*Q), make([]int32, B*Q), make([]bool, B*Q)
		dIDs, dTypes, dMask := make([]int32, B*D), make([]int32, B*D), make([]bool, B*D)
		for i := range B {
			// Each block has a topic word that fills half of it; its query mentions the topic.
			topic := int32(10 + rng.IntN(50))
			body := make([]int32, D-3)
			for j := range body {
				body[j] = int32(10 + rng.IntN(50))
				if j%2 == 0 {
					body[j] = topic
				}
			}
			w := SeqWriter{IDs: dIDs[i*D : (i+1)*D], Types: dTypes[i*D : (i+1)*D], Mask: dMask[i*D : (i+1)*D]}
			w.Put(1, 0)
			w.Put(2, 0)
			w.PutAll(body, 1)
			w.Put(2, 1)
			w = SeqWriter{IDs: qIDs[i*Q : (i+1)*Q], Types: qTypes[i*Q : (i+1)*Q], Mask: qMask[i*Q : (i+1)*Q]}
			w.Put(1, 0)
			start := rng.IntN(len(body) - 4)
			w.PutAll(body[start:start+4], 0)
			w.Put(2, 0)
			w.Pad(0)
		}
		out := exec.MustCall(
			tensors.FromFlatDataAndDimensions(qIDs, B, Q), tensors.FromFlatDataAndDimensions(qTypes, B, Q), tensors.FromFlatDataAndDimensions(qMask, B, Q),
			tensors.FromFlatDataAndDimensions(dIDs, B, D), tensors.FromFlatDataAndDimensions(dTypes, B, D), tensors.FromFlatDataAndDimensions(dMask, B, D))
		acc := float64(out[1].Value().(float32))
		if step < window {
			accFirst += acc / window
		} else if step >= steps-window {
			accLast += acc / window
		}
	}
	t.Logf("ICT in-batch accuracy %.3f → %.3f (chance %.3f)", accFirst, accLast, 1.0/B)
	if !(accLast > 0.5 && accLast > accFirst+0.2) {
		t.Errorf("ICT accuracy %.3f → %.3f: the retriever did not learn to find the query's block", accFirst, accLast)
	}
}
