package hfrealm

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/mips"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/openqa"
)

// The REALM classes of transformers whose checkpoints Load reads (config.json's architectures).
const (
	ClassEmbedder = "RealmEmbedder"
	ClassScorer   = "RealmScorer"
	ClassEncoder  = "RealmKnowledgeAugEncoder"
	ClassReader   = "RealmReader"
	ClassOpenQA   = "RealmForOpenQA"
)

// BlockEmbName is the tensor of a RealmForOpenQA checkpoint that holds its index: the
// embedding of every block of the corpus, [num_block_records, retriever_proj_size].
const BlockEmbName = "block_emb"

// LoadResult describes what Load read.
type LoadResult struct {
	// Config is the directory's validated config.json.
	Config Config
	// Class is the checkpoint's class (architectures[0] of config.json).
	Class string
	// Ignored lists the checkpoint's tensors the class does not use (an embedder's MLM head,
	// position_ids buffers, the scorer's second name for its shared query tower).
	Ignored []string
}

// Load reads the Hugging Face REALM checkpoint in dir (config.json and model.safetensors, or its
// shards) into the variables of a realm model under root, by class:
//   - RealmEmbedder and RealmScorer: the shared retriever towers, root/embedder;
//   - RealmKnowledgeAugEncoder: the knowledge-augmented encoder and its MLM head, root/encoder;
//   - RealmReader: the open-QA reader, its BERT and span head (qa_outputs), root/reader (its
//     unused MLM head is skipped);
//   - RealmForOpenQA: its embedder into root/embedder and its reader into root/reader; its index
//     (block_emb) is not a variable: LoadBlockEmb reads it.
//
// Only an embedder needs its BERT's pooler; the other classes load it when the checkpoint has
// one.
// A missing tensor, a shape that config.json does not imply, an unknown tensor, a model_type
// other than "realm", an unsupported class or a truncated file is an error naming the file and
// the tensor; nothing is written to root unless every tensor checks out.
func Load(dir string, root *model.Scope) (LoadResult, error) {
	var res LoadResult
	cfgPath := filepath.Join(dir, bert.ConfigFile)
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return res, fmt.Errorf("hfrealm.Load: %w", err)
	}
	res.Config = cfg
	if len(cfg.Architectures) == 0 {
		return res, fmt.Errorf("hfrealm.Load: %s names no class (architectures is empty)", cfgPath)
	}
	res.Class = cfg.Architectures[0]
	ck, err := bert.OpenCheckpoint(dir)
	if err != nil {
		return res, fmt.Errorf("hfrealm.Load: %w", err)
	}
	defer ck.Close()

	p, err := planFor(res.Class, cfg)
	if err != nil {
		return res, fmt.Errorf("hfrealm.Load: %s: %w", cfgPath, err)
	}
	as, ignored, err := p.resolve(ck)
	if err != nil {
		return res, fmt.Errorf("hfrealm.Load (%s): %w", res.Class, err)
	}
	res.Ignored = ignored
	if res.Class == ClassScorer {
		if err := sameTower(ck, "query_embedder.", "embedder."); err != nil {
			return res, fmt.Errorf("hfrealm.Load (%s): %w", res.Class, err)
		}
	}
	if err := ck.Assign(root, as); err != nil {
		return res, fmt.Errorf("hfrealm.Load (%s): %w", res.Class, err)
	}
	return res, nil
}

// sameTower checks that the tensors a checkpoint keeps under prefix a (a RealmScorer's
// query_embedder, which PyTorch's pytorch_model.bin stores besides its embedder although they
// are one module) equal those under prefix b: a scorer whose query tower was trained apart is
// not one this package reads yet.
func sameTower(ck *bert.Checkpoint, a, b string) error {
	for _, n := range ck.Names() {
		rest, ok := strings.CutPrefix(n, a)
		if !ok || strings.HasSuffix(n, "position_ids") {
			continue
		}
		x, _, err := ck.ReadFloat32(n)
		if err != nil {
			return err
		}
		y, _, err := ck.ReadFloat32(b + rest)
		if err != nil {
			return fmt.Errorf("tensor %q has no counterpart %q: %w", n, b+rest, err)
		}
		if !slices.Equal(x, y) {
			return fmt.Errorf("tensor %q differs from %q in %s: a query tower apart from the document tower is not supported", n, b+rest, ck.File(n))
		}
	}
	return nil
}

// planFor is the plan of the tensors of class.
func planFor(class string, cfg Config) (*plan, error) {
	p := &plan{}
	switch class {
	case ClassEmbedder:
		p.embedder(cfg, "", realm.EmbedderScope)
	case ClassScorer:
		p.embedder(cfg, "embedder.", realm.EmbedderScope)
		p.ignore("query_embedder.") // the query tower is the embedder, saved under a second name.
	case ClassEncoder:
		p.bert(cfg, "realm.", "cls.", realm.EncoderScope, true)
	case ClassReader:
		p.reader(cfg, "", openqa.ReaderScope)
	case ClassOpenQA:
		p.embedder(cfg, "embedder.", realm.EmbedderScope)
		p.reader(cfg, "reader.", openqa.ReaderScope)
		p.ignore(BlockEmbName) // the index, read by LoadBlockEmb.
	default:
		return nil, fmt.Errorf("class %q is not one of %s, %s, %s, %s, %s", class, ClassEmbedder, ClassScorer, ClassEncoder, ClassReader, ClassOpenQA)
	}
	return p, nil
}

// plan lists the tensors a class needs and the prefixes of those it may skip.
type plan struct {
	need     []bert.Assignment
	optional map[string]bool // names of need that may be absent (a pooler the class does not use).
	skip     []string        // prefixes of the names to skip.
}

// ignore skips every tensor whose name starts with prefix.
func (p *plan) ignore(prefix string) { p.skip = append(p.skip, prefix) }

// bert adds the BERT of a tower: bertPrefix+<BERT name without "bert."> (embeddings, layers and
// pooler) into scope, and with mlm the masked-LM head clsPrefix+"predictions.*"; without mlm
// that head is skipped.
func (p *plan) bert(cfg Config, bertPrefix, clsPrefix, scope string, mlm bool) {
	b := cfg.BERT()
	for _, t := range bert.Mapping(b) {
		name := bertPrefix + strings.TrimPrefix(t.HF, "bert.")
		if t.Part == bert.PartMLMHead {
			if !mlm {
				continue
			}
			name = clsPrefix + strings.TrimPrefix(t.HF, "cls.")
		}
		p.need = append(p.need, bert.Assignment{Name: name, Path: scope + "/" + t.Path, Shape: t.HFShape(b), Transpose: t.Transpose})
		if t.Part == bert.PartPooler {
			if p.optional == nil {
				p.optional = map[string]bool{}
			}
			p.optional[name] = true
		}
	}
	p.ignore(bertPrefix + "embeddings.position_ids")
	if !mlm {
		p.ignore(clsPrefix + "predictions.")
	} else {
		p.ignore(clsPrefix + "predictions.decoder.") // tied to the word embeddings.
	}
}

// embedder adds a RealmEmbedder saved under prefix: its BERT, its pooler and the projection to d.
func (p *plan) embedder(cfg Config, prefix, scope string) {
	p.bert(cfg, prefix+"realm.", prefix+"cls.", scope, false)
	for n := range p.optional {
		if strings.HasPrefix(n, prefix+"realm.pooler.") {
			delete(p.optional, n)
		}
	}
	H, D := cfg.HiddenSize, cfg.RetrieverProjSize
	p.need = append(p.need,
		bert.Assignment{Name: prefix + "cls.dense.weight", Path: scope + "/projection/dense/weights", Shape: []int{D, H}, Transpose: true},
		bert.Assignment{Name: prefix + "cls.dense.bias", Path: scope + "/projection/dense/biases", Shape: []int{D}},
		bert.Assignment{Name: prefix + "cls.LayerNorm.weight", Path: scope + "/projection_layer_norm/layer_normalization/gain", Shape: []int{D}},
		bert.Assignment{Name: prefix + "cls.LayerNorm.bias", Path: scope + "/projection_layer_norm/layer_normalization/offset", Shape: []int{D}})
}

// reader adds a RealmReader saved under prefix: its BERT and the span head (openqa.SpanHead's
// variables under scope/qa_outputs).
func (p *plan) reader(cfg Config, prefix, scope string) {
	p.bert(cfg, prefix+"realm.", prefix+"cls.", scope, false)
	H, N := cfg.HiddenSize, cfg.SpanHiddenSize
	q, s := prefix+"qa_outputs.", scope+"/qa_outputs/"
	p.need = append(p.need,
		bert.Assignment{Name: q + "dense_intermediate.weight", Path: s + "dense_intermediate/dense/weights", Shape: []int{2 * N, H}, Transpose: true},
		bert.Assignment{Name: q + "dense_intermediate.bias", Path: s + "dense_intermediate/dense/biases", Shape: []int{2 * N}},
		bert.Assignment{Name: q + "dense_output.weight", Path: s + "dense_output/dense/weights", Shape: []int{1, N}, Transpose: true},
		bert.Assignment{Name: q + "dense_output.bias", Path: s + "dense_output/dense/biases", Shape: []int{1}},
		bert.Assignment{Name: q + "layer_normalization.weight", Path: s + "layer_normalization/gain", Shape: []int{N}},
		bert.Assignment{Name: q + "layer_normalization.bias", Path: s + "layer_normalization/offset", Shape: []int{N}})
}

// resolve checks the plan against the checkpoint: every needed tensor present (the MLM bias
// may be stored as its tied copy predictions.decoder.bias), every other tensor skipped.
func (p *plan) resolve(ck *bert.Checkpoint) (as []bert.Assignment, ignored []string, err error) {
	used := map[string]bool{}
	for _, a := range p.need {
		if !ck.Has(a.Name) && p.optional[a.Name] {
			continue
		}
		if !ck.Has(a.Name) {
			alt, ok := strings.CutSuffix(a.Name, "predictions.bias")
			if !ok || !ck.Has(alt+"predictions.decoder.bias") {
				return nil, nil, fmt.Errorf("missing tensor %q (variable %s) in %s", a.Name, a.Path, ck.Source())
			}
			a.Name = alt + "predictions.decoder.bias"
		}
		used[a.Name] = true
		as = append(as, a)
	}
	for _, n := range ck.Names() {
		if used[n] {
			continue
		}
		if !slices.ContainsFunc(p.skip, func(s string) bool { return strings.HasPrefix(n, s) }) {
			return nil, nil, fmt.Errorf("unexpected tensor %q in %s", n, ck.File(n))
		}
		ignored = append(ignored, n)
	}
	return as, ignored, nil
}

// LoadBlockEmb reads the index of the RealmForOpenQA checkpoint in dir: block_emb, the
// embedding of each of the num_block_records blocks, row-major [rows, d]. Its shape must be the
// one config.json gives, which is checked before any data is read; the data are then read in
// chunks straight into the result (the released 13,353,718 × 128 index takes 6.8 GB, and
// loading it costs little more), whose capacity leaves the room mips.NewExactInPlace needs.
func LoadBlockEmb(dir string) (data []float32, rows, d int, err error) {
	cfgPath := filepath.Join(dir, bert.ConfigFile)
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("hfrealm.LoadBlockEmb: %w", err)
	}
	ck, err := bert.OpenCheckpoint(dir)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("hfrealm.LoadBlockEmb: %w", err)
	}
	defer ck.Close()
	shape, err := ck.Shape(BlockEmbName)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("hfrealm.LoadBlockEmb: %w", err)
	}
	if want := []int{cfg.NumBlockRecords, cfg.RetrieverProjSize}; !slices.Equal(shape, want) {
		return nil, 0, 0, fmt.Errorf("hfrealm.LoadBlockEmb: tensor %q in %s has shape %v, %s implies %v", BlockEmbName, ck.File(BlockEmbName), shape, cfgPath, want)
	}
	data = make([]float32, shape[0]*shape[1], mips.ExactCap(shape[0], shape[1])) // room for mips.NewExactInPlace.
	if _, err = ck.ReadFloat32Into(BlockEmbName, data); err != nil {
		return nil, 0, 0, fmt.Errorf("hfrealm.LoadBlockEmb: %w", err)
	}
	return data, shape[0], shape[1], nil
}

// LoadIndex reads the index of the RealmForOpenQA checkpoint in dir (LoadBlockEmb) and opens
// the texts of its blocks (OpenBlockRecords of recordsPath, read on demand); row i of the
// embeddings is record i, so their counts must agree. The caller closes records.
func LoadIndex(dir, recordsPath string) (emb []float32, d int, records *BlockRecords, err error) {
	if records, err = OpenBlockRecords(recordsPath); err != nil {
		return nil, 0, nil, err
	}
	emb, rows, d, err := LoadBlockEmb(dir)
	if err == nil && records.Len() != rows {
		err = fmt.Errorf("hfrealm.LoadIndex: %s holds %d blocks, the block_emb of %s %d", recordsPath, records.Len(), dir, rows)
	}
	if err != nil {
		_ = records.Close()
		return nil, 0, nil, err
	}
	return emb, d, records, nil
}
