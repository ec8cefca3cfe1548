package bert

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// minilmDir finds all-MiniLM-L6-v2: $REALM_MINILM_DIR, or the directory that
// scripts/fetch-minilm.sh unpacks under <module root>/.cache/minilm. Without it the test is
// skipped, unless $REALM_REQUIRE_MINILM is set (as scripts/test.sh does).
func minilmDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("REALM_MINILM_DIR"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			for _, pattern := range []string{"*", "*/*", "*/*/*"} {
				matches, _ := filepath.Glob(filepath.Join(d, ".cache", "minilm", "unpacked", pattern, WeightsFile))
				for _, m := range matches {
					if _, err := os.Stat(filepath.Join(filepath.Dir(m), ConfigFile)); err == nil {
						return filepath.Dir(m)
					}
				}
			}
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	const missing = "all-MiniLM-L6-v2 not found: run scripts/fetch-minilm.sh (or set $REALM_MINILM_DIR to the directory with its config.json and model.safetensors)"
	if os.Getenv("REALM_REQUIRE_MINILM") != "" { // scripts/test.sh: a skip would hide a broken set-up.
		t.Fatal(missing)
	}
	t.Skip(missing)
	return ""
}

// TestMiniLM loads the real all-MiniLM-L6-v2 weights and checks hidden states and mean-pooled
// sentence embeddings against Hugging Face (testdata/minilm-reference.json), and that similar
// sentences score higher than unrelated ones.
func TestMiniLM(t *testing.T) {
	dir := minilmDir(t)
	var ref struct {
		Sentences []string   `json:"sentences"`
		IDs       [][]int32  `json:"ids"`
		TypeIDs   [][]int32  `json:"type_ids"`
		Mask      [][]bool   `json:"mask"`
		Hidden    jsonTensor `json:"hidden"`
		Mean      jsonTensor `json:"mean"`
	}
	readJSON(t, filepath.Join("testdata", "minilm-reference.json"), &ref)
	store := model.NewStore()
	res, err := Load(dir, store.RootScope().In("minilm"), AllowMissingMLMHead())
	if err != nil {
		t.Fatal(err)
	}
	if !res.HasPooler || len(res.Fresh) == 0 || res.Config.HiddenSize != 384 || res.Config.NumHiddenLayers != 6 {
		t.Fatalf("MiniLM: HasPooler=%v Fresh=%v config=%+v", res.HasPooler, res.Fresh, res.Config)
	}
	outs, err := model.CallOnceN(testBackend(), store, func(scope *model.Scope, ids, types, mask *graph.Node) []*graph.Node {
		h := Encode(scope.In("minilm"), res.Config, ids, types, mask)
		return []*graph.Node{h, MeanPool(h, mask)}
	}, tensor2(ref.IDs), tensor2(ref.TypeIDs), tensor2(ref.Mask))
	if err != nil {
		t.Fatal(err)
	}
	hidden := tensors.MustCopyFlatData[float32](outs[0])
	mean := tensors.MustCopyFlatData[float32](outs[1])
	assertClose(t, "MiniLM hidden states", hidden, outs[0].Shape().Dimensions, ref.Hidden, 1e-4)
	assertClose(t, "MiniLM mean-pooled embeddings", mean, outs[1].Shape().Dimensions, ref.Mean, 1e-4)

	dim := res.Config.HiddenSize
	cos := func(i, j int) float64 {
		var dot, ni, nj float64
		for k := range dim {
			a, b := float64(mean[i*dim+k]), float64(mean[j*dim+k])
			dot, ni, nj = dot+a*b, ni+a*a, nj+b*b
		}
		return dot / math.Sqrt(ni*nj)
	}
	// Sentences 0/1 are about guitars, 2/3 about stock markets, 4 about a cat.
	for _, c := range []struct{ similar, unrelated [2]int }{
		{[2]int{0, 1}, [2]int{0, 2}}, {[2]int{0, 1}, [2]int{1, 4}},
		{[2]int{2, 3}, [2]int{2, 4}}, {[2]int{2, 3}, [2]int{1, 3}},
	} {
		s, u := cos(c.similar[0], c.similar[1]), cos(c.unrelated[0], c.unrelated[1])
		if s <= u {
			t.Errorf("cos(%q, %q) = %.3f is not above cos(%q, %q) = %.3f",
				ref.Sentences[c.similar[0]], ref.Sentences[c.similar[1]], s,
				ref.Sentences[c.unrelated[0]], ref.Sentences[c.unrelated[1]], u)
		}
	}
}
