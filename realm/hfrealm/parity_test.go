package hfrealm

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/mips"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/openqa"
)

// The fixtures are tiny random REALM models of transformers 4.30.2 and what it computes on them
// (tools/fixtures/make_realm_fixture.py), for both activations of REALM checkpoints, each saved
// as model.safetensors (testdata/<act>/<class>) and as pytorch_model.bin (<class>-bin); and
// testdata/go_saved/<class>, a model initialised in Go and written by Save
// (tools/fixtures/hfrealm-save), with what transformers computes after loading it.
var (
	fixtures = []string{"gelu_new", "gelu", "go_saved"}
	formats  = map[string]map[string]string{
		"gelu_new": {"safetensors": "", "pytorch_model.bin": "-bin"},
		"gelu":     {"safetensors": "", "pytorch_model.bin": "-bin"},
		"go_saved": {"safetensors": ""},
	}
)

type jsonTensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type inputs struct {
	IDs     [][]int32 `json:"ids"`
	TypeIDs [][]int32 `json:"type_ids"`
	Mask    [][]int32 `json:"mask"`
}

type inputs3 struct {
	IDs     [][][]int32 `json:"ids"`
	TypeIDs [][][]int32 `json:"type_ids"`
	Mask    [][][]int32 `json:"mask"`
}

type expected struct {
	Query      inputs     `json:"query"`
	Candidates inputs3    `json:"candidates"`
	Embedder   jsonTensor `json:"embedder_projected_score"`
	Relevance  jsonTensor `json:"scorer_relevance_score"`
	Encoder    struct {
		inputs3
		Labels     [][]int32   `json:"labels"`
		MLMMask    [][]int32   `json:"mlm_mask"`
		Relevance  [][]float32 `json:"relevance_score"`
		Positions  [][]int32   `json:"positions"`
		Logits     jsonTensor  `json:"logits_at_positions"`
		Loss       float64     `json:"loss"`
		GradScores jsonTensor  `json:"grad_relevance_score"`
	} `json:"encoder"`
	Reader struct {
		inputs
		BlockMask      [][]bool   `json:"block_mask"`
		Relevance      []float32  `json:"relevance_score"`
		StartPositions [][]int32  `json:"start_positions"`
		EndPositions   [][]int32  `json:"end_positions"`
		HasAnswers     []bool     `json:"has_answers"`
		Starts         []int32    `json:"candidate_starts"`
		Ends           []int32    `json:"candidate_ends"`
		Logits         jsonTensor `json:"logits"`
		Loss           float64    `json:"loss"`
		ReaderLoss     float64    `json:"reader_loss"`
		RetrieverLoss  float64    `json:"retriever_loss"`
		BlockIdx       int        `json:"block_idx"`
		Candidate      int        `json:"candidate"`
	} `json:"reader"`
}

func readExpected(t *testing.T) map[string]expected {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]json.RawMessage{}
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]expected{}
	for _, name := range fixtures {
		var e expected
		if err := json.Unmarshal(all[name], &e); err != nil {
			t.Fatalf("expected.json %s: %v", name, err)
		}
		out[name] = e
	}
	return out
}

// flat returns rows as one slice with their dimensions.
func flat[T any](rows [][]T) ([]T, []int) {
	var out []T
	for _, r := range rows {
		out = append(out, r...)
	}
	return out, []int{len(rows), len(rows[0])}
}

func flat3[T any](rows [][][]T) ([]T, []int) {
	var out []T
	for _, r := range rows {
		f, _ := flat(r)
		out = append(out, f...)
	}
	return out, []int{len(rows), len(rows[0]), len(rows[0][0])}
}

func boolsOf(xs []int32) []bool {
	out := make([]bool, len(xs))
	for i, x := range xs {
		out[i] = x != 0
	}
	return out
}

func ids2(in inputs) []*tensors.Tensor {
	ids, dims := flat(in.IDs)
	types, _ := flat(in.TypeIDs)
	mask, _ := flat(in.Mask)
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, dims...), tensors.FromFlatDataAndDimensions(types, dims...),
		tensors.FromFlatDataAndDimensions(boolsOf(mask), dims...)}
}

func ids3(in inputs3) []*tensors.Tensor {
	ids, dims := flat3(in.IDs)
	types, _ := flat3(in.TypeIDs)
	mask, _ := flat3(in.Mask)
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, dims...), tensors.FromFlatDataAndDimensions(types, dims...),
		tensors.FromFlatDataAndDimensions(boolsOf(mask), dims...)}
}

// maxDiff compares got with want (shapes and values), failing above tol, and returns the
// largest absolute difference.
func maxDiff(t *testing.T, what string, got *tensors.Tensor, want jsonTensor, tol float64) float64 {
	t.Helper()
	dims := got.Shape().Dimensions
	if len(dims) != len(want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, dims, want.Shape)
	}
	for i := range dims {
		if dims[i] != want.Shape[i] {
			t.Fatalf("%s: shape %v, want %v", what, dims, want.Shape)
		}
	}
	data := tensors.MustCopyFlatData[float32](got)
	worst := 0.0
	for i, w := range want.Data {
		worst = max(worst, math.Abs(float64(data[i])-w))
	}
	if worst > tol {
		t.Errorf("%s: max |Go − transformers| = %.3g > %g", what, worst, tol)
	}
	t.Logf("%s: max |Go − transformers| = %.3g", what, worst)
	return worst
}

// forEachFixture runs test on every fixture and file format as a subtest "<fixture>/<format>".
func forEachFixture(t *testing.T, test func(t *testing.T, be compute.Backend, want expected, act, suffix string)) {
	be := backend.MustNew()
	for act, want := range readExpected(t) {
		for format, suffix := range formats[act] {
			t.Run(act+"/"+format, func(t *testing.T) { test(t, be, want, act, suffix) })
		}
	}
}

func load(t *testing.T, act, class string) (*model.Store, LoadResult) {
	t.Helper()
	store := model.NewStore()
	res, err := Load(filepath.Join("testdata", act, class), store.RootScope())
	if err != nil {
		t.Fatal(err)
	}
	return store, res
}

// TestParityEmbedderScorer checks the retriever of RealmEmbedder and RealmScorer checkpoints
// against transformers: the projected embeddings of the queries and the relevance scores
// f(x, z) of their candidates.
func TestParityEmbedderScorer(t *testing.T) { forEachFixture(t, testEmbedderScorer) }

func testEmbedderScorer(t *testing.T, be compute.Backend, want expected, act, suffix string) {
	store, res := load(t, act, "embedder"+suffix)
	if res.Class != ClassEmbedder || (act != "go_saved" && res.Config.HiddenAct != act) {
		t.Fatalf("class %q, hidden_act %q", res.Class, res.Config.HiddenAct)
	}
	q := ids2(want.Query)
	c := ids3(want.Candidates)
	cfg, err := res.Config.REALM(q[0].Shape().Dim(1), c[0].Shape().Dim(2))
	if err != nil {
		t.Fatal(err)
	}
	out, err := model.CallOnce(be, store, func(root *model.Scope, ids, types, mask *Node) *Node {
		return cfg.EmbedQueries(root, ids, types, mask)
	}, q[0], q[1], q[2])
	if err != nil {
		t.Fatal(err)
	}
	maxDiff(t, "RealmEmbedder projected_score", out, want.Embedder, 1e-4)

	store, res = load(t, act, "scorer"+suffix)
	if res.Class != ClassScorer {
		t.Fatalf("class %q", res.Class)
	}
	out, err = model.CallOnce(be, store, func(root *model.Scope, in []*Node) *Node {
		return realm.Relevance(cfg.EmbedQueries(root, in[0], in[1], in[2]), cfg.EmbedDocs(root, in[3], in[4], in[5]))
	}, q[0], q[1], q[2], c[0], c[1], c[2])
	if err != nil {
		t.Fatal(err)
	}
	maxDiff(t, "RealmScorer relevance_score", out, want.Relevance, 1e-4)
}

// TestParityKnowledgeAugEncoder checks RealmKnowledgeAugEncoder checkpoints against
// transformers: the MLM logits at the masked positions of every candidate, the marginal
// log-likelihood loss given relevance scores and mlm_mask, and its gradient with respect to the
// relevance scores.
func TestParityKnowledgeAugEncoder(t *testing.T) { forEachFixture(t, testEncoder) }

func testEncoder(t *testing.T, be compute.Backend, want expected, act, suffix string) {
	store, res := load(t, act, "encoder"+suffix)
	e := want.Encoder
	j := ids3(e.inputs3)
	B, K, S := j[0].Shape().Dim(0), j[0].Shape().Dim(1), j[0].Shape().Dim(2)
	cfg, err := res.Config.REALM(S/2, S-S/2)
	if err != nil {
		t.Fatal(err)
	}
	// The masked positions and their targets, from transformers' labels (−100 elsewhere).
	pos, dims := flat(e.Positions)
	targets := make([]int32, len(pos))
	mask := make([]bool, len(pos))
	for i, p := range pos {
		b := i / dims[1]
		targets[i], mask[i] = e.Labels[b][p], e.MLMMask[b][p] != 0
	}
	scores, sdims := flat(e.Relevance)
	if sdims[0] != B || sdims[1] != K {
		t.Fatalf("relevance %v for B=%d K=%d", sdims, B, K)
	}
	outs, err := model.CallOnceN(be, store, func(root *model.Scope, in []*Node) []*Node {
		scores, positions, targets, mask := in[3], in[4], in[5], in[6]
		logits := cfg.EncoderMLMLogits(root, in[0], in[1], in[2], positions) // [B, K, M, V]
		marginal := realm.MarginalLogLikelihood(realm.RetrievalLogProbs(scores), realm.GoldLogProbs(logits, targets))
		loss := realm.MaskedMeanNLL(marginal, mask)
		return []*Node{logits, loss, Gradient(loss, scores)[0]}
	}, j[0], j[1], j[2], tensors.FromFlatDataAndDimensions(scores, B, K), tensors.FromFlatDataAndDimensions(pos, dims...),
		tensors.FromFlatDataAndDimensions(targets, dims...), tensors.FromFlatDataAndDimensions(mask, dims...))
	if err != nil {
		t.Fatal(err)
	}
	maxDiff(t, "RealmKnowledgeAugEncoder logits at the masked positions", outs[0], e.Logits, 1e-4)
	loss := tensors.MustCopyFlatData[float32](outs[1])[0]
	if d := math.Abs(float64(loss) - e.Loss); d > 1e-4 {
		t.Errorf("loss %g, transformers %g (|Δ| %.3g)", loss, e.Loss, d)
	} else {
		t.Logf("marginal log-likelihood loss: |Go − transformers| = %.3g", d)
	}
	maxDiff(t, "d loss / d relevance_score", outs[2], e.GradScores, 1e-3)
}

// TestParityReader checks RealmReader checkpoints against transformers on two blocks, one
// holding the answer: the logits g(s) + f(x,z) of every wordpiece span of the blocks up to
// max_span_width (transformers' own enumeration of candidates), the reader and retriever
// losses, and the predicted block and span.
func TestParityReader(t *testing.T) { forEachFixture(t, testReader) }

func testReader(t *testing.T, be compute.Backend, want expected, act, suffix string) {
	store, res := load(t, act, "reader"+suffix)
	if res.Class != ClassReader {
		t.Fatalf("class %q", res.Class)
	}
	r := want.Reader
	in := ids2(r.inputs)
	K, NS := in[0].Shape().Dim(0), len(r.Starts)
	rc := res.Config.Reader()
	// Candidates: transformers' spans whose both ends lie in the block; gold: those that start
	// and end at a gold span of their block.
	starts := make([]int32, K*NS)
	ends := make([]int32, K*NS)
	cand := make([]bool, K*NS)
	gold := make([]bool, K*NS)
	for k := range K {
		for i := range NS {
			s, e := r.Starts[i], r.Ends[i]
			starts[k*NS+i], ends[k*NS+i] = s, e
			cand[k*NS+i] = r.BlockMask[k][s] && r.BlockMask[k][e]
			for a := range r.StartPositions[k] {
				gold[k*NS+i] = gold[k*NS+i] || (r.StartPositions[k][a] == s && r.EndPositions[k][a] == e)
			}
		}
	}
	outs, err := model.CallOnceN(be, store, func(root *model.Scope, x []*Node) []*Node {
		scores := openqa.SpanScores(root.At(openqa.ReaderScope), res.Config.BERT(), rc, x[0], x[1], x[2], x[3], x[4]) // [K, NS]
		rel := InsertAxes(x[5], 0)                                                                                    // [1, K]
		readerLoss, _, logits := openqa.ReaderLogLikelihood(InsertAxes(scores, 0), rel, InsertAxes(x[6], 0), InsertAxes(x[7], 0))
		retrieverLoss, _ := openqa.RetrieverEarlyLoss(rel, InsertAxes(x[8], 0))
		return []*Node{Squeeze(logits, 0), Squeeze(readerLoss, 0), Squeeze(retrieverLoss, 0)}
	}, in[0], in[1], in[2], tensors.FromFlatDataAndDimensions(starts, K, NS), tensors.FromFlatDataAndDimensions(ends, K, NS),
		r.Relevance, tensors.FromFlatDataAndDimensions(cand, K, NS), tensors.FromFlatDataAndDimensions(gold, K, NS), r.HasAnswers)
	if err != nil {
		t.Fatal(err)
	}
	// Masked candidates: transformers adds float32's lowest value, Go puts −1e9; compare the
	// others.
	got := tensors.MustCopyFlatData[float32](outs[0])
	worst, best, bestAt := 0.0, math.Inf(-1), -1
	for i, w := range want.Reader.Logits.Data {
		if !cand[i] {
			continue
		}
		worst = max(worst, math.Abs(float64(got[i])-w))
		if float64(got[i]) > best {
			best, bestAt = float64(got[i]), i
		}
	}
	if worst > 1e-4 {
		t.Errorf("reader logits: max |Go − transformers| = %.3g", worst)
	}
	t.Logf("reader logits: max |Go − transformers| = %.3g", worst)
	readerLoss := float64(tensors.MustCopyFlatData[float32](outs[1])[0])
	retrieverLoss := float64(tensors.MustCopyFlatData[float32](outs[2])[0])
	for _, c := range []struct {
		what      string
		got, want float64
	}{{"reader loss", readerLoss, r.ReaderLoss}, {"retriever loss", retrieverLoss, r.RetrieverLoss}, {"total loss", readerLoss + retrieverLoss, r.Loss}} {
		if d := math.Abs(c.got - c.want); d > 1e-4 {
			t.Errorf("%s %g, transformers %g", c.what, c.got, c.want)
		} else {
			t.Logf("%s: |Go − transformers| = %.3g", c.what, d)
		}
	}
	if bestAt/NS != r.BlockIdx || bestAt%NS != r.Candidate {
		t.Errorf("predicted block %d span %d, transformers block %d span %d", bestAt/NS, bestAt%NS, r.BlockIdx, r.Candidate)
	}
}

// TestParityOpenQA checks RealmForOpenQA checkpoints against transformers: the index block_emb
// as saved, the embedder's projections of the queries, their scores against every block and
// the blocks an exact maximum inner product search over block_emb returns (transformers' topk
// over searcher_beam_size).
func TestParityOpenQA(t *testing.T) {
	all := readOpenQA(t)
	for _, act := range []string{"gelu_new", "gelu"} {
		want := all[act]
		for format, suffix := range formats[act] {
			t.Run(act+"/"+format, func(t *testing.T) {
				dir := filepath.Join("testdata", act, "openqa"+suffix)
				store := model.NewStore()
				res, err := Load(dir, store.RootScope())
				if err != nil {
					t.Fatal(err)
				}
				if res.Class != ClassOpenQA {
					t.Fatalf("class %q", res.Class)
				}
				emb, rows, d, err := LoadBlockEmb(dir)
				if err != nil {
					t.Fatal(err)
				}
				maxDiff(t, "block_emb", tensors.FromFlatDataAndDimensions(emb, rows, d), want.BlockEmb, 0)
				q := ids2(readExpected(t)[act].Query)
				cfg, err := res.Config.REALM(q[0].Shape().Dim(1), 16)
				if err != nil {
					t.Fatal(err)
				}
				proj, err := model.CallOnce(backend.MustNew(), store, func(root *model.Scope, ids, types, mask *Node) *Node {
					return cfg.EmbedQueries(root, ids, types, mask)
				}, q[0], q[1], q[2])
				if err != nil {
					t.Fatal(err)
				}
				maxDiff(t, "RealmForOpenQA embedder projected_score", proj, want.Projected, 1e-4)
				index, err := mips.NewExact(emb, nil, d)
				if err != nil {
					t.Fatal(err)
				}
				hits, err := index.Search(tensors.MustCopyFlatData[float32](proj), res.Config.SearcherBeamSize)
				if err != nil {
					t.Fatal(err)
				}
				for i, row := range hits {
					got := make([]int, len(row))
					scores := make([]float64, len(row))
					for j, h := range row {
						got[j], scores[j] = int(h.ID), float64(h.Score)
					}
					if !slices.Equal(got, want.TopIDs[i]) {
						t.Errorf("query %d: top blocks %v, transformers %v", i, got, want.TopIDs[i])
					}
					for j, id := range got {
						if d := math.Abs(scores[j] - want.BlockScores.Data[i*rows+id]); d > 1e-4 {
							t.Errorf("query %d block %d: score %g, transformers %g", i, id, scores[j], want.BlockScores.Data[i*rows+id])
						}
					}
				}
			})
		}
	}
}

type openQAExpected struct {
	Projected   jsonTensor `json:"projected_score"`
	BlockScores jsonTensor `json:"block_scores"`
	TopIDs      [][]int    `json:"top_ids"`
	BlockEmb    jsonTensor `json:"block_emb"`
}

func readOpenQA(t *testing.T) map[string]openQAExpected {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]openQAExpected{}
	for _, act := range []string{"gelu_new", "gelu"} {
		var e struct {
			OpenQA openQAExpected `json:"openqa"`
		}
		if err := json.Unmarshal(all[act], &e); err != nil {
			t.Fatalf("expected.json %s: %v", act, err)
		}
		out[act] = e.OpenQA
	}
	return out
}

// TestParityOpenQAAnswer answers questions with the fixture RealmForOpenQA checkpoints and their
// block_records.npy (OpenQA) and compares each answer with the one transformers' RealmForOpenQA
// predicts with a RealmRetriever over the same records: the same block and the same span text.
func TestParityOpenQAAnswer(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Answers []struct {
			Model, Question, Answer string
			BlockID                 int64 `json:"block_id"`
		} `json:"openqa_answers"`
	}
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.Answers) == 0 {
		t.Fatal("no answers in expected.json")
	}
	be := backend.MustNew()
	qas := map[string]*openqa.QA{}
	for _, want := range exp.Answers {
		q := qas[want.Model]
		if q == nil {
			if q, err = OpenQA(be, filepath.Join("testdata", want.Model, "openqa"), filepath.Join("testdata", BlockRecordsFile), 12); err != nil {
				t.Fatal(err)
			}
			qas[want.Model] = q
		}
		got, err := q.Answer(context.Background(), want.Question)
		if err != nil {
			t.Fatal(err)
		}
		if got.BlockID != want.BlockID || qa.Normalize(got.Text) != qa.Normalize(want.Answer) {
			t.Errorf("%s, %q: answer %q from block %d, transformers %q from block %d", want.Model, want.Question, got.Text, got.BlockID, want.Answer, want.BlockID)
		}
	}
}
