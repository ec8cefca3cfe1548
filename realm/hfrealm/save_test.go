package hfrealm

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/realm"
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
	rc := realm.DefaultReaderConfig()
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
