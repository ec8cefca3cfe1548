package bert

import (
	"fmt"
	"strings"
)

// Part says which part of a BERT checkpoint a tensor belongs to.
type Part int

const (
	// PartEncoder tensors (embeddings and transformer blocks) are always required.
	PartEncoder Part = iota
	// PartPooler tensors (bert.pooler.dense) are optional: loaded when present, saved when the scope has them.
	PartPooler
	// PartMLMHead tensors (cls.predictions.*) are required unless AllowMissingMLMHead is given.
	PartMLMHead
)

// String returns the part's name.
func (p Part) String() string {
	switch p {
	case PartEncoder:
		return "encoder"
	case PartPooler:
		return "pooler"
	case PartMLMHead:
		return "mlm-head"
	}
	return fmt.Sprintf("Part(%d)", int(p))
}

// TensorName pairs one Hugging Face tensor with the scope variable holding it.
type TensorName struct {
	// HF is the tensor's name in a BertForMaskedLM/BertForPreTraining checkpoint, with the
	// "bert." prefix (checkpoints of a bare BertModel omit it; Load accepts both).
	HF string
	// Path is the variable's path relative to the BERT's root scope, "/"-separated.
	Path string
	// Transpose is true for nn.Linear weights: PyTorch stores them [out, in], GoMLX's
	// layers.Dense [in, out].
	Transpose bool
	// Part is the part of the model the tensor belongs to.
	Part Part
}

// Mapping lists every tensor of a BERT with cfg's shape, in checkpoint order: the explicit
// Hugging Face name ↔ scope path map used by Load and Save (see the package documentation).
func Mapping(cfg Config) []TensorName {
	var m []TensorName
	add := func(hf, path string, tr bool, p Part) {
		m = append(m, TensorName{HF: hf, Path: path, Transpose: tr, Part: p})
	}
	linear := func(hf, path string, p Part) {
		add(hf+".weight", path+"/dense/weights", true, p)
		add(hf+".bias", path+"/dense/biases", false, p)
	}
	layerNorm := func(hf, path string, p Part) {
		add(hf+".weight", path+"/layer_normalization/gain", false, p)
		add(hf+".bias", path+"/layer_normalization/offset", false, p)
	}
	add("bert.embeddings.word_embeddings.weight", "embeddings/word/embeddings", false, PartEncoder)
	add("bert.embeddings.position_embeddings.weight", "embeddings/position/embeddings", false, PartEncoder)
	add("bert.embeddings.token_type_embeddings.weight", "embeddings/token_type/embeddings", false, PartEncoder)
	layerNorm("bert.embeddings.LayerNorm", "embeddings/layer_norm", PartEncoder)
	for l := range cfg.NumHiddenLayers {
		hf := fmt.Sprintf("bert.encoder.layer.%d.", l)
		sp := fmt.Sprintf("layer_%d/", l)
		mha := sp + "attention/MultiHeadAttention/"
		linear(hf+"attention.self.query", mha+"query", PartEncoder)
		linear(hf+"attention.self.key", mha+"key", PartEncoder)
		linear(hf+"attention.self.value", mha+"value", PartEncoder)
		linear(hf+"attention.output.dense", mha+"output", PartEncoder)
		layerNorm(hf+"attention.output.LayerNorm", sp+"attention_layer_norm", PartEncoder)
		linear(hf+"intermediate.dense", sp+"intermediate", PartEncoder)
		linear(hf+"output.dense", sp+"output", PartEncoder)
		layerNorm(hf+"output.LayerNorm", sp+"output_layer_norm", PartEncoder)
	}
	linear("bert.pooler.dense", "pooler", PartPooler)
	linear("cls.predictions.transform.dense", "mlm/transform", PartMLMHead)
	layerNorm("cls.predictions.transform.LayerNorm", "mlm/layer_norm", PartMLMHead)
	add("cls.predictions.bias", "mlm/bias", false, PartMLMHead)
	return m
}

// HFNames returns the Hugging Face name → scope path map of Mapping, for converters.
func HFNames(cfg Config) map[string]string {
	m := make(map[string]string)
	for _, t := range Mapping(cfg) {
		m[t.HF] = t.Path
	}
	return m
}

// aliases returns the names under which a checkpoint may store the tensor hf: with or
// without the "bert." prefix, and with the old TensorFlow-era LayerNorm names gamma/beta.
// The first alias is hf itself.
func aliases(hf string) []string {
	names := []string{hf}
	if rest, ok := strings.CutPrefix(hf, "bert."); ok {
		names = append(names, rest)
	}
	for _, n := range append([]string(nil), names...) {
		if base, ok := strings.CutSuffix(n, "LayerNorm.weight"); ok {
			names = append(names, base+"LayerNorm.gamma")
		} else if base, ok := strings.CutSuffix(n, "LayerNorm.bias"); ok {
			names = append(names, base+"LayerNorm.beta")
		}
	}
	if hf == "cls.predictions.bias" { // newer checkpoints may keep only the tied copy.
		names = append(names, "cls.predictions.decoder.bias")
	}
	return names
}

// DecayExempt reports whether the variable at path (absolute, or relative to a BERT's root
// scope) should be excluded from AdamW weight decay, as BERT does: biases, LayerNorm gains
// and offsets, and the MLM output bias. GoMLX's optimizer.Adam().WeightDecay decays every
// trainable variable, so trainers that want BERT's recipe apply decay themselves with this.
func DecayExempt(path string) bool {
	base := path[strings.LastIndex(path, "/")+1:]
	switch base {
	case "biases", "bias", "gain", "offset":
		return true
	}
	return false
}
