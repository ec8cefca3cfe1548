package pretrain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/internal/realmtest"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/training"
)

// TestMaskSentences checks the pre-training split: every masked sentence lands in Train, Eval
// or Skipped; the held-out share is the one asked for; a sentence is held out or not whatever
// the masking seed (the split hashes block and sentence only); and the same seed gives the same
// examples.
func TestMaskSentences(t *testing.T) {
	cfg, c := realmtest.SmallFactbook(t, 40)
	tagger := spans.RuleTagger{}
	s, err := MaskSentences(c, tagger, cfg, 1, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	n := len(s.Train) + len(s.Eval)
	if int64(n+s.Skipped) != s.Stats.Sentences || n == 0 {
		t.Fatalf("%d train + %d eval + %d skipped, masker saw %d sentences", len(s.Train), len(s.Eval), s.Skipped, s.Stats.Sentences)
	}
	if share, sd := float64(len(s.Eval))/float64(n), math.Sqrt(0.25*0.75/float64(n)); math.Abs(share-0.25) > 5*sd {
		t.Errorf("held-out share %.3f of %d sentences, want 0.25 ± %.3f", share, n, 5*sd)
	}
	type key struct {
		block    int64
		sentence int
	}
	held := map[key]bool{}
	for _, ex := range s.Eval {
		held[key{ex.BlockID, ex.Sentence}] = true
	}
	other, err := MaskSentences(c, tagger, cfg, 2, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range other.Train {
		if held[key{ex.BlockID, ex.Sentence}] {
			t.Fatalf("block %d sentence %d: held out with seed 1, trained on with seed 2", ex.BlockID, ex.Sentence)
		}
	}
	if again, err := MaskSentences(c, tagger, cfg, 1, 0.25); err != nil || !reflect.DeepEqual(again.Eval, s.Eval) || !reflect.DeepEqual(again.Train, s.Train) {
		t.Errorf("MaskSentences is not deterministic (err %v)", err)
	}
	if none, err := MaskSentences(c, tagger, cfg, 1, 0); err != nil || len(none.Eval) != 0 || len(none.Train) != n {
		t.Errorf("held-out share 0: %d eval, %d train, want 0 and %d (err %v)", len(none.Eval), len(none.Train), n, err)
	}
}

// TestResumeAfterKill kills an ICT run after its first checkpoint and resumes it in a fresh
// store: the resumed steps must see the same data and reach the same losses as an
// uninterrupted run.
func TestResumeAfterKill(t *testing.T) {
	cfg, c := realmtest.SmallFactbook(t, 12)
	be := backend.MustNew()
	run := training.RunConfig{Steps: 6, BatchSize: 4, LR: 1e-3, Seed: 5, CheckpointEvery: 3}

	full := &training.History{}
	run.Dir = filepath.Join(t.TempDir(), "full")
	if err := TrainICT(context.Background(), be, realmtest.NewStore(), cfg, c, run, full, ICTOptions{}); err != nil {
		t.Fatal(err)
	}

	run.Dir = filepath.Join(t.TempDir(), "killed")
	ctx, cancel := context.WithCancel(context.Background())
	killed := &training.History{}
	store := realmtest.NewStore()
	done := make(chan error)
	go func() {
		done <- TrainICT(ctx, be, store, cfg, c, run, killed, ICTOptions{})
	}()
	for { // "kill" right after step 4, i.e. after the step-3 checkpoint and before the next one.
		if r, ok := killed.Last(); ok && r.Step >= 4 {
			cancel()
			break
		}
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run returned %v, want context.Canceled", err)
	}
	resumed := &training.History{}
	if err := TrainICT(context.Background(), be, realmtest.NewStore(), cfg, c, run, resumed, ICTOptions{}); err != nil {
		t.Fatal(err)
	}
	recs := resumed.Records()
	if len(recs) != 3 || recs[0].Step != 4 {
		t.Fatalf("resumed run took steps %v, want 4, 5, 6", recs)
	}
	want := full.Records()
	for i, r := range recs {
		w := want[3+i]
		if math.Abs(r.Metrics["loss"]-w.Metrics["loss"]) > 1e-5 {
			t.Errorf("step %d: resumed loss %v, uninterrupted %v", r.Step, r.Metrics["loss"], w.Metrics["loss"])
		}
	}
	// Running again is a no-op: the phase is complete.
	again := &training.History{}
	if err := TrainICT(context.Background(), be, realmtest.NewStore(), cfg, c, run, again, ICTOptions{}); err != nil || len(again.Records()) != 0 {
		t.Errorf("re-running a finished phase: err %v, %d steps", err, len(again.Records()))
	}
}

// TestPretrainPipeline runs the from-scratch pipeline end to end on a few Factbook documents:
// MLM warm-up, retriever initialisation, ICT, then REALM pre-training with refreshes every
// 3 steps. It checks the trivial retrieval is excluded, that indexes are swapped in while
// training runs (staleness is measured), and that the evaluation runs.
func TestPretrainPipeline(t *testing.T) {
	cfg, c := realmtest.SmallFactbook(t, 20)
	be := backend.MustNew()
	store := realmtest.NewStore()
	dir := t.TempDir()
	ctx := context.Background()
	if err := TrainMLM(ctx, be, store, cfg, c, training.RunConfig{Dir: filepath.Join(dir, "mlm"), Steps: 4, BatchSize: 2, LR: 1e-3, Seed: 1}, &training.History{}); err != nil {
		t.Fatal(err)
	}
	if err := InitRetrieverFromEncoder(store, cfg); err != nil {
		t.Fatal(err)
	}
	if err := TrainICT(ctx, be, store, cfg, c, training.RunConfig{Dir: filepath.Join(dir, "ict"), Steps: 4, BatchSize: 4, LR: 1e-3, Seed: 1}, &training.History{}, ICTOptions{}); err != nil {
		t.Fatal(err)
	}
	ictSnap, err := realm.TakeSnapshot(store)
	if err != nil {
		t.Fatal(err)
	}
	tagger := spans.RuleTagger{Gazetteer: spans.NewGazetteer("Afghanistan", "Kabul")}
	run := PretrainConfig{RunConfig: training.RunConfig{Dir: filepath.Join(dir, "realm"), Steps: 9, BatchSize: 2, LR: 1e-3, Seed: 1},
		RefreshEvery: 3, EmbedBatch: 16, HeldOut: 0.2, MetricsEvery: 4}
	p, err := NewPretrainer(be, store, cfg, c, tagger, run)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if len(p.Train) == 0 || len(p.Eval) == 0 {
		t.Fatalf("%d training and %d held-out sentences", len(p.Train), len(p.Eval))
	}
	// No trivial retrieval: a query's own block is never among its candidates.
	if err := p.BuildIndex(ctx); err != nil {
		t.Fatal(err)
	}
	idx, _ := p.Refresher.Index()
	docs, err := candidates(p.Cfg, p.Corpus, p.Train[:4], idx, p.live)
	if err != nil {
		t.Fatal(err)
	}
	for i, ds := range docs {
		if len(ds) != cfg.TopK-1 {
			t.Errorf("example %d has %d candidates, want %d", i, len(ds), cfg.TopK-1)
		}
		for _, d := range ds {
			if d.ID == p.Train[i].BlockID {
				t.Errorf("example %d retrieved its own source block %d", i, d.ID)
			}
		}
	}
	if err := p.Pretrain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Refresher.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	recs := p.History.Records()
	if len(recs) != run.Steps {
		t.Fatalf("%d history records for %d steps", len(recs), run.Steps)
	}
	for _, r := range recs {
		if math.IsNaN(r.Metrics["loss"]) || math.IsNaN(r.Metrics["utility"]) {
			t.Fatalf("step %d metrics %v", r.Step, r.Metrics)
		}
		if pNull, pMax := r.Metrics["p_null"], r.Metrics["p_max"]; !(pNull > 0 && pNull <= pMax && pMax <= 1) {
			t.Errorf("step %d: p(∅|x) %v, max_z p(z|x) %v: want 0 < p_null ≤ p_max ≤ 1", r.Step, pNull, pMax)
		}
		// The accuracies are measured every MetricsEvery = 4 steps and at the last step only.
		accR, okR := r.Metrics["acc_retrieval"]
		accN, okN := r.Metrics["acc_null"]
		if want := r.Step%4 == 0 || r.Step == int64(run.Steps); okR != want || okN != want {
			t.Errorf("step %d of %d: accuracies recorded %v/%v", r.Step, run.Steps, okR, okN)
		}
		if okR && (accR < 0 || accR > 1 || accN < 0 || accN > 1) {
			t.Errorf("step %d: acc_retrieval %v, acc_null %v", r.Step, accR, accN)
		}
	}
	if g := p.Refresher.Generation(); g < 1 {
		t.Errorf("no refreshed index was swapped in (generation %d) after %d steps with refresh every %d", g, run.Steps, run.RefreshEvery)
	}
	st := p.Staleness()
	if g := p.Refresher.Generation(); uint64(len(st)) != g { // one record per refresh; the initial index has none.
		t.Errorf("staleness measured %d times for %d refreshes", len(st), g)
	}
	for _, s := range st {
		if s.Overlap < 0 || s.Overlap > 1 || s.EmbedTime <= 0 || s.Step <= s.OldStep {
			t.Errorf("staleness record %+v", s)
		}
	}
	_, cst, ok, err := training.Checkpoints{Dir: run.Dir}.Latest()
	if err != nil || !ok || cst.Step != int64(run.Steps) || cst.Task != "realm" {
		t.Errorf("final checkpoint %+v ok=%v err=%v", cst, ok, err)
	}
	accR, accN, util, err := p.EvaluateLM(ctx, p.Eval)
	if err != nil {
		t.Fatal(err)
	}
	if accR < 0 || accR > 1 || accN < 0 || accN > 1 || math.IsNaN(util) {
		t.Errorf("EvaluateLM = %v %v %v", accR, accN, util)
	}
	// Score reads the same sentences one by one: its mean utility is EvaluateLM's, p(z|x) sums
	// to 1 and r(z) to 0 over each sentence's candidates (∅ first, never the source block).
	B := run.BatchSize
	full := p.Eval[:len(p.Eval)/B*B]
	scored, err := p.Score(ctx, full)
	if err != nil || len(scored) != len(full) {
		t.Fatalf("Score: %d results for %d sentences, %v", len(scored), len(full), err)
	}
	meanU := 0.0
	for i, sc := range scored {
		meanU += sc.Utility / float64(len(scored))
		sumP, sumR := 0.0, 0.0
		for k := range sc.PZ {
			sumP, sumR = sumP+sc.PZ[k], sumR+sc.R[k]
		}
		if len(sc.Blocks) != cfg.TopK || sc.Blocks[0] != -1 || slices.Contains(sc.Blocks, full[i].BlockID) ||
			math.Abs(sumP-1) > 1e-4 || math.Abs(sumR) > 1e-3 || !(sc.LogLikelihood <= 0) {
			t.Errorf("sentence %d: blocks %v (source %d), Σp(z|x) %v, Σr(z) %v, log p(y|x) %v", i, sc.Blocks, full[i].BlockID, sumP, sumR, sc.LogLikelihood)
		}
	}
	if math.Abs(meanU-util) > 1e-3*max(1, math.Abs(util)) {
		t.Errorf("Score's mean utility %v, EvaluateLM's %v", meanU, util)
	}
	if one, err := p.Score(ctx, full[:1]); err != nil || len(one) != 1 || math.Abs(one[0].Utility-scored[0].Utility) > 1e-4 {
		t.Errorf("Score of one sentence (a padded batch): %+v, %v; in a full batch %+v", one, err, scored[0])
	}
	recall, random, err := p.EvaluateRetrieval(ctx, ictSnap, p.Eval)
	if err != nil {
		t.Fatal(err)
	}
	if recall < 0 || recall > 1 || !(random > 0 && random < 1) {
		t.Errorf("EvaluateRetrieval = %v (random %v)", recall, random)
	}
	if _, err := os.Stat(filepath.Join(dir, "mlm", "LATEST")); err != nil {
		t.Errorf("the MLM phase left no checkpoint: %v", err)
	}

	// Resumed for 3 more steps, the run rebuilds its index from the parameters of step 9 and
	// says so: index_generation goes on from the checkpoint's + 1 and index_age counts from 9.
	var log strings.Builder
	more := run
	more.Steps, more.Log, more.LogEvery = 11, &log, 100
	p2, err := NewPretrainer(be, realmtest.NewStore(), cfg, c, tagger, more)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if err := p2.Pretrain(ctx); err != nil {
		t.Fatal(err)
	}
	recs = p2.History.Records()
	if len(recs) != 2 || recs[0].Step != 10 {
		t.Fatalf("the resumed run took %d steps from %v", len(recs), recs)
	}
	if g, age := recs[0].Metrics["index_generation"], recs[0].Metrics["index_age"]; g != float64(cst.IndexGeneration+1) || age != 1 {
		t.Errorf("step 10 after resuming at 9 (checkpoint's index generation %d): index_generation %v, index_age %v; want %d, 1",
			cst.IndexGeneration, g, age, cst.IndexGeneration+1)
	}
	if want := fmt.Sprintf("resuming at step 9: the index (generation %d", cst.IndexGeneration); !strings.Contains(log.String(), want) {
		t.Errorf("the resumed run's log does not say %q:\n%s", want, log.String())
	}
}

// TestRetrieverWarmup pre-trains with the retriever warm-up covering every step: the encoder
// learns, while the retriever's biases and LayerNorm parameters stay bit-identical and its
// matrices change only by AdamW's decoupled weight decay (a relative 1 − Π(1 − lr·λ) < 10⁻⁴).
func TestRetrieverWarmup(t *testing.T) {
	cfg, c := realmtest.SmallFactbook(t, 12)
	be := backend.MustNew()
	store := realmtest.NewStore()
	ctx := context.Background()
	if err := TrainMLM(ctx, be, store, cfg, c, training.RunConfig{Steps: 1, BatchSize: 2, LR: 1e-3, Seed: 1}, &training.History{}); err != nil {
		t.Fatal(err)
	}
	if err := InitRetrieverFromEncoder(store, cfg); err != nil {
		t.Fatal(err)
	}
	before, err := realm.TakeSnapshot(store)
	if err != nil {
		t.Fatal(err)
	}
	encoderBefore := map[string][]float32{}
	for v := range store.IterVariables() {
		if strings.HasPrefix(v.Path(), "/"+realm.EncoderScope+"/") && v.MustValue().Shape().DType == dtypes.Float32 {
			encoderBefore[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	tagger := spans.RuleTagger{Gazetteer: spans.NewGazetteer("Afghanistan", "Kabul")}
	run := PretrainConfig{RunConfig: training.RunConfig{Steps: 3, BatchSize: 2, LR: 1e-3, Seed: 1}, RefreshEvery: 10, EmbedBatch: 16, RetrieverWarmup: 3}
	p, err := NewPretrainer(be, store, cfg, c, tagger, run)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Pretrain(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := realm.TakeSnapshot(store)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range before {
		x, y := tensors.MustCopyFlatData[float32](b), tensors.MustCopyFlatData[float32](after[name])
		for i := range x {
			if b.Shape().Rank() < 2 && x[i] != y[i] || math.Abs(float64(y[i]-x[i])) > 1e-4*math.Abs(float64(x[i])) {
				t.Fatalf("retriever variable %s[%d] moved from %v to %v during the warm-up", name, i, x[i], y[i])
			}
		}
	}
	moved := false
	for v := range store.IterVariables() {
		if x, ok := encoderBefore[v.Path()]; ok && !slices.Equal(x, tensors.MustCopyFlatData[float32](v.MustValue())) {
			moved = true
		}
	}
	if !moved {
		t.Error("no encoder variable changed during the retriever warm-up")
	}
	if _, err := NewPretrainer(be, store, cfg, c, tagger, PretrainConfig{RunConfig: run.RunConfig, RefreshEvery: 10, RetrieverWarmup: -1}); err == nil {
		t.Error("a negative retriever warm-up was accepted")
	}
}
