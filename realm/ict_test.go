package realm

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/layers/backend"
)

// TestICTLearns trains the retriever on synthetic ICT batches (each query is a few tokens of
// its block, among them the block's topic word) and checks that in-batch accuracy climbs far above chance.
func TestICTLearns(t *testing.T) {
	cfg := tinyConfig()
	cfg.Retriever.HiddenSize, cfg.Retriever.IntermediateSize, cfg.ProjectionDim = 32, 64, 16
	const B, steps = 8, 600
	store := model.NewStore()
	store.SetParam(initializer.ParamInitialSeed, int64(1))
	opt := Optimizer{PeakLR: 1e-2, WarmupSteps: 20, TotalSteps: steps, ClipNorm: 1}
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
			w := seqWriter{ids: dIDs[i*D : (i+1)*D], types: dTypes[i*D : (i+1)*D], mask: dMask[i*D : (i+1)*D]}
			w.put(1, 0)
			w.put(2, 0)
			w.putAll(body, 1)
			w.put(2, 1)
			w = seqWriter{ids: qIDs[i*Q : (i+1)*Q], types: qTypes[i*Q : (i+1)*Q], mask: qMask[i*Q : (i+1)*Q]}
			w.put(1, 0)
			start := rng.IntN(len(body) - 4)
			w.putAll(body[start:start+4], 0)
			w.put(2, 0)
			w.pad(0)
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

// TestWithLookAlikes checks how a hard-negative ICT batch is filled: each seed brings its first
// look-alike not yet in the batch, and a seed without one brings another block, never a repeat.
func TestWithLookAlikes(t *testing.T) {
	exs := make([]examples.ICT, 6)
	for i := range exs {
		exs[i].BlockID = int64(10 + i)
	}
	neighbours := make([][]int64, 16)
	neighbours[10] = []int64{11}
	neighbours[12] = []int64{10, 13} // 10 is a seed already: 13 comes instead.
	neighbours[14] = []int64{99}     // no example for block 99: a fill-in.
	batch := withLookAlikes([]examples.ICT{exs[0], exs[2], exs[4]}, exs, exs, neighbours, 5)
	var ids []int64
	seen := map[int64]bool{}
	for _, ex := range batch {
		ids = append(ids, ex.BlockID)
		if seen[ex.BlockID] {
			t.Errorf("block %d twice in the batch %v", ex.BlockID, ids)
		}
		seen[ex.BlockID] = true
	}
	if len(ids) != 6 || ids[3] != 11 || ids[4] != 13 {
		t.Errorf("batch %v, want seeds 10 12 14, then 11, 13 and a fill-in", ids)
	}
}

// TestTrainICTHardNegatives runs ICT with look-alike negatives and masked queries on a few
// Factbook countries, and refuses an odd batch (the blocks come in pairs), a share of masked
// queries outside [0, 1] and masked queries without a tagger.
func TestTrainICTHardNegatives(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	cfg, c := smallFactbook(t, 30)
	be := backend.MustNew()
	h := &History{}
	run := RunConfig{Steps: 3, BatchSize: 6, LR: 1e-3, Seed: 1}
	masked := ICTOptions{HardNegatives: true, MaskQueries: 1, QueryTagger: spans.RuleTagger{}}
	if err := TrainICT(context.Background(), be, newStore(), cfg, c, run, h, masked); err != nil {
		t.Fatal(err)
	}
	if recs := h.Records(); len(recs) != run.Steps || math.IsNaN(recs[len(recs)-1].Metrics["loss"]) {
		t.Errorf("history %+v", recs)
	}
	run.BatchSize = 5
	err := TrainICT(context.Background(), be, newStore(), cfg, c, run, &History{}, ICTOptions{HardNegatives: true})
	if err == nil || !strings.Contains(err.Error(), "must be even") {
		t.Errorf("odd batch: err = %v, want one saying the batch size must be even", err)
	}
	run.BatchSize = 6
	for _, c2 := range []struct {
		opts ICTOptions
		want string
	}{
		{ICTOptions{MaskQueries: 1.5, QueryTagger: spans.RuleTagger{}}, "must lie in [0, 1], got 1.5"},
		{ICTOptions{MaskQueries: 0.5}, "needs a QueryTagger"},
	} {
		if err := TrainICT(context.Background(), be, newStore(), cfg, c, run, &History{}, c2.opts); err == nil || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("%+v: err = %v, want one containing %q", c2.opts, err, c2.want)
		}
	}
}
