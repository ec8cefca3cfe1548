package bert

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
)

// mlmLoss is the fixture's loss: mean cross-entropy of the logits at positions vs labels.
func mlmLoss(logits, labels *graph.Node) *graph.Node {
	return graph.Neg(graph.ReduceAllMean(LabelLogProbs(logits, labels)))
}

// gomlxMLMLoss is mlmLoss computed by GoMLX's own loss, as a cross-check of LabelLogProbs.
func gomlxMLMLoss(logits, labels *graph.Node) *graph.Node {
	return graph.ReduceAllMean(loss.SparseCategoricalCrossEntropyLogits(
		[]*graph.Node{graph.ExpandAxes(labels, -1)}, []*graph.Node{logits}))
}

// TestParityWithPyTorch checks Encode, MLMLogits and their gradients against Hugging Face
// BertForMaskedLM on the tiny random checkpoint (tools/fixtures/make_bert_fixture.py).
func TestParityWithPyTorch(t *testing.T) {
	var want tinyExpected
	readJSON(t, filepath.Join("testdata", "tiny-bert-expected.json"), &want)
	store := model.NewStore()
	res, err := Load(tinyDir, store.RootScope())
	if err != nil {
		t.Fatal(err)
	}
	cfg := res.Config
	if len(res.Fresh) != 0 || res.HasPooler {
		t.Fatalf("tiny BertForMaskedLM: Fresh=%v HasPooler=%v, want a full MLM head and no pooler", res.Fresh, res.HasPooler)
	}
	hfToPath := HFNames(cfg)
	transposed := map[string]bool{}
	for _, m := range Mapping(cfg) {
		transposed[m.HF] = m.Transpose
	}
	gradNames := make([]string, 0, len(want.Grads))
	for n := range want.Grads {
		gradNames = append(gradNames, n)
	}
	slices.Sort(gradNames)

	outs, err := model.CallOnceN(testBackend(), store, func(scope *model.Scope, in []*graph.Node) []*graph.Node {
		ids, types, mask, positions, labels := in[0], in[1], in[2], in[3], in[4]
		hidden := Encode(scope, cfg, ids, types, mask)
		logits := MLMLogits(scope, cfg, hidden, positions)
		l := mlmLoss(logits, labels)
		vars := make([]*graph.Node, len(gradNames))
		for i, n := range gradNames {
			v := scope.Store().GetVariable("/" + hfToPath[n])
			if v == nil {
				t.Fatalf("no variable for %s", n)
			}
			vars[i] = v.NodeValue(ids.Graph())
		}
		return append([]*graph.Node{hidden, logits, l, gomlxMLMLoss(logits, labels)}, graph.Gradient(l, vars...)...)
	}, tensor2(want.IDs), tensor2(want.TypeIDs), tensor2(want.Mask), tensor2(want.Positions), tensor2(want.Labels))
	if err != nil {
		t.Fatal(err)
	}
	get := func(x *tensors.Tensor) ([]float32, []int) {
		return tensors.MustCopyFlatData[float32](x), x.Shape().Dimensions
	}
	h, hs := get(outs[0])
	assertClose(t, "last hidden states", h, hs, want.Hidden, 1e-4)
	lg, ls := get(outs[1])
	assertClose(t, "MLM logits", lg, ls, want.Logits, 1e-4)
	if got := outs[2].Value().(float32); abs64(float64(got)-want.Loss) > 1e-4 {
		t.Errorf("loss = %g, want %g", got, want.Loss)
	}
	if got := outs[3].Value().(float32); abs64(float64(got)-want.Loss) > 1e-4 {
		t.Errorf("GoMLX's SparseCategoricalCrossEntropyLogits loss = %g, want %g", got, want.Loss)
	}
	for i, n := range gradNames {
		g, gs := get(outs[4+i])
		if transposed[n] {
			g, gs = Transpose2D(g, gs)
		}
		assertClose(t, "gradient of "+n, g, gs, want.Grads[n], 1e-3)
	}
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestDropoutOnlyWhenTraining checks that dropout changes the hidden states in training mode
// and that inference is deterministic.
func TestDropoutOnlyWhenTraining(t *testing.T) {
	var want tinyExpected
	readJSON(t, filepath.Join("testdata", "tiny-bert-expected.json"), &want)
	store := model.NewStore()
	res, err := Load(tinyDir, store.RootScope())
	if err != nil {
		t.Fatal(err)
	}
	run := func(training bool) []float32 {
		out, err := model.CallOnce(testBackend(), store, func(scope *model.Scope, ids, types, mask *graph.Node) *graph.Node {
			scope.Store().SetTraining(ids.Graph(), training)
			return Encode(scope, res.Config, ids, types, mask)
		}, tensor2(want.IDs), tensor2(want.TypeIDs), tensor2(want.Mask))
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out)
	}
	a, b, tr := run(false), run(false), run(true)
	if !slices.Equal(a, b) {
		t.Error("inference is not deterministic")
	}
	assertClose(t, "inference hidden states", a, []int{len(want.Hidden.Data)}, jsonTensor{Shape: []int{len(want.Hidden.Data)}, Data: want.Hidden.Data}, 1e-4)
	diff := 0
	for i := range a {
		if abs64(float64(a[i]-tr[i])) > 1e-3 {
			diff++
		}
	}
	if diff < len(a)/4 {
		t.Errorf("training mode changed only %d of %d hidden values: dropout seems inactive", diff, len(a))
	}
}

// TestSharedTowers checks that the same BERT weights can run twice in one graph via
// Scope.Shared, and that two BERTs under different scopes hold separate variables.
func TestSharedTowers(t *testing.T) {
	cfg := Tiny()
	cfg.VocabSize, cfg.HiddenSize, cfg.IntermediateSize, cfg.MaxPositionEmbeddings = 50, 16, 32, 16
	ids := tensors.FromValue([][]int32{{1, 2, 3, 4}})
	store := model.NewStore()
	out, err := model.CallOnce(testBackend(), store, func(s *model.Scope, ids *graph.Node) *graph.Node {
		x := Encode(s.In("query_bert"), cfg, ids, nil, nil)
		y := Encode(s.Shared("query_bert"), cfg, ids, nil, nil)
		z := Encode(s.In("doc_bert"), cfg, ids, nil, nil)
		same := graph.ReduceAllMax(graph.Abs(graph.Sub(x, y)))
		other := graph.ReduceAllMax(graph.Abs(graph.Sub(x, z)))
		return graph.Stack([]*graph.Node{same, other}, 0)
	}, ids)
	if err != nil {
		t.Fatal(err)
	}
	v := tensors.MustCopyFlatData[float32](out)
	if v[0] != 0 || v[1] == 0 {
		t.Errorf("max|shared-tower diff| = %g (want 0), max|separate-tower diff| = %g (want > 0)", v[0], v[1])
	}
	perBERT := 0 // Encode builds exactly the encoder part of Mapping.
	for _, m := range Mapping(cfg) {
		if m.Part == PartEncoder {
			perBERT++
		}
	}
	if n := store.RootScope().In("query_bert").NumVariables(); n != perBERT {
		t.Errorf("query_bert has %d variables, want %d", n, perBERT)
	}
}

// TestLabelLogProbs checks LabelLogProbs against log-softmax computed in float64, including
// logits large enough to overflow a naive exp.
func TestLabelLogProbs(t *testing.T) {
	logits := [][][]float32{{{1000, 0, -1000, 3}, {0.5, -0.25, 2, 1}}, {{-3, -3, -3, -3}, {88, 90, 89, -90}}}
	labels := [][]int32{{0, 2}, {3, 1}}
	out, err := model.CallOnce(testBackend(), model.NewStore(), func(_ *model.Scope, lg, lb *graph.Node) *graph.Node {
		return LabelLogProbs(lg, lb)
	}, tensors.FromValue(logits), tensors.FromValue(labels))
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](out)
	i := 0
	for b := range logits {
		for m := range logits[b] {
			row := logits[b][m]
			mx := float64(slices.Max(row))
			var s float64
			for _, x := range row {
				s += math.Exp(float64(x) - mx)
			}
			want := float64(row[labels[b][m]]) - mx - math.Log(s)
			if math.Abs(float64(got[i])-want) > 1e-4*(1+math.Abs(want)) {
				t.Errorf("log p(label %d | row %v) = %g, want %g", labels[b][m], row, got[i], want)
			}
			i++
		}
	}
}
