package realm

import (
	"fmt"
	"iter"
	"slices"

	"github.com/realm-go/realm/data/blocks"
	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/data/tokenize"
)

// Corpus is the knowledge corpus Z as the trainers use it: every block in memory, indexed by
// its id, with its title already tokenised. (The embedded Factbook packs into ~10k blocks of
// 128 wordpieces, a few MB; larger corpora stream from a blocks.ParquetStore.) A corpus made by
// NewSourceCorpus holds no block: it reads each from its BlockSource when it is asked for (the
// 13M blocks of a released REALM index), and serves retrieval and reading, not training.
type Corpus struct {
	// Tok is the tokenizer the blocks were made with.
	Tok *tokenize.Tokenizer
	// Blocks holds block i at index i (block ids are positions in the corpus's block sequence);
	// nil for a corpus over a BlockSource.
	Blocks []blocks.Block
	titles [][]int32
	src    BlockSource
}

// BlockSource gives the blocks of a corpus that is read, not held: Block(id) returns the block
// at position id ∈ [0, Len()), its TokenIDs filled in.
type BlockSource interface {
	Len() int
	Block(id int64) (blocks.Block, error)
}

// NewSourceCorpus is a corpus whose blocks src reads on demand (tokenised with tok).
func NewSourceCorpus(tok *tokenize.Tokenizer, src BlockSource) (*Corpus, error) {
	if src.Len() == 0 {
		return nil, fmt.Errorf("realm: the corpus has no block")
	}
	return &Corpus{Tok: tok, src: src}, nil
}

// NewCorpus collects blocks whose ids must be 0, 1, 2, … in order.
func NewCorpus(tok *tokenize.Tokenizer, blks iter.Seq2[blocks.Block, error]) (*Corpus, error) {
	c := &Corpus{Tok: tok}
	titles := map[string][]int32{}
	for b, err := range blks {
		if err != nil {
			return nil, fmt.Errorf("realm: reading blocks: %w", err)
		}
		if b.ID != int64(len(c.Blocks)) {
			return nil, fmt.Errorf("realm: block ids must be 0, 1, 2, …: got %d at position %d", b.ID, len(c.Blocks))
		}
		t, ok := titles[b.Title]
		if !ok {
			t = tok.IDs(b.Title)
			titles[b.Title] = t
		}
		c.Blocks = append(c.Blocks, b)
		c.titles = append(c.titles, t)
	}
	if len(c.Blocks) == 0 {
		return nil, fmt.Errorf("realm: the corpus has no block")
	}
	return c, nil
}

// BuildCorpus packs documents into blocks of at most maxLen wordpieces counting
// [CLS] title [SEP] body [SEP] (REALM's corpus builder) and collects them.
func BuildCorpus(tok *tokenize.Tokenizer, docs iter.Seq2[corpus.Document, error], maxLen int) (*Corpus, blocks.Stats, error) {
	var stats blocks.Stats
	opts := blocks.Options{MaxLen: maxLen}
	if maxLen < blocks.DefaultMaxTitleTokens+3+8 { // short blocks (a small model's): a quarter for the title.
		opts.MaxTitleTokens = max(1, maxLen/4)
	}
	c, err := NewCorpus(tok, blocks.Build(tok, docs, opts, &stats))
	return c, stats, err
}

// Len is the number of blocks.
func (c *Corpus) Len() int {
	if c.src != nil {
		return c.src.Len()
	}
	return len(c.Blocks)
}

// Block returns block id.
func (c *Corpus) Block(id int64) (blocks.Block, error) {
	if id < 0 || id >= int64(c.Len()) {
		return blocks.Block{}, fmt.Errorf("realm: block %d out of the corpus's [0, %d)", id, c.Len())
	}
	if c.src == nil {
		return c.Blocks[id], nil
	}
	b, err := c.src.Block(id)
	if err != nil {
		return blocks.Block{}, fmt.Errorf("realm: reading block %d: %w", id, err)
	}
	return b, nil
}

// Doc returns block id as the featuriser's Doc.
func (c *Corpus) Doc(id int64) (Doc, error) {
	if c.src == nil {
		return Doc{ID: id, Title: c.titles[id], Body: c.Blocks[id].TokenIDs}, nil
	}
	b, err := c.Block(id)
	if err != nil {
		return Doc{}, err
	}
	return Doc{ID: id, Title: c.Tok.IDs(b.Title), Body: b.TokenIDs}, nil
}

// BlockSeq streams the corpus's blocks (those of Blocks: none for a corpus over a BlockSource).
func (c *Corpus) BlockSeq() iter.Seq2[blocks.Block, error] {
	return func(yield func(blocks.Block, error) bool) {
		for _, b := range c.Blocks {
			if !yield(b, nil) {
				return
			}
		}
	}
}

// TitleNamed reports whether ex's visible wordpieces spell the title of its source block in c
// (see pretrain.Pretrainer.TitleNamed, which splits same-title recall on it).
func (c *Corpus) TitleNamed(ex examples.Pretrain) bool {
	title := c.titles[ex.BlockID] // the title's pieces, tokenised once by NewCorpus.
	if len(title) == 0 {
		return false
	}
	visible := slices.Clone(ex.InputIDs)
	for _, pos := range ex.Positions {
		visible[pos] = -1 // never a vocabulary id, so no run crosses a masked piece.
	}
	return ContainsRun(visible, title)
}

// ContainsRun reports whether run occurs in ids as a contiguous subsequence.
func ContainsRun(ids, run []int32) bool {
	for i := 0; i+len(run) <= len(ids); i++ {
		if slices.Equal(ids[i:i+len(run)], run) {
			return true
		}
	}
	return false
}
