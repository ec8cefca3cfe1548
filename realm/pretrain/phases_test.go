package pretrain

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/internal/realmtest"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm/training"
)

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
	cfg, c := realmtest.SmallFactbook(t, 30)
	be := backend.MustNew()
	h := &training.History{}
	run := training.RunConfig{Steps: 3, BatchSize: 6, LR: 1e-3, Seed: 1}
	masked := ICTOptions{HardNegatives: true, MaskQueries: 1, QueryTagger: spans.RuleTagger{}}
	if err := TrainICT(context.Background(), be, realmtest.NewStore(), cfg, c, run, h, masked); err != nil {
		t.Fatal(err)
	}
	if recs := h.Records(); len(recs) != run.Steps || math.IsNaN(recs[len(recs)-1].Metrics["loss"]) {
		t.Errorf("history %+v", recs)
	}
	run.BatchSize = 5
	err := TrainICT(context.Background(), be, realmtest.NewStore(), cfg, c, run, &training.History{}, ICTOptions{HardNegatives: true})
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
		if err := TrainICT(context.Background(), be, realmtest.NewStore(), cfg, c, run, &training.History{}, c2.opts); err == nil || !strings.Contains(err.Error(), c2.want) {
			t.Errorf("%+v: err = %v, want one containing %q", c2.opts, err, c2.want)
		}
	}
}
