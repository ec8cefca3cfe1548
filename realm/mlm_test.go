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

// TestMLMLearnsAndCopies trains the encoder's MLM on sequences where each token is its
// predecessor + 1 (so a masked token is predictable from its neighbours), then copies the
// trained BERT into a retriever tower.
func TestMLMLearnsAndCopies(t *testing.T) {
	cfg := tinyConfig()
	const B, S, M, steps = 8, 10, 2, 300
	store := model.NewStore()
	store.SetParam(initializer.ParamInitialSeed, int64(1))
	opt := training.Optimizer{PeakLR: 1e-2, WarmupSteps: 20, TotalSteps: steps, ClipNorm: 1}
	exec := model.MustNewExec(backend.MustNew(), store, func(scope *model.Scope, in []*Node) []*Node {
		o := MLMForward(scope.In(EncoderScope), cfg.Encoder, in[0], in[1], in[2], in[3], in[4], in[5])
		opt.Update(scope, o.Loss)
		return []*Node{o.Loss, ReduceAllMean(o.Accuracy)}
	})
	rng := rand.New(rand.NewPCG(5, 6))
	var first, last float64
	for step := range steps {
		ids, types, mask := make([]int32, B*S), make([]int32, B*S), make([]bool, B*S)
		pos, tgt, tmask := make([]int32, B*M), make([]int32, B*M), make([]bool, B*M)
		for b := range B {
			start := 10 + rng.IntN(40)
			for s := range S {
				ids[b*S+s], mask[b*S+s] = int32(start+s), true
			}
			for m := range M {
				p := 1 + m*4 + rng.IntN(3)
				pos[b*M+m], tgt[b*M+m], tmask[b*M+m] = int32(p), ids[b*S+p], true
				ids[b*S+p] = 3 // [MASK]
			}
		}
		out := exec.MustCall(tensors.FromFlatDataAndDimensions(ids, B, S), tensors.FromFlatDataAndDimensions(types, B, S),
			tensors.FromFlatDataAndDimensions(mask, B, S), tensors.FromFlatDataAndDimensions(pos, B, M),
			tensors.FromFlatDataAndDimensions(tgt, B, M), tensors.FromFlatDataAndDimensions(tmask, B, M))
		l := float64(out[0].Value().(float32))
		if step < 20 {
			first += l / 20
		} else if step >= steps-20 {
			last += l / 20
		}
	}
	t.Logf("MLM loss %.3f → %.3f", first, last)
	if !(last < 0.7*first) {
		t.Errorf("MLM loss %.3f → %.3f: want it at least 30%% lower", first, last)
	}

	n, err := CopyVariables(store, "/"+EncoderScope, "/"+EmbedderScope, func(rel string) bool { return len(rel) >= 4 && rel[:4] == "/mlm" })
	if err != nil {
		t.Fatal(err)
	}
	src := store.GetVariable("/" + EncoderScope + "/embeddings/word/embeddings").MustValue().Value().([][]float32)
	dst := store.GetVariable("/" + EmbedderScope + "/embeddings/word/embeddings")
	if dst == nil {
		t.Fatalf("CopyVariables copied %d variables but not the word embeddings", n)
	}
	if d := dst.MustValue().Value().([][]float32); d[12][3] != src[12][3] {
		t.Errorf("copied embedding %v ≠ source %v", d[12][3], src[12][3])
	}
	for v := range store.IterVariables() {
		if len(v.Path()) > len("/embedder/mlm") && v.Path()[:len("/embedder/mlm")] == "/embedder/mlm" {
			t.Errorf("skipped variable %s was copied", v.Path())
		}
	}
	if _, err := CopyVariables(store, "/nothing", "/x", nil); err == nil {
		t.Error("copying from an empty scope succeeded")
	}
}
