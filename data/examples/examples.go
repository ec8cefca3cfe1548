// Package examples makes REALM's training examples from blocks: masked
// sentences for salient-span-masking pre-training, and inverse-cloze-task
// (ICT) pairs for warm-starting the retriever. Both are streamed block by
// block, deterministic given a seed (each block's random choices come from
// the seed and the block id alone, so any subset of blocks gives the same
// examples), shuffled with a bounded buffer and batched with padding to
// bucketed lengths.
package examples

import (
	"fmt"
	"iter"
	"math/rand/v2"

	"github.com/realm-go/realm/data/blocks"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/data/tokenize"
)

// DefaultSentenceMaxLen bounds a masked sentence in wordpieces, [CLS] and
// [SEP] included.
const DefaultSentenceMaxLen = 64

// blockRNG is the random source of one block: a function of the seed and the
// block id only.
func blockRNG(seed uint64, stream uint64, id int64) *rand.Rand {
	return rand.New(rand.NewPCG(seed^stream, uint64(id)*0x9e3779b97f4a7c15+1))
}

// Pretrain is one salient-span-masking example: a sentence of a block with
// one salient span (or random words) replaced by [MASK].
type Pretrain struct {
	// BlockID is the block the sentence comes from: the trainer excludes it
	// from retrieval, or the answer would be trivially retrieved.
	BlockID int64
	// Sentence is the index of the sentence in its block.
	Sentence int
	// Text is the unmasked sentence (cut where the wordpieces were truncated).
	Text string
	// InputIDs are [CLS] sentence [SEP] with the masked pieces set to [MASK].
	InputIDs []int32
	// Positions are the indices in InputIDs of the masked pieces, increasing.
	Positions []int32
	// Targets are the original ids at Positions.
	Targets []int32
	// Salient is false when no salient span was found and random whole words
	// were masked instead.
	Salient bool
}

// PretrainOptions configures PretrainExamples.
type PretrainOptions struct {
	// MaxLen bounds InputIDs (specials included); 0 means
	// DefaultSentenceMaxLen. Longer sentences are cut at the end.
	MaxLen int
	// MinPieces skips sentences with fewer wordpieces; 0 means 3.
	MinPieces int
	// Seed makes the masking reproducible.
	Seed uint64
}

// PretrainExamples streams one masked example per sentence of every block
// (sentences shorter than MinPieces are skipped), in block order. masker
// decides what to mask and counts salient versus fallback masking.
func PretrainExamples(tok *tokenize.Tokenizer, masker *spans.Masker, blks iter.Seq2[blocks.Block, error], opts PretrainOptions) iter.Seq2[Pretrain, error] {
	if opts.MaxLen == 0 {
		opts.MaxLen = DefaultSentenceMaxLen
	}
	if opts.MinPieces == 0 {
		opts.MinPieces = 3
	}
	return func(yield func(Pretrain, error) bool) {
		if opts.MaxLen < 3 {
			yield(Pretrain{}, fmt.Errorf("examples: MaxLen %d cannot hold [CLS] x [SEP]", opts.MaxLen))
			return
		}
		for b, err := range blks {
			if err != nil {
				yield(Pretrain{}, err)
				return
			}
			rng := blockRNG(opts.Seed, 1, b.ID)
			for k := range b.Sentences {
				text, pieces := tokenizeUpTo(tok, b.SentenceText(k), opts.MaxLen-2)
				if len(pieces) < opts.MinPieces {
					continue
				}
				mk := masker.Mask(text, pieces, rng)
				ex := Pretrain{BlockID: b.ID, Sentence: k, Text: text, Salient: mk.Salient}
				ex.InputIDs = make([]int32, 0, len(pieces)+2)
				ex.InputIDs = append(ex.InputIDs, tok.CLS())
				for _, p := range pieces {
					ex.InputIDs = append(ex.InputIDs, p.ID)
				}
				ex.InputIDs = append(ex.InputIDs, tok.SEP())
				for _, p := range mk.Positions {
					ex.Positions = append(ex.Positions, int32(p+1))
					ex.Targets = append(ex.Targets, ex.InputIDs[p+1])
					ex.InputIDs[p+1] = tok.MASK()
				}
				if !yield(ex, nil) {
					return
				}
			}
		}
	}
}

// ICT is one inverse-cloze-task pair: a sentence as the query and its block
// as the positive context.
type ICT struct {
	// BlockID is the positive block; Sentence the query's index in it.
	BlockID  int64
	Sentence int
	// Query is [CLS] sentence [SEP].
	Query tokenize.Encoding
	// Context is [CLS] title [SEP] block body [SEP], without the query
	// sentence when Removed. Both are built from token ids: their Offsets
	// are empty spans (use blocks.Block.Encode for offsets into the text).
	Context tokenize.Encoding
	// Removed says whether the query sentence was taken out of the context.
	Removed bool
}

// ICTOptions configures ICTExamples.
type ICTOptions struct {
	// QueryMaxLen bounds a query (specials included); 0 means
	// DefaultSentenceMaxLen.
	QueryMaxLen int
	// BlockMaxLen bounds a context; 0 means blocks.DefaultMaxLen.
	BlockMaxLen int
	// KeepRate is the probability that the query sentence stays in its
	// context: ORQA removes it 90% of the time, so that the retriever learns
	// more than word matching but still matches words sometimes. nil means 0.1
	// (use a pointer to ask for 0).
	KeepRate *float64
	// PerBlock is how many distinct sentences of a block become queries; 0
	// means 1.
	PerBlock int
	// MaskRate is the probability that a query is masked the way REALM
	// pre-training masks its sentences (Masker chooses the pieces and they
	// become [MASK]), so that the warm-started retriever has seen queries
	// like the ones it will serve; 0, ORQA's ICT, leaves every query whole.
	MaskRate float64
	// Masker masks the queries; it must be set when MaskRate > 0.
	Masker *spans.Masker
	// Seed makes the choices reproducible.
	Seed uint64
}

// Rate returns a *float64 for ICTOptions.KeepRate.
func Rate(r float64) *float64 { return &r }

// ICTExamples streams ICT pairs: for every block with at least two sentences,
// PerBlock sentences chosen at random become queries; each one is removed
// from its context with probability 1-KeepRate. Blocks with a single sentence
// are skipped (removing it would leave an empty context).
func ICTExamples(tok *tokenize.Tokenizer, blks iter.Seq2[blocks.Block, error], opts ICTOptions) iter.Seq2[ICT, error] {
	if opts.QueryMaxLen == 0 {
		opts.QueryMaxLen = DefaultSentenceMaxLen
	}
	if opts.BlockMaxLen == 0 {
		opts.BlockMaxLen = blocks.DefaultMaxLen
	}
	keep := 0.1
	if opts.KeepRate != nil {
		keep = *opts.KeepRate
	}
	if opts.PerBlock == 0 {
		opts.PerBlock = 1
	}
	return func(yield func(ICT, error) bool) {
		if opts.MaskRate < 0 || opts.MaskRate > 1 || opts.MaskRate > 0 && opts.Masker == nil {
			yield(ICT{}, fmt.Errorf("examples: ICT query mask rate %g must lie in [0, 1], with a Masker when above 0", opts.MaskRate))
			return
		}
		for b, err := range blks {
			if err != nil {
				yield(ICT{}, err)
				return
			}
			if len(b.Sentences) < 2 {
				continue
			}
			rng := blockRNG(opts.Seed, 2, b.ID)
			// Masking draws from a stream of its own, so that MaskRate 0 keeps the
			// choices of queries and removals that ICT made before masking existed.
			maskRNG := blockRNG(opts.Seed, 3, b.ID)
			title := tok.Tokenize(b.Title)
			order := rng.Perm(len(b.Sentences))
			for _, k := range order[:min(opts.PerBlock, len(order))] {
				removed := rng.Float64() >= keep
				qPieces := asPieces(b.SentenceTokenIDs(k))
				if opts.MaskRate > 0 && maskRNG.Float64() < opts.MaskRate {
					qPieces = maskQuery(tok, opts.Masker, b.SentenceText(k), opts.QueryMaxLen-2, maskRNG)
				}
				query, err := tok.Join(opts.QueryMaxLen, qPieces)
				if err != nil {
					yield(ICT{}, err)
					return
				}
				body := b.TokenIDs
				if removed {
					s := b.SentenceTokenIDs(k)
					start := int(b.SentenceTokens[k])
					body = make([]int32, 0, len(b.TokenIDs)-len(s))
					body = append(append(body, b.TokenIDs[:start]...), b.TokenIDs[start+len(s):]...)
				}
				ctx, err := tok.Join(opts.BlockMaxLen, title, asPieces(body))
				if err != nil {
					yield(ICT{}, err)
					return
				}
				if !yield(ICT{BlockID: b.ID, Sentence: k, Query: query, Context: ctx, Removed: removed}, nil) {
					return
				}
			}
		}
	}
}

// maskQuery returns the wordpieces of text, at most maxPieces of them, with
// those masker chooses set to [MASK], as PretrainExamples masks a sentence.
func maskQuery(tok *tokenize.Tokenizer, masker *spans.Masker, text string, maxPieces int, rng *rand.Rand) []tokenize.Piece {
	text, pieces := tokenizeUpTo(tok, text, maxPieces)
	mk := masker.Mask(text, pieces, rng)
	for _, i := range mk.Positions {
		pieces[i].ID = tok.MASK()
	}
	return pieces
}

// tokenizeUpTo returns text's first n wordpieces (none when n ≤ 0) and the text they
// cover: a sentence cut where its pieces were truncated.
func tokenizeUpTo(tok *tokenize.Tokenizer, text string, n int) (string, []tokenize.Piece) {
	if n <= 0 {
		return "", nil
	}
	pieces := tok.Tokenize(text)
	if len(pieces) > n {
		pieces = pieces[:n]
		text = text[:pieces[n-1].End]
	}
	return text, pieces
}

func asPieces(ids []int32) []tokenize.Piece {
	ps := make([]tokenize.Piece, len(ids))
	for i, id := range ids {
		ps[i] = tokenize.Piece{ID: id}
	}
	return ps
}
