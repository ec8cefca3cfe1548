package hfrealm

import (
	"fmt"
	"path/filepath"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/blocks"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/realm"
)

// OpenQA opens the RealmForOpenQA checkpoint in dir, with the texts of its blocks in recordsPath
// (a RealmRetriever's block_records.npy), as a realm.QA that answers questions the way
// transformers' RealmForOpenQA does in evaluation: the embedder embeds [CLS] question [SEP]
// (at most queryLen wordpieces; queryLen ≤ 0 takes min(64, reader_seq_len/2)), an exact search over block_emb finds the reader_beam_size best
// blocks, and the reader scores every wordpiece span of each [CLS] question [SEP] block [SEP]
// (reader_seq_len wordpieces) plus the block's score. The tokenizer is the directory's
// (vocab.txt, tokenizer_config.json). One difference: transformers' RealmRetriever gives the
// reader tokenizer.decode(question, skip_special_tokens=True) re-tokenised, which drops the
// question's [UNK] pieces; here the reader reads the question's pieces as the embedder does.
func OpenQA(be compute.Backend, dir, recordsPath string, queryLen int) (*realm.QA, error) {
	store := model.NewStore()
	res, err := Load(dir, store.RootScope())
	if err != nil {
		return nil, err
	}
	if res.Class != ClassOpenQA {
		return nil, fmt.Errorf("hfrealm.OpenQA: %s is a %s, not a %s", filepath.Join(dir, "config.json"), res.Class, ClassOpenQA)
	}
	emb, _, records, err := LoadIndex(dir, recordsPath)
	if err != nil {
		return nil, err
	}
	tok, err := tokenize.FromDir(dir)
	if err != nil {
		return nil, fmt.Errorf("hfrealm.OpenQA: %w", err)
	}
	rc := res.Config.Reader()
	if queryLen <= 0 {
		queryLen = min(64, rc.SeqLen/2)
	}
	cfg, err := res.Config.REALM(queryLen, rc.SeqLen-queryLen)
	if err != nil {
		return nil, err
	}
	c, err := realm.NewCorpus(tok, func(yield func(blocks.Block, error) bool) {
		for i, text := range records {
			var ids []int32
			for _, p := range tok.Tokenize(text) {
				ids = append(ids, p.ID)
			}
			b := blocks.Block{ID: int64(i), DocID: fmt.Sprint(i), Body: text, TokenIDs: ids,
				Sentences: []blocks.Span{{Start: 0, End: len(text)}}}
			if !yield(b, nil) {
				return
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("hfrealm.OpenQA: %s: %w", recordsPath, err)
	}
	r, err := realm.NewDenseRetrieverFromVectors(be, store, cfg, c, emb, "realm")
	if err != nil {
		return nil, fmt.Errorf("hfrealm.OpenQA: %w", err)
	}
	return realm.NewQA(be, store, cfg, rc, c, r)
}
