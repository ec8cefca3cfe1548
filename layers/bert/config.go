package bert

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/realm-go/realm/internal/atomicfile"
)

// Config holds a BERT model's hyperparameters, with the JSON names of a Hugging Face
// config.json, so the same file describes a checkpoint for both PyTorch and this package.
type Config struct {
	// ModelType must be "bert".
	ModelType string `json:"model_type"`
	// Architectures is informational (e.g. ["BertForMaskedLM"]); it is kept when saving.
	Architectures []string `json:"architectures,omitempty"`
	// VocabSize is the number of word-piece ids (rows of the word embedding table).
	VocabSize int `json:"vocab_size"`
	// HiddenSize is the width H of every hidden state.
	HiddenSize int `json:"hidden_size"`
	// NumHiddenLayers is the number L of transformer blocks.
	NumHiddenLayers int `json:"num_hidden_layers"`
	// NumAttentionHeads is the number A of attention heads; HiddenSize must be divisible by it.
	NumAttentionHeads int `json:"num_attention_heads"`
	// IntermediateSize is the inner width of the feed-forward block (usually 4H).
	IntermediateSize int `json:"intermediate_size"`
	// MaxPositionEmbeddings is the number of learned absolute positions (longest sequence).
	MaxPositionEmbeddings int `json:"max_position_embeddings"`
	// TypeVocabSize is the number of token types (segments), 2 for BERT.
	TypeVocabSize int `json:"type_vocab_size"`
	// LayerNormEps is the LayerNorm epsilon, 1e-12 for BERT (GoMLX's own default is 1e-3).
	LayerNormEps float64 `json:"layer_norm_eps"`
	// HiddenAct is the activation of the feed-forward blocks and of the MLM head's transform:
	// ActGelu (the exact, erf-based GELU; BERT's), ActGeluTanh or ActGeluPyTorchTanh (the tanh
	// approximation; Google's released REALM checkpoints) or ActRelu.
	HiddenAct string `json:"hidden_act"`
	// HiddenDropoutProb is the dropout rate on embeddings and on each sub-layer's output (training only).
	HiddenDropoutProb float64 `json:"hidden_dropout_prob"`
	// AttentionProbsDropoutProb is the dropout rate on attention probabilities (training only).
	AttentionProbsDropoutProb float64 `json:"attention_probs_dropout_prob"`
	// InitializerRange is the standard deviation of the normal initialiser of weight matrices.
	InitializerRange float64 `json:"initializer_range"`
	// PadTokenID is the id of [PAD]; informational (padding is given by the mask).
	PadTokenID int `json:"pad_token_id"`
	// PositionEmbeddingType must be "absolute" (or empty, meaning absolute).
	PositionEmbeddingType string `json:"position_embedding_type,omitempty"`
}

// The activations HiddenAct may name, as in Hugging Face's ACT2FN.
const (
	ActGelu            = "gelu"              // x·Φ(x), Φ through erf
	ActGeluTanh        = "gelu_new"          // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
	ActGeluPyTorchTanh = "gelu_pytorch_tanh" // the same tanh approximation
	ActRelu            = "relu"              // max(x, 0)
)

// defaults returns the values BertConfig uses for fields a config.json may leave out.
func defaults() Config {
	return Config{
		ModelType:                 "bert",
		MaxPositionEmbeddings:     512,
		TypeVocabSize:             2,
		LayerNormEps:              1e-12,
		HiddenAct:                 ActGelu,
		HiddenDropoutProb:         0.1,
		AttentionProbsDropoutProb: 0.1,
		InitializerRange:          0.02,
	}
}

// Tiny is a small BERT (L=2, H=128, A=2, I=512, uncased vocabulary) for tests and quick
// from-scratch training runs.
func Tiny() Config {
	c := defaults()
	c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 30522, 128, 2, 2, 512
	return c
}

// Small is a BERT of L=4, H=256, A=4, I=1024 with the uncased vocabulary.
func Small() Config {
	c := defaults()
	c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 30522, 256, 4, 4, 1024
	return c
}

// Base is BERT-Base (L=12, H=768, A=12, I=3072) with the uncased vocabulary.
func Base() Config {
	c := defaults()
	c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 30522, 768, 12, 12, 3072
	return c
}

// HeadDim is the width of one attention head, HiddenSize / NumAttentionHeads.
func (c Config) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// Validate reports the first inconsistency in c: non-positive sizes, a hidden size not
// divisible by the number of heads, an unsupported activation or position embedding type.
func (c Config) Validate() error {
	if c.ModelType != "bert" {
		return fmt.Errorf("bert config: model_type %q is not supported (want \"bert\")", c.ModelType)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads}, {"intermediate_size", c.IntermediateSize},
		{"max_position_embeddings", c.MaxPositionEmbeddings}, {"type_vocab_size", c.TypeVocabSize},
	} {
		if f.v <= 0 {
			return fmt.Errorf("bert config: %s must be positive, got %d", f.name, f.v)
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("bert config: hidden_size %d is not divisible by num_attention_heads %d",
			c.HiddenSize, c.NumAttentionHeads)
	}
	switch c.HiddenAct {
	case ActGelu, ActGeluTanh, ActGeluPyTorchTanh, ActRelu:
	default:
		return fmt.Errorf("bert config: hidden_act %q is not supported (%q, %q, %q or %q)",
			c.HiddenAct, ActGelu, ActGeluTanh, ActGeluPyTorchTanh, ActRelu)
	}
	if c.PositionEmbeddingType != "" && c.PositionEmbeddingType != "absolute" {
		return fmt.Errorf("bert config: position_embedding_type %q is not supported (only \"absolute\")",
			c.PositionEmbeddingType)
	}
	if !(c.LayerNormEps > 0) {
		return fmt.Errorf("bert config: layer_norm_eps must be positive, got %g", c.LayerNormEps)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"hidden_dropout_prob", c.HiddenDropoutProb}, {"attention_probs_dropout_prob", c.AttentionProbsDropoutProb}} {
		if f.v < 0 || f.v >= 1 {
			return fmt.Errorf("bert config: %s must be in [0, 1), got %g", f.name, f.v)
		}
	}
	if c.InitializerRange < 0 {
		return fmt.Errorf("bert config: initializer_range must be non-negative, got %g", c.InitializerRange)
	}
	return nil
}

// ParseConfig decodes a Hugging Face config.json; fields it leaves out take BertConfig's
// defaults. The result is validated; name is used in error messages.
func ParseConfig(data []byte, name string) (Config, error) {
	c := defaults()
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("bert config %s: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// LoadConfig reads and validates a Hugging Face config.json.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("bert config: %w", err)
	}
	return ParseConfig(data, path)
}

// Save writes c as a Hugging Face config.json at path, atomically (temp file + rename).
func (c Config) Save(path string) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("bert config %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(data, '\n'))
}
