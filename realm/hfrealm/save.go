package hfrealm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/internal/atomicfile"
	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/openqa"
)

// FromREALM is the RealmConfig of a model trained here: the BERT fields of its retriever (for
// the embedder and scorer classes) or of its encoder (for the encoder and reader classes), d,
// k, and the reader's settings rc. It fails where transformers' REALM cannot express the model:
// a retriever that projects the raw [CLS] state, separate towers for a scorer, or a retriever
// and an encoder of different shapes.
func FromREALM(cfg realm.Config, rc openqa.ReaderConfig, class string) (Config, error) {
	c := defaultConfig()
	b := cfg.Encoder
	switch class {
	case ClassEmbedder, ClassScorer, ClassOpenQA:
		b = cfg.Retriever
		if cfg.RetrieverPooling != realm.PoolingPooler {
			return c, fmt.Errorf("hfrealm: %s projects BERT's pooled output, this retriever the raw [CLS] state (retriever_pooling %q)", class, cfg.RetrieverPooling)
		}
		if class != ClassEmbedder && cfg.SeparateTowers {
			return c, fmt.Errorf("hfrealm: %s shares one tower between queries and documents, this model has two", class)
		}
		if class == ClassOpenQA && !sameShape(cfg.Retriever, cfg.Encoder) {
			return c, fmt.Errorf("hfrealm: %s has one BERT config for its embedder and its reader, this model's retriever and reader (encoder) differ", class)
		}
	case ClassEncoder, ClassReader:
	default:
		return c, fmt.Errorf("hfrealm: class %q is not one of %s, %s, %s, %s, %s", class, ClassEmbedder, ClassScorer, ClassEncoder, ClassReader, ClassOpenQA)
	}
	c.Config = b
	c.ModelType, c.Architectures = ModelType, []string{class}
	c.RetrieverProjSize, c.NumCandidates = cfg.ProjectionDim, cfg.TopK
	c.SpanHiddenSize, c.MaxSpanWidth, c.ReaderLayerNormEps = rc.SpanHiddenSize, rc.MaxSpanWidth, rc.LayerNormEps
	c.ReaderBeamSize, c.SearcherBeamSize, c.ReaderSeqLen = rc.ReaderBeam, rc.RetrieverBeam, rc.Len(cfg)
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// sameShape reports whether two BERT configs describe the same architecture.
func sameShape(a, b bert.Config) bool {
	return a.VocabSize == b.VocabSize && a.HiddenSize == b.HiddenSize && a.NumHiddenLayers == b.NumHiddenLayers &&
		a.NumAttentionHeads == b.NumAttentionHeads && a.IntermediateSize == b.IntermediateSize &&
		a.MaxPositionEmbeddings == b.MaxPositionEmbeddings && a.TypeVocabSize == b.TypeVocabSize && a.HiddenAct == b.HiddenAct
}

// Save writes the part of the model under root that class names (c.Architectures[0]) as a
// Hugging Face REALM directory that transformers' class of that name loads: config.json and
// model.safetensors, each written atomically, the layout Load reads. The heads transformers
// keeps but REALM does not use (an embedder's or reader's MLM head) are left out; transformers
// initialises them when it loads the directory.
func Save(dir string, root *model.Scope, c Config) error {
	if len(c.Architectures) > 0 && c.Architectures[0] == ClassOpenQA {
		return fmt.Errorf("hfrealm.Save %s: a %s has an index: write it with SaveOpenQA", dir, ClassOpenQA)
	}
	return save(dir, root, c, map[string]bert.Float32Tensor{})
}

// SaveOpenQA writes a RealmForOpenQA directory that Load and OpenQA read, and transformers'
// RealmForOpenQA.from_pretrained(dir, retriever=RealmRetriever.from_pretrained(dir)) too: the
// embedder and reader under root and the index blockEmb ([len(records), d] row-major, row i the
// embedding of block i) in model.safetensors, config.json (c with class RealmForOpenQA and
// num_block_records set), the texts of the blocks as block_records.npy, and the tokenizer files
// of tokDir (vocab.txt, tokenizer_config.json, tokenizer.json, special_tokens_map.json, those it
// has; vocab.txt is required). Each file is written atomically.
func SaveOpenQA(dir string, root *model.Scope, c Config, blockEmb []float32, records []string, tokDir string) error {
	c.Architectures, c.NumBlockRecords = []string{ClassOpenQA}, len(records)
	if d := c.RetrieverProjSize; len(blockEmb) != len(records)*d {
		return fmt.Errorf("hfrealm.SaveOpenQA %s: %d index values for %d blocks of dimension %d", dir, len(blockEmb), len(records), d)
	}
	var toks [][2]string // file name, content.
	for _, name := range []string{"vocab.txt", "tokenizer_config.json", "tokenizer.json", "special_tokens_map.json"} {
		data, err := os.ReadFile(filepath.Join(tokDir, name))
		if errors.Is(err, fs.ErrNotExist) && name != "vocab.txt" {
			continue
		}
		if err != nil {
			return fmt.Errorf("hfrealm.SaveOpenQA %s: the tokenizer: %w", dir, err)
		}
		toks = append(toks, [2]string{name, string(data)})
	}
	if err := save(dir, root, c, map[string]bert.Float32Tensor{BlockEmbName: {Shape: []int{len(records), c.RetrieverProjSize}, Data: blockEmb}}); err != nil {
		return err
	}
	if err := WriteBlockRecords(filepath.Join(dir, BlockRecordsFile), records); err != nil {
		return err
	}
	for _, t := range toks {
		if err := atomicfile.WriteFile(filepath.Join(dir, t[0]), []byte(t[1])); err != nil {
			return fmt.Errorf("hfrealm.SaveOpenQA: %w", err)
		}
	}
	return nil
}

// save writes the variables of c's class under root, and the tensors ts, as Save describes.
func save(dir string, root *model.Scope, c Config, ts map[string]bert.Float32Tensor) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("hfrealm.Save %s: %w", dir, err)
	}
	if len(c.Architectures) == 0 {
		return fmt.Errorf("hfrealm.Save %s: the config names no class (architectures)", dir)
	}
	class := c.Architectures[0]
	p, err := planFor(class, c)
	if err != nil {
		return fmt.Errorf("hfrealm.Save %s: %w", dir, err)
	}
	for _, a := range p.need {
		path := model.JoinPath(root.Scope(), a.Path)
		v := root.Store().GetVariable(path)
		if v == nil || !v.HasValue() {
			if p.optional[a.Name] {
				continue
			}
			return fmt.Errorf("hfrealm.Save %s: %s has no variable %s (for tensor %q)", dir, class, path, a.Name)
		}
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("hfrealm.Save %s: reading %s: %w", dir, path, err)
		}
		if val.DType() != dtypes.Float32 {
			return fmt.Errorf("hfrealm.Save %s: variable %s has dtype %s, want float32", dir, path, val.DType())
		}
		data := tensors.MustCopyFlatData[float32](val)
		shape := slices.Clone(val.Shape().Dimensions)
		if a.Transpose {
			data, shape = bert.Transpose2D(data, shape)
		}
		if !slices.Equal(shape, a.Shape) {
			return fmt.Errorf("hfrealm.Save %s: variable %s has shape %v as %q, the config implies %v", dir, path, shape, a.Name, a.Shape)
		}
		ts[a.Name] = bert.Float32Tensor{Shape: shape, Data: data}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("hfrealm.Save: %w", err)
	}
	if err := bert.WriteSafetensors(filepath.Join(dir, bert.WeightsFile), ts); err != nil {
		return fmt.Errorf("hfrealm.Save: %w", err)
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("hfrealm.Save %s: %w", dir, err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, bert.ConfigFile), append(data, '\n'))
}
