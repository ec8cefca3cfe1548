package bert

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// The performance paths of this package against PyTorch and against each other:
// the training-mode graph (decomposed LayerNorm and GELU, explicit soft-max; see layerNorm,
// gelu, selfAttention), the batch split into independent chains (Encode, MLMLogProbs) and the
// exact scaling of Q instead of the scores.

// tinyRun evaluates hidden states, the MLM loss (through MLMLogProbs) and the gradients named
// gradNames on the tiny fixture, with dropout off, in training or inference mode.
func tinyRun(t *testing.T, want *tinyExpected, training bool) (outs [][]float32, gradNames []string) {
	t.Helper()
	store := model.NewStore()
	res, err := Load(tinyDir, store.RootScope())
	if err != nil {
		t.Fatal(err)
	}
	cfg := res.Config
	cfg.HiddenDropoutProb, cfg.AttentionProbsDropoutProb = 0, 0
	hfToPath := HFNames(cfg)
	transposed := map[string]bool{}
	for _, m := range Mapping(cfg) {
		transposed[m.HF] = m.Transpose
	}
	for n := range want.Grads {
		gradNames = append(gradNames, n)
	}
	slices.Sort(gradNames)
	res2, err := model.CallOnceN(testBackend(), store, func(scope *model.Scope, in []*graph.Node) []*graph.Node {
		g := in[0].Graph()
		scope.Store().SetTraining(g, training)
		hidden := Encode(scope, cfg, in[0], in[1], in[2])
		l := graph.Neg(graph.ReduceAllMean(MLMLogProbs(scope, cfg, hidden, in[3], in[4])))
		vars := make([]*graph.Node, len(gradNames))
		for i, n := range gradNames {
			vars[i] = scope.Store().GetVariable("/" + hfToPath[n]).NodeValue(g)
		}
		return append([]*graph.Node{hidden, l}, graph.Gradient(l, vars...)...)
	}, tensor2(want.IDs), tensor2(want.TypeIDs), tensor2(want.Mask), tensor2(want.Positions), tensor2(want.Labels))
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range res2 {
		flat := tensors.MustCopyFlatData[float32](o)
		if i >= 2 && transposed[gradNames[i-2]] {
			flat, _ = Transpose2D(flat, o.Shape().Dimensions)
		}
		outs = append(outs, flat)
	}
	return outs, gradNames
}

// checkAgainstPyTorch applies TestParityWithPyTorch's tolerances.
func checkAgainstPyTorch(t *testing.T, what string, want *tinyExpected, outs [][]float32, gradNames []string) {
	t.Helper()
	assertClose(t, what+": hidden states", outs[0], want.Hidden.Shape, want.Hidden, 1e-4)
	if got := outs[1][0]; abs64(float64(got)-want.Loss) > 1e-4 {
		t.Errorf("%s: loss = %g, want %g", what, got, want.Loss)
	}
	for i, n := range gradNames {
		assertClose(t, what+": gradient of "+n, outs[2+i], want.Grads[n].Shape, want.Grads[n], 1e-3)
	}
}

func maxAbsDiff(a, b []float32) float64 {
	var worst float64
	for i := range a {
		worst = max(worst, abs64(float64(a[i]-b[i])))
	}
	return worst
}

func TestPerformancePathsParity(t *testing.T) {
	var want tinyExpected
	readJSON(t, filepath.Join("testdata", "tiny-bert-expected.json"), &want)
	defer func(tok, logits int) { splitMinTokens, splitMinLogits = tok, logits }(splitMinTokens, splitMinLogits)

	splitMinTokens, splitMinLogits = 1<<30, 1<<30 // no split: one chain.
	inf, names := tinyRun(t, &want, false)
	tr, _ := tinyRun(t, &want, true)
	splitMinTokens, splitMinLogits = 1, 1 // the batch of 3 in two independent chains.
	trSplit, _ := tinyRun(t, &want, true)
	infSplit, _ := tinyRun(t, &want, false)

	checkAgainstPyTorch(t, "inference graph", &want, inf, names)
	checkAgainstPyTorch(t, "training graph", &want, tr, names)
	checkAgainstPyTorch(t, "training graph, split batch", &want, trSplit, names)
	checkAgainstPyTorch(t, "inference graph, split batch", &want, infSplit, names)
	// The variants agree with each other far more closely than with PyTorch.
	for i := range tr {
		if d := maxAbsDiff(tr[i], inf[i]); d > 2e-5 {
			t.Errorf("output %d: training and inference graphs differ by up to %g", i, d)
		}
		if d := maxAbsDiff(trSplit[i], tr[i]); d > 2e-6 {
			t.Errorf("output %d: split and unsplit training graphs differ by up to %g", i, d)
		}
	}
	if d := maxAbsDiff(infSplit[0], inf[0]); d != 0 {
		t.Errorf("splitting the batch changed inference hidden states by up to %g, want identical", d)
	}
}

// TestScaledQueriesExact checks that scaling Q by 1/√D = 1/8 (head size 64) gives the same
// attention, loss and gradients as scaling the scores, on a random model.
func TestScaledQueriesExact(t *testing.T) {
	defer func(v bool) { scaleQueries = v }(scaleQueries)
	cfg := Tiny()
	cfg.VocabSize, cfg.NumHiddenLayers, cfg.MaxPositionEmbeddings = 200, 1, 32
	cfg.HiddenDropoutProb, cfg.AttentionProbsDropoutProb = 0, 0
	const B, S, M = 2, 16, 3
	rng := rand.New(rand.NewPCG(3, 4))
	ids, mask := make([]int32, B*S), make([]bool, B*S)
	for i := range ids {
		ids[i] = rng.Int32N(200)
		mask[i] = i%S < S-2*(i/S)
	}
	pos, labels := make([]int32, B*M), make([]int32, B*M)
	for i := range pos {
		pos[i], labels[i] = rng.Int32N(S-4), rng.Int32N(200)
	}
	store := model.NewStore()
	run := func(scaleQ bool) [][]float32 {
		scaleQueries = scaleQ
		outs, err := model.CallOnceN(testBackend(), store, func(scope *model.Scope, in []*graph.Node) []*graph.Node {
			g := in[0].Graph()
			scope.Store().SetTraining(g, true)
			h := Encode(scope, cfg, in[0], nil, in[1])
			l := graph.Neg(graph.ReduceAllMean(MLMLogProbs(scope, cfg, h, in[2], in[3])))
			var paths []string
			for v := range scope.IterVariables() {
				if v.Trainable && v.Shape().DType == dtypes.Float32 {
					paths = append(paths, v.Path())
				}
			}
			slices.Sort(paths)
			var vars []*graph.Node
			for _, p := range paths {
				vars = append(vars, scope.Store().GetVariable(p).NodeValue(g))
			}
			return append([]*graph.Node{h, l}, graph.Gradient(l, vars...)...)
		}, tensors.FromFlatDataAndDimensions(ids, B, S), tensors.FromFlatDataAndDimensions(mask, B, S),
			tensors.FromFlatDataAndDimensions(pos, B, M), tensors.FromFlatDataAndDimensions(labels, B, M))
		if err != nil {
			t.Fatal(err)
		}
		var flat [][]float32
		for _, o := range outs {
			flat = append(flat, tensors.MustCopyFlatData[float32](o))
		}
		return flat
	}
	a := run(true) // creates (initialises) the variables; the second run reuses them.
	b := run(false)
	if len(a) != len(b) || len(a) < 10 {
		t.Fatalf("got %d and %d outputs", len(a), len(b))
	}
	for i := range a {
		if d := maxAbsDiff(a[i], b[i]); d > 1e-6 {
			t.Errorf("output %d: scaling Q instead of the scores changed it by up to %g", i, d)
		}
	}
}
