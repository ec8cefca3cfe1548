package hfrealm

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/pretrain"
)

// LoadPretrained reads released REALM checkpoints into one store, as REALM pre-training or
// open-QA fine-tuning continues from them: dirs must give a retriever (a RealmEmbedder,
// RealmScorer or RealmForOpenQA, e.g. google/realm-cc-news-pretrained-embedder) and a
// knowledge-augmented encoder (a RealmKnowledgeAugEncoder, e.g.
// google/realm-cc-news-pretrained-encoder) or a reader (a RealmReader or RealmForOpenQA), of
// one BERT shape. The tokenizer is that of the first directory with one (vocab.txt or
// tokenizer.json). The result's Config has the checkpoints' shapes, d and k; its query and
// block lengths are left for the caller (pretrain.RunPipeline takes them from its own config).
func LoadPretrained(dirs []string) (*pretrain.Pretrained, error) {
	if len(dirs) == 0 {
		return nil, fmt.Errorf("hfrealm.LoadPretrained: no checkpoint directory")
	}
	store := model.NewStore()
	p := &pretrain.Pretrained{Store: store}
	var first Config
	var retriever, encoder, reader string
	for i, dir := range dirs {
		res, err := Load(dir, store.RootScope())
		if err != nil {
			return nil, err
		}
		if i == 0 {
			first = res.Config
		} else if !sameShape(res.Config.BERT(), first.BERT()) || res.Config.RetrieverProjSize != first.RetrieverProjSize {
			return nil, fmt.Errorf("hfrealm.LoadPretrained: %s and %s have different shapes", dirs[0], dir)
		}
		switch res.Class {
		case ClassEmbedder, ClassScorer:
			retriever = dir
		case ClassEncoder:
			encoder = dir
		case ClassReader:
			reader = dir
		case ClassOpenQA:
			retriever, reader = dir, dir
		}
		if p.TokenizerDir == "" && (exists(filepath.Join(dir, "vocab.txt")) || exists(filepath.Join(dir, "tokenizer.json"))) {
			p.TokenizerDir = dir
		}
	}
	switch {
	case retriever == "":
		return nil, fmt.Errorf("hfrealm.LoadPretrained: none of %v is a retriever (%s, %s or %s)", dirs, ClassEmbedder, ClassScorer, ClassOpenQA)
	case encoder == "" && reader == "":
		return nil, fmt.Errorf("hfrealm.LoadPretrained: none of %v is a knowledge-augmented encoder (%s) or a reader (%s, %s)", dirs, ClassEncoder, ClassReader, ClassOpenQA)
	case p.TokenizerDir == "":
		return nil, fmt.Errorf("hfrealm.LoadPretrained: none of %v has a tokenizer (vocab.txt or tokenizer.json)", dirs)
	}
	P := first.MaxPositionEmbeddings // the lengths are placeholders, within the positions.
	cfg, err := first.REALM(min(realm.DefaultConfig().QueryLen, P/4), min(realm.DefaultConfig().DocLen, P/2))
	if err != nil {
		return nil, err
	}
	p.Config, p.HasEncoder, p.HasReader = cfg, encoder != "", reader != ""
	return p, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
