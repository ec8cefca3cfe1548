package hfrealm

import (
	"fmt"
	"path/filepath"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/blocks"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/mips"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/openqa"
)

// OpenQA opens the RealmForOpenQA checkpoint in dir, with the texts of its blocks in recordsPath
// (a RealmRetriever's block_records.npy), as an openqa.QA that answers questions the way
// transformers' RealmForOpenQA does in evaluation: the embedder embeds [CLS] question [SEP]
// (at most queryLen wordpieces; queryLen ≤ 0 takes min(64, reader_seq_len/2)), an exact search over block_emb finds the reader_beam_size best
// blocks, and the reader scores every wordpiece span of each [CLS] question [SEP] block [SEP]
// (reader_seq_len wordpieces) plus the block's score. The tokenizer is the directory's
// (vocab.txt, tokenizer_config.json). As transformers' RealmRetriever gives the reader
// tokenizer.decode(question, skip_special_tokens=True) tokenised again, the reader reads the
// question without its [UNK] pieces (openqa.ReaderConfig.SkipUnknown).
//
// The blocks are read from recordsPath when retrieved (the file stays open while the QA is in
// use), and block_emb is read straight into the exact index, so opening the released 13.35M-block
// model costs about its 6.8 GB of embeddings: 1.08× the embeddings on a synthetic index of 1M
// blocks (tools/indexbench).
func OpenQA(be compute.Backend, dir, recordsPath string, queryLen int) (*openqa.QA, error) {
	o, err := openIndex(be, dir, recordsPath, queryLen)
	if err != nil {
		return nil, err
	}
	q, err := openqa.NewQA(be, o.store, o.cfg, o.rc, o.corpus, o.retriever)
	if err != nil {
		_ = o.records.Close()
		return nil, err
	}
	return q, nil
}

// IsOpenQA reports whether dir is a Hugging Face RealmForOpenQA directory (its config.json
// names the class).
func IsOpenQA(dir string) bool {
	hc, err := LoadConfig(filepath.Join(dir, bert.ConfigFile))
	return err == nil && len(hc.Architectures) > 0 && hc.Architectures[0] == ClassOpenQA
}

// OpenRetriever opens the retriever of the RealmForOpenQA checkpoint in dir as OpenQA does
// (its embedder over block_emb, the blocks read from recordsPath when retrieved), without the
// reader: the retriever and its corpus.
func OpenRetriever(be compute.Backend, dir, recordsPath string, queryLen int) (*openqa.DenseRetriever, *realm.Corpus, error) {
	o, err := openIndex(be, dir, recordsPath, queryLen)
	if err != nil {
		return nil, nil, err
	}
	return o.retriever, o.corpus, nil
}

// openedIndex is a RealmForOpenQA checkpoint opened over its index.
type openedIndex struct {
	store     *model.Store
	cfg       realm.Config
	rc        openqa.ReaderConfig
	corpus    *realm.Corpus
	records   *BlockRecords
	retriever *openqa.DenseRetriever
}

// openIndex loads the checkpoint in dir, its index and its tokenizer (OpenQA).
func openIndex(be compute.Backend, dir, recordsPath string, queryLen int) (_ *openedIndex, err error) {
	store := model.NewStore()
	res, err := Load(dir, store.RootScope())
	if err != nil {
		return nil, err
	}
	if res.Class != ClassOpenQA {
		return nil, fmt.Errorf("hfrealm: %s is a %s, not a %s", filepath.Join(dir, "config.json"), res.Class, ClassOpenQA)
	}
	tok, err := tokenize.FromDir(dir)
	if err != nil {
		return nil, fmt.Errorf("hfrealm: %w", err)
	}
	rc := res.Config.Reader()
	if queryLen <= 0 {
		queryLen = min(64, rc.SeqLen/2)
	}
	cfg, err := res.Config.REALM(queryLen, rc.SeqLen-queryLen)
	if err != nil {
		return nil, err
	}
	emb, _, records, err := LoadIndex(dir, recordsPath)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = records.Close()
		}
	}()
	c, err := realm.NewSourceCorpus(tok, recordSource{records, tok})
	if err != nil {
		return nil, fmt.Errorf("hfrealm: %s: %w", recordsPath, err)
	}
	idx, err := mips.NewExactInPlace(emb, nil, cfg.ProjectionDim)
	if err != nil {
		return nil, fmt.Errorf("hfrealm: %w", err)
	}
	r, err := openqa.NewDenseRetrieverFromIndex(be, store, cfg, c, idx, "realm")
	if err != nil {
		return nil, fmt.Errorf("hfrealm: %w", err)
	}
	return &openedIndex{store: store, cfg: cfg, rc: rc, corpus: c, records: records, retriever: r}, nil
}

// recordSource reads the blocks of an open-QA index from its block records: block i is record
// i, untitled, tokenised when it is read.
type recordSource struct {
	records *BlockRecords
	tok     *tokenize.Tokenizer
}

func (s recordSource) Len() int { return s.records.Len() }

func (s recordSource) Block(id int64) (blocks.Block, error) {
	text, err := s.records.Record(int(id))
	if err != nil {
		return blocks.Block{}, err
	}
	return blocks.Block{ID: id, DocID: fmt.Sprint(id), Body: text, TokenIDs: s.tok.IDs(text),
		Sentences: []blocks.Span{{Start: 0, End: len(text)}}}, nil
}
