package bert

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func TestLoadConfig(t *testing.T) {
	c, err := LoadConfig(filepath.Join(tinyDir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if c.VocabSize != 100 || c.HiddenSize != 32 || c.NumHiddenLayers != 2 || c.NumAttentionHeads != 4 ||
		c.IntermediateSize != 64 || c.MaxPositionEmbeddings != 40 || c.LayerNormEps != 1e-12 || c.HeadDim() != 8 {
		t.Errorf("tiny-bert config read as %+v", c)
	}
	// Save + LoadConfig round-trips.
	path := filepath.Join(t.TempDir(), ConfigFile)
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	c2, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if c2.HiddenSize != c.HiddenSize || c2.InitializerRange != c.InitializerRange || c2.HiddenAct != c.HiddenAct {
		t.Errorf("round trip: %+v, want %+v", c2, c)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,
		"num_attention_heads":2,"intermediate_size":16}`), "inline")
	if err != nil {
		t.Fatal(err)
	}
	if c.LayerNormEps != 1e-12 || c.HiddenAct != "gelu" || c.TypeVocabSize != 2 || c.MaxPositionEmbeddings != 512 {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestValidate(t *testing.T) {
	for _, p := range []Config{Tiny(), Small(), Base()} {
		if err := p.Validate(); err != nil {
			t.Errorf("preset %+v: %v", p, err)
		}
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.HiddenSize = 129 }, "not divisible"},
		{func(c *Config) { c.HiddenAct = "swish" }, `hidden_act "swish"`},
		{func(c *Config) { c.HiddenAct = "gelu_fast" }, `hidden_act "gelu_fast"`},
		{func(c *Config) { c.ModelType = "roberta" }, "model_type"},
		{func(c *Config) { c.NumHiddenLayers = 0 }, "num_hidden_layers"},
		{func(c *Config) { c.LayerNormEps = 0 }, "layer_norm_eps"},
		{func(c *Config) { c.HiddenDropoutProb = 1 }, "hidden_dropout_prob"},
		{func(c *Config) { c.PositionEmbeddingType = "relative_key" }, "position_embedding_type"},
	} {
		c := Tiny()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", c, err, tc.want)
		}
	}
}

func TestDecayExempt(t *testing.T) {
	for path, want := range map[string]bool{
		"/reader/layer_0/attention/MultiHeadAttention/query/dense/weights": false,
		"/reader/layer_0/attention/MultiHeadAttention/query/dense/biases":  true,
		"embeddings/layer_norm/layer_normalization/gain":                   true,
		"embeddings/layer_norm/layer_normalization/offset":                 true,
		"embeddings/word/embeddings":                                       false,
		"mlm/bias":                                                         true,
	} {
		if got := DecayExempt(path); got != want {
			t.Errorf("DecayExempt(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestHiddenAct checks each activation Config.HiddenAct names, in training and inference graphs,
// against its float64 definition.
func TestHiddenAct(t *testing.T) {
	xs := []float32{-6, -3, -1.5, -0.5, -0.1, 0, 0.1, 0.5, 1.5, 3, 6}
	erfGelu := func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
	tanhGelu := func(x float64) float64 {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	for _, tc := range []struct {
		act string
		f   func(float64) float64
	}{
		{ActGelu, erfGelu},
		{ActGeluTanh, tanhGelu},
		{ActGeluPyTorchTanh, tanhGelu},
		{ActRelu, func(x float64) float64 { return math.Max(x, 0) }},
	} {
		cfg := Tiny()
		cfg.HiddenAct = tc.act
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.act, err)
		}
		for _, training := range []bool{false, true} {
			store := model.NewStore()
			out, err := model.CallOnce(testBackend(), store, func(scope *model.Scope, x *graph.Node) *graph.Node {
				scope.Store().SetTraining(x.Graph(), training)
				return hiddenAct(scope, cfg, x)
			}, xs)
			if err != nil {
				t.Fatalf("%s: %v", tc.act, err)
			}
			got := tensors.MustCopyFlatData[float32](out)
			for i, x := range xs {
				if want := tc.f(float64(x)); math.Abs(float64(got[i])-want) > 1e-6*(1+math.Abs(want)) {
					t.Errorf("%s (training %v) at %g = %g, want %g", tc.act, training, x, got[i], want)
				}
			}
		}
	}
	// The approximation differs from the exact GELU by up to about 5e-4: a checkpoint must be run
	// with the activation it was trained with.
	if d := math.Abs(erfGelu(-1.5) - tanhGelu(-1.5)); d < 1e-4 {
		t.Errorf("erf and tanh GELU agree to %g at -1.5: the test cannot tell them apart", d)
	}
}
