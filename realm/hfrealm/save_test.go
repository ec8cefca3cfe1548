package hfrealm

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/openqa"
)

// TestSaveRoundTrip saves each class of the transformers fixtures with Save and loads it back:
// every variable keeps its value exactly.
func TestSaveRoundTrip(t *testing.T) {
	for _, class := range []string{"embedder", "scorer", "encoder", "reader"} {
		t.Run(class, func(t *testing.T) {
			store, res := load(t, "gelu_new", class)
			dir := filepath.Join(t.TempDir(), class)
			if err := Save(dir, store.RootScope(), res.Config); err != nil {
				t.Fatal(err)
			}
			back := model.NewStore()
			res2, err := Load(dir, back.RootScope())
			if err != nil {
				t.Fatal(err)
			}
			if res2.Class != res.Class || res2.Config.HiddenAct != res.Config.HiddenAct || res2.Config.RetrieverProjSize != res.Config.RetrieverProjSize {
				t.Errorf("config %+v, want %+v", res2.Config, res.Config)
			}
			n := 0
			for v := range store.IterVariables() {
				w := back.GetVariable(v.Path())
				if w == nil {
					t.Errorf("variable %s not saved", v.Path())
					continue
				}
				a, _ := v.Value()
				b, _ := w.Value()
				if !slices.Equal(tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)) {
					t.Errorf("variable %s changed in the round trip", v.Path())
				}
				n++
			}
			if n == 0 {
				t.Fatal("no variables")
			}
		})
	}
}

// TestFromREALMRefuses checks that models transformers' REALM cannot express are refused.
func TestFromREALMRefuses(t *testing.T) {
	cfg, err := (defaultConfig()).REALM(32, 64)
	if err != nil {
		t.Fatal(err)
	}
	rc := openqa.DefaultReaderConfig()
	cls := cfg
	cls.RetrieverPooling = realm.PoolingCLS
	sep := cfg
	sep.SeparateTowers = true
	for _, tc := range []struct {
		cfg   realm.Config
		class string
		want  string
	}{
		{cls, ClassEmbedder, "raw [CLS] state"},
		{sep, ClassScorer, "has two"},
		{cfg, "RealmForMaskedLM", `class "RealmForMaskedLM"`},
	} {
		if _, err := FromREALM(tc.cfg, rc, tc.class); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("FromREALM(%s) = %v, want an error containing %q", tc.class, err, tc.want)
		}
	}
	if _, err := FromREALM(sep, rc, ClassEncoder); err != nil {
		t.Errorf("an encoder of a model with separate towers: %v", err)
	}
}

// TestSaveOpenQARoundTrip saves the fixture RealmForOpenQA (weights, block_emb, block records,
// tokenizer) with SaveOpenQA and opens the copy with OpenQA: every variable and the index are
// kept exactly, and it answers the fixture's questions as the original does.
func TestSaveOpenQARoundTrip(t *testing.T) {
	src := filepath.Join("testdata", "gelu_new", "openqa")
	store, res := load(t, "gelu_new", "openqa")
	emb, _, _, err := LoadBlockEmb(src)
	if err != nil {
		t.Fatal(err)
	}
	records, err := LoadBlockRecords(filepath.Join("testdata", BlockRecordsFile))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "openqa")
	if err := SaveOpenQA(dir, store.RootScope(), res.Config, emb, records[:3], src); err == nil || !strings.Contains(err.Error(), "index values for 3 blocks") {
		t.Errorf("an index of %d rows for 3 records: err = %v", len(records), err)
	}
	if err := SaveOpenQA(dir, store.RootScope(), res.Config, emb, records, src); err != nil {
		t.Fatal(err)
	}
	back := model.NewStore()
	res2, err := Load(dir, back.RootScope())
	if err != nil {
		t.Fatal(err)
	}
	if res2.Class != ClassOpenQA || res2.Config.NumBlockRecords != len(records) {
		t.Errorf("class %s with %d block records, want %s with %d", res2.Class, res2.Config.NumBlockRecords, ClassOpenQA, len(records))
	}
	for v := range store.IterVariables() {
		a, _ := v.Value()
		w := back.GetVariable(v.Path())
		if w == nil {
			t.Fatalf("variable %s not saved", v.Path())
		}
		b, _ := w.Value()
		if !slices.Equal(tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)) {
			t.Errorf("variable %s changed in the round trip", v.Path())
		}
	}
	emb2, _, _, err := LoadBlockEmb(dir)
	if err != nil || !slices.Equal(emb2, emb) {
		t.Fatalf("block_emb changed in the round trip (err %v)", err)
	}
	be := backend.MustNew()
	var answers [2][]openqa.Answer
	for i, d := range []string{src, dir} {
		rec := filepath.Join(d, BlockRecordsFile)
		if i == 0 {
			rec = filepath.Join("testdata", BlockRecordsFile)
		}
		q, err := OpenQA(be, d, rec, 12)
		if err != nil {
			t.Fatal(err)
		}
		if answers[i], err = q.AnswerBatch(context.Background(), []string{"what is the capital of france", "which sea is baku on"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range answers[0] {
		a, b := answers[0][i], answers[1][i]
		if a.Text != b.Text || a.BlockID != b.BlockID || a.Logit != b.Logit {
			t.Errorf("%q: answer %q from block %d (logit %g), the original %q from %d (%g)", a.Question, b.Text, b.BlockID, b.Logit, a.Text, a.BlockID, a.Logit)
		}
	}
}

// TestGoSavedOpenQAInTransformers answers with the RealmForOpenQA directory that SaveOpenQA
// wrote (testdata/go_saved/openqa, by tools/fixtures/hfrealm-save) and compares each answer
// with the one transformers' RealmForOpenQA predicts with RealmRetriever.from_pretrained of
// the same directory (its block_records.npy and tokenizer).
func TestGoSavedOpenQAInTransformers(t *testing.T) {
	var exp struct {
		Answers []struct {
			Question, Answer string
			BlockID          int64 `json:"block_id"`
		} `json:"go_saved_openqa_answers"`
	}
	data, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.Answers) == 0 {
		t.Fatal("expected.json holds no answers of transformers for go_saved/openqa")
	}
	dir := filepath.Join("testdata", "go_saved", "openqa")
	q, err := OpenQA(backend.MustNew(), dir, filepath.Join(dir, BlockRecordsFile), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range exp.Answers {
		got, err := q.Answer(context.Background(), want.Question)
		if err != nil {
			t.Fatal(err)
		}
		if got.BlockID != want.BlockID || qa.Normalize(got.Text) != qa.Normalize(want.Answer) {
			t.Errorf("%q: answer %q from block %d, transformers %q from block %d", want.Question, got.Text, got.BlockID, want.Answer, want.BlockID)
		}
	}
	if _, err := q.Answer(context.Background(), " \t"); err == nil || !strings.Contains(err.Error(), "blank") {
		t.Errorf("a blank question: err = %v", err)
	}
}
