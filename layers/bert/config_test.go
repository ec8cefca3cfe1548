package bert

import (
	"path/filepath"
	"strings"
	"testing"
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
		{func(c *Config) { c.HiddenAct = "relu" }, `hidden_act "relu"`},
		{func(c *Config) { c.HiddenAct = "gelu_new" }, `hidden_act "gelu_new"`},
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
