package realm

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/realm/training"
)

// tinyConfig is a REALM small enough to run a few training steps in a unit test.
func tinyConfig() Config {
	b := bert.Tiny()
	b.VocabSize, b.HiddenSize, b.NumHiddenLayers, b.NumAttentionHeads, b.IntermediateSize = 60, 16, 1, 2, 32
	b.MaxPositionEmbeddings = 32
	b.HiddenDropoutProb, b.AttentionProbsDropoutProb = 0, 0
	return Config{Retriever: b, Encoder: b, ProjectionDim: 8, QueryLen: 10, DocLen: 12, TopK: 4, MaxMasks: 3}
}

var tinySpecial = Special{CLS: 1, SEP: 2, PAD: 0}

// tinyBatch makes a batch whose masked tokens can be copied from candidate 1 (the "helpful"
// document contains the target right after a marker), so retrieval is useful.
func tinyBatch(t *testing.T, cfg Config, B int, seed uint64) *BatchData {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	d := cfg.NewBatchData(B)
	for i := range B {
		n := 4 + rng.IntN(4)
		toks := make([]int32, n)
		for j := range toks {
			toks[j] = int32(10 + rng.IntN(50))
		}
		p := rng.IntN(n)
		target := toks[p]
		toks[p] = 3 // [MASK]
		docs := make([]Doc, cfg.TopK-1)
		for k := range docs {
			body := make([]int32, 3+rng.IntN(8))
			for j := range body {
				body[j] = int32(10 + rng.IntN(50))
			}
			if k == 0 { // the helpful document repeats the target: copying it is easy to learn.
				for j := range body {
					body[j] = target
				}
			}
			docs[k] = Doc{ID: int64(100*i + k), Title: []int32{int32(10 + k)}, Body: body}
		}
		if err := d.Set(i, tinySpecial, Query{Tokens: toks, Positions: []int{p}, Targets: []int32{target}}, docs); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestBatchDataLayout(t *testing.T) {
	cfg := tinyConfig()
	d := cfg.NewBatchData(1)
	docs := []Doc{{ID: 7, Title: []int32{20, 21}, Body: []int32{30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40}}, {ID: 8}, {ID: 9, Body: []int32{50}}}
	q := Query{Tokens: []int32{11, 3, 13, 14, 15, 16, 17, 18, 19}, Positions: []int{1}, Targets: []int32{12}}
	if err := d.Set(0, tinySpecial, q, docs); err != nil {
		t.Fatal(err)
	}
	// Query truncated to QueryLen−2 = 8 tokens.
	wantQ := []int32{1, 11, 3, 13, 14, 15, 16, 17, 18, 2}
	for i, w := range wantQ {
		if d.QueryIDs[i] != w || !d.QueryMask[i] {
			t.Fatalf("query ids = %v, want %v", d.QueryIDs, wantQ)
		}
	}
	// Candidate 0 is ∅ = [CLS] [SEP] [SEP].
	if got := d.DocIDs[:4]; got[0] != 1 || got[1] != 2 || got[2] != 2 || got[3] != 0 || d.DocMask[3] || d.CandidateIDs[0] != -1 {
		t.Errorf("null document = %v (mask %v, id %d), want [CLS] [SEP] [SEP] then padding, id −1", got, d.DocMask[:4], d.CandidateIDs[0])
	}
	// Candidate 1: [CLS] title [SEP] body[:12−3−2=7] [SEP], types 0,0,0,0 then 1.
	D := cfg.DocLen
	c1 := d.DocIDs[D : 2*D]
	wantC1 := []int32{1, 20, 21, 2, 30, 31, 32, 33, 34, 35, 36, 2}
	for i, w := range wantC1 {
		if c1[i] != w {
			t.Fatalf("candidate 1 = %v, want %v", c1, wantC1)
		}
	}
	if d.DocTypes[D+3] != 0 || d.DocTypes[D+4] != 1 || d.DocTypes[D+11] != 1 {
		t.Errorf("candidate 1 types = %v: title part 0, body part 1", d.DocTypes[D:2*D])
	}
	// Joint for candidate 1: [CLS] x[:8] [SEP] body[:10] [SEP] = 21 tokens of 22.
	J := cfg.QueryLen + cfg.DocLen
	j1 := d.JointIDs[J : 2*J]
	if j1[0] != 1 || j1[9] != 2 || j1[10] != 30 || j1[19] != 39 || j1[20] != 2 || d.JointMask[J+21] || d.JointTypes[J+10] != 1 || d.JointTypes[J+9] != 0 {
		t.Errorf("joint input of candidate 1 = %v (types %v)", j1, d.JointTypes[J:2*J])
	}
	if d.Positions[0] != 2 || d.Targets[0] != 12 || !d.TargetMask[0] || d.TargetMask[1] {
		t.Errorf("mlm positions %v targets %v mask %v: want position 2 (after [CLS]), target 12, one slot", d.Positions, d.Targets, d.TargetMask)
	}
	// A mask that truncation would drop is rejected.
	q.Positions = []int{8}
	if err := d.Set(0, tinySpecial, q, docs); err == nil {
		t.Error("a masked position beyond the kept query tokens was accepted")
	}
	if err := d.Set(0, tinySpecial, Query{Tokens: q.Tokens}, docs[:1]); err == nil {
		t.Error("a wrong number of candidates was accepted")
	}
}

// TestForwardGradientsReachRetriever checks that the loss's gradient reaches both towers, and
// that RetrieverGate = 0 (the retriever warm-up) stops the retriever's part of it without
// changing the loss or the encoder's gradient.
func TestForwardGradientsReachRetriever(t *testing.T) {
	var losses, encoderGrads [2]float32
	for i, gate := range []float32{1, 0} {
		losses[i], encoderGrads[i] = forwardGradients(t, gate)
	}
	if losses[0] != losses[1] || encoderGrads[0] != encoderGrads[1] {
		t.Errorf("gate 1 / 0: loss %v / %v, Σ|∂loss/∂θ_encoder| %v / %v: the gate must change neither", losses[0], losses[1], encoderGrads[0], encoderGrads[1])
	}
}

// forwardGradients runs Forward on a tiny batch with the given retriever gate and checks its
// gradients; it returns the loss and Σ|∂loss/∂θ_encoder|.
func forwardGradients(t *testing.T, gate float32) (loss, encoderGrad float32) {
	t.Helper()
	cfg := tinyConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	store.SetParam(initializer.ParamInitialSeed, int64(7)) // the same initial values for every gate.
	d := tinyBatch(t, cfg, 3, 1)
	d.RetrieverGate = gate
	args := d.Args()
	outs := model.MustCallOnceN(backend.MustNew(), store, func(scope *model.Scope, in []*Node) []*Node {
		o := cfg.Forward(scope, BatchFromNodes(in))
		g := o.Loss.Graph()
		var retrieverVars, encoderVars []*Node
		for v := range scope.IterVariables() {
			if !v.InUseByGraph(g) {
				continue
			}
			switch {
			case len(v.Scope()) >= len("/"+EmbedderScope) && v.Scope()[:len("/"+EmbedderScope)] == "/"+EmbedderScope:
				retrieverVars = append(retrieverVars, v.NodeValue(g))
			case len(v.Scope()) >= len("/"+EncoderScope) && v.Scope()[:len("/"+EncoderScope)] == "/"+EncoderScope:
				encoderVars = append(encoderVars, v.NodeValue(g))
			}
		}
		if len(retrieverVars) == 0 || len(encoderVars) == 0 {
			t.Fatalf("found %d retriever and %d encoder variables", len(retrieverVars), len(encoderVars))
		}
		sumAbs := func(grads []*Node) *Node {
			var s *Node
			for _, gr := range grads {
				x := ReduceAllSum(Abs(gr))
				if s == nil {
					s = x
				} else {
					s = Add(s, x)
				}
			}
			return s
		}
		return []*Node{o.Loss, sumAbs(Gradient(o.Loss, retrieverVars...)), sumAbs(Gradient(o.Loss, encoderVars...)), o.LogPz, o.Utility}
	}, args...)
	loss = outs[0].Value().(float32)
	if math.IsNaN(float64(loss)) || loss <= 0 {
		t.Fatalf("loss = %v", loss)
	}
	switch g := outs[1].Value().(float32); {
	case gate == 1 && !(g > 0):
		t.Errorf("Σ|∂loss/∂θ_retriever| = %v: gradients must reach the retriever", g)
	case gate == 0 && g != 0:
		t.Errorf("Σ|∂loss/∂θ_retriever| = %v with the retriever gate at 0", g)
	}
	encoderGrad = outs[2].Value().(float32)
	if !(encoderGrad > 0) {
		t.Errorf("Σ|∂loss/∂θ_encoder| = %v", encoderGrad)
	}
	for b, row := range outs[3].Value().([][]float32) {
		var s float64
		for _, l := range row {
			s += math.Exp(float64(l))
		}
		if math.Abs(s-1) > 1e-4 {
			t.Errorf("example %d: Σ_z p(z|x) = %v over the top-k with ∅", b, s)
		}
	}
	return loss, encoderGrad
}

// TestTrainingLearnsToRetrieve trains on fresh batches whose masked token cannot be guessed
// from the query but is copied in one candidate (the one titled 10): REALM's loss must fall
// and p(z=helpful|x) must rise well above uniform — the retriever learns from the
// language-modelling signal alone (§2.4 of the paper).
func TestTrainingLearnsToRetrieve(t *testing.T) {
	cfg := tinyConfig()
	store := model.NewStore()
	store.SetParam(initializer.ParamInitialSeed, int64(1))
	const steps = 400
	opt := training.Optimizer{PeakLR: 1e-2, WarmupSteps: 20, TotalSteps: steps, ClipNorm: 1}
	exec := model.MustNewExec(backend.MustNew(), store, func(scope *model.Scope, in []*Node) []*Node {
		o := cfg.Forward(scope, BatchFromNodes(in))
		opt.Update(scope, o.Loss)
		return []*Node{o.Loss, Exp(o.LogPz)}
	})
	var first, last, helpful float64
	const window = 50
	for step := range steps {
		d := tinyBatch(t, cfg, 8, uint64(step))
		out := exec.MustCall(d.Args()...)
		l := float64(out[0].Value().(float32))
		pz := out[1].Value().([][]float32)
		switch {
		case step < window:
			first += l / window
		case step >= steps-window:
			last += l / window
			for _, row := range pz {
				helpful += float64(row[1]) / float64(len(pz)*window)
			}
		}
	}
	t.Logf("loss %.3f → %.3f, p(z=helpful|x) = %.3f", first, last, helpful)
	if !(last < first-0.5) {
		t.Errorf("mean loss %v → %v over %d steps: want a clear fall", first, last, steps)
	}
	if uniform := 1 / float64(cfg.TopK); !(helpful > 2*uniform) {
		t.Errorf("mean p(z=helpful|x) = %v after training, want well above uniform %v", helpful, uniform)
	}
}

// TestForwardWithMetricsMatchesForward checks that the training graph (Forward: the encoder's
// log-probabilities by bert.MLMLogProbs, here large enough to be split into two chains) and
// the evaluation graph (ForwardWithMetrics: full logits) compute the same values from the
// same variables, and that only the latter has the accuracies.
func TestForwardWithMetricsMatchesForward(t *testing.T) {
	cfg := tinyConfig()
	cfg.Retriever.VocabSize, cfg.Encoder.VocabSize = 30000, 30000 // B·K·M·V = 2.16M logits: two chains.
	const B = 6
	d := tinyBatch(t, cfg, B, 3)
	args := d.Args()
	store := model.NewStore()
	run := func(metrics bool) [][]float32 {
		outs := model.MustCallOnceN(backend.MustNew(), store, func(scope *model.Scope, in []*Node) []*Node {
			b := BatchFromNodes(in)
			o := cfg.Forward(scope, b)
			if metrics {
				o = cfg.ForwardWithMetrics(scope, b)
				if o.AccRetrieval == nil || o.AccNull == nil {
					t.Fatal("ForwardWithMetrics without accuracies")
				}
				return []*Node{o.Loss, Reshape(o.Gold, -1), Reshape(o.Marginal, -1), Reshape(o.Utility, -1), Reshape(o.AccRetrieval, -1), Reshape(o.AccNull, -1)}
			}
			if o.AccRetrieval != nil || o.AccNull != nil {
				t.Fatal("Forward computed the accuracies")
			}
			return []*Node{o.Loss, Reshape(o.Gold, -1), Reshape(o.Marginal, -1), Reshape(o.Utility, -1)}
		}, args...)
		var vals [][]float32
		for _, o := range outs {
			switch v := o.Value().(type) {
			case float32:
				vals = append(vals, []float32{v})
			case []float32:
				vals = append(vals, v)
			}
		}
		return vals
	}
	fast, full := run(false), run(true)
	for i, name := range []string{"loss", "gold", "marginal", "utility"} {
		if len(fast[i]) != len(full[i]) {
			t.Fatalf("%s: %d vs %d values", name, len(fast[i]), len(full[i]))
		}
		for j := range fast[i] {
			if d := math.Abs(float64(fast[i][j] - full[i][j])); d > 1e-4 {
				t.Errorf("%s[%d]: Forward %v, ForwardWithMetrics %v", name, j, fast[i][j], full[i][j])
				break
			}
		}
	}
	for _, acc := range full[4:] {
		if len(acc) != B*cfg.MaxMasks {
			t.Fatalf("accuracy of %d slots, want %d", len(acc), B*cfg.MaxMasks)
		}
		for _, a := range acc {
			if a != 0 && a != 1 {
				t.Fatalf("accuracy value %v", a)
			}
		}
	}
}

// TestRetrieverPooling checks that the retriever projects BERT's pooled output by default and
// the raw [CLS] state as the named option, and that a configuration saved before the option
// existed (no retriever_pooling) keeps projecting the raw [CLS] state.
func TestRetrieverPooling(t *testing.T) {
	var legacy Config
	if err := json.Unmarshal([]byte(`{"projection_dim": 8}`), &legacy); err != nil {
		t.Fatal(err)
	}
	if legacy.RetrieverPooling != "" || DefaultConfig().RetrieverPooling != PoolingPooler {
		t.Fatalf("legacy pooling %q, default %q: want empty (cls) and %q", legacy.RetrieverPooling, DefaultConfig().RetrieverPooling, PoolingPooler)
	}
	embeds := map[string][]float32{}
	for _, pooling := range []string{"", PoolingCLS, PoolingPooler} {
		cfg := tinyConfig()
		cfg.RetrieverPooling = pooling
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		store := model.NewStore()
		store.SetRNGStateFromSeed(3)
		d := tinyBatch(t, cfg, 2, 1)
		in := d.Tensors()
		out, err := model.CallOnce(backend.MustNew(), store, func(scope *model.Scope, ids, types, mask *Node) *Node {
			return cfg.EmbedQueries(scope, ids, types, mask)
		}, in[0], in[1], in[2])
		if err != nil {
			t.Fatalf("pooling %q: %v", pooling, err)
		}
		embeds[pooling] = tensors.MustCopyFlatData[float32](out)
		hasPooler := store.GetVariable("/"+EmbedderScope+"/pooler/dense/weights") != nil
		if hasPooler != (pooling == PoolingPooler) {
			t.Errorf("pooling %q: pooler variables present = %v", pooling, hasPooler)
		}
	}
	if !slices.Equal(embeds[""], embeds[PoolingCLS]) {
		t.Error("empty pooling embeds differently from cls")
	}
	if slices.Equal(embeds[PoolingCLS], embeds[PoolingPooler]) {
		t.Error("pooler and cls give the same embeddings")
	}
	cfg := tinyConfig()
	cfg.RetrieverPooling = "mean"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `retriever_pooling "mean"`) {
		t.Errorf("Validate with pooling mean = %v", err)
	}
}
