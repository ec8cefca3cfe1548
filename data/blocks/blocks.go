package blocks

import (
	"fmt"
	"iter"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/tokenize"
)

// DefaultMaxLen is REALM's block length in wordpieces, special tokens
// included: [CLS] title [SEP] body [SEP].
const DefaultMaxLen = 288

// DefaultMaxTitleTokens bounds the title's wordpieces in a block so that a
// long title leaves room for the body.
const DefaultMaxTitleTokens = 32

// Block is one retrieval unit: consecutive sentences of one document.
type Block struct {
	// ID is the block's position in the corpus's block sequence (0, 1, ...):
	// the same corpus and options always give the same ids.
	ID int64
	// DocID is the id of the document the block comes from.
	DocID string
	// Title is the document title, cut to at most MaxTitleTokens wordpieces.
	Title string
	// Body is the document text from the block's first sentence to its last.
	Body string
	// Sentences are the byte ranges of the block's sentences in Body.
	Sentences []Span
	// TokenIDs are Body's wordpiece ids (no special tokens).
	TokenIDs []int32
	// SentenceTokens[i] is the index in TokenIDs of sentence i's first piece;
	// sentence i spans TokenIDs[SentenceTokens[i]:SentenceTokens[i+1]] (or up to
	// the end for the last).
	SentenceTokens []int32
}

// SentenceText returns the text of sentence i.
func (b *Block) SentenceText(i int) string {
	s := b.Sentences[i]
	return b.Body[s.Start:s.End]
}

// SentenceTokenIDs returns the wordpiece ids of sentence i.
func (b *Block) SentenceTokenIDs(i int) []int32 {
	end := int32(len(b.TokenIDs))
	if i+1 < len(b.SentenceTokens) {
		end = b.SentenceTokens[i+1]
	}
	return b.TokenIDs[b.SentenceTokens[i]:end]
}

// Options configures block packing.
type Options struct {
	// MaxLen is the block length in wordpieces counting [CLS], [SEP], the title
	// and the final [SEP]; 0 means DefaultMaxLen.
	MaxLen int
	// MaxTitleTokens bounds the title's wordpieces; 0 means
	// DefaultMaxTitleTokens.
	MaxTitleTokens int
}

func (o Options) withDefaults() Options {
	if o.MaxLen == 0 {
		o.MaxLen = DefaultMaxLen
	}
	if o.MaxTitleTokens == 0 {
		o.MaxTitleTokens = DefaultMaxTitleTokens
	}
	return o
}

// Stats counts what Build saw.
type Stats struct {
	// Documents read, Sentences packed (after splitting over-long ones),
	// Blocks produced, Tokens of block bodies.
	Documents, Sentences, Blocks, Tokens int64
	// LongSentences counts sentences longer than a block's body budget, which
	// were split into several pieces.
	LongSentences int64
}

// Builder packs documents into blocks. It is not safe for concurrent use.
type Builder struct {
	tok    *tokenize.Tokenizer
	opts   Options
	nextID int64
	// Stats accumulates over every Add.
	Stats Stats
}

// NewBuilder returns a Builder using tok to count wordpieces. It fails when
// MaxLen cannot hold the special tokens, a title and some body.
func NewBuilder(tok *tokenize.Tokenizer, opts Options) (*Builder, error) {
	opts = opts.withDefaults()
	if opts.MaxLen < opts.MaxTitleTokens+3+8 {
		return nil, fmt.Errorf("blocks: MaxLen %d too small for a %d-token title, 3 special tokens and a body", opts.MaxLen, opts.MaxTitleTokens)
	}
	return &Builder{tok: tok, opts: opts}, nil
}

type piecedSentence struct {
	span   Span // in the document text
	pieces []tokenize.Piece
}

// Add splits doc into sentences and packs them greedily, in order, into
// blocks whose [CLS] title [SEP] body [SEP] has at most MaxLen wordpieces: a
// sentence goes into the current block if it fits, else it starts a new one. A
// sentence longer than the whole body budget is split into pieces of at most
// the budget, of near-equal lengths (the fewest parts that fit), each cut at a
// word boundary (before a word's first wordpiece) when the part holds at least
// one whole word, and each piece is then treated as a sentence.
func (b *Builder) Add(doc corpus.Document) []Block {
	b.Stats.Documents++
	titlePieces := b.tok.Tokenize(doc.Title)
	title := doc.Title
	if len(titlePieces) > b.opts.MaxTitleTokens {
		titlePieces = titlePieces[:b.opts.MaxTitleTokens]
		title = doc.Title[:titlePieces[len(titlePieces)-1].End]
	}
	budget := b.opts.MaxLen - 3 - len(titlePieces)

	var sents []piecedSentence
	for _, s := range SplitSentences(doc.Text) {
		ps := b.tok.Tokenize(doc.Text[s.Start:s.End])
		if len(ps) == 0 {
			continue
		}
		for i := range ps {
			ps[i].Start += s.Start
			ps[i].End += s.Start
		}
		if len(ps) <= budget {
			sents = append(sents, piecedSentence{s, ps})
			continue
		}
		b.Stats.LongSentences++
		for len(ps) > 0 {
			// Split into the fewest parts that fit, of near-equal length, so that no
			// one-word tail ends up as a block of its own.
			parts := (len(ps) + budget - 1) / budget
			n := (len(ps) + parts - 1) / parts
			if n < len(ps) {
				k := n
				for k > 0 && b.tok.IsContinuation(ps[k].ID) {
					k--
				}
				if k > 0 {
					n = k
				}
			}
			part := ps[:n]
			sents = append(sents, piecedSentence{Span{part[0].Start, part[len(part)-1].End}, part})
			ps = ps[n:]
		}
	}

	var out []Block
	for i := 0; i < len(sents); {
		j, n := i, 0
		for j < len(sents) && n+len(sents[j].pieces) <= budget {
			n += len(sents[j].pieces)
			j++
		}
		group := sents[i:j]
		start, end := group[0].span.Start, group[len(group)-1].span.End
		blk := Block{
			ID:             b.nextID,
			DocID:          doc.ID,
			Title:          title,
			Body:           doc.Text[start:end],
			TokenIDs:       make([]int32, 0, n),
			Sentences:      make([]Span, len(group)),
			SentenceTokens: make([]int32, len(group)),
		}
		for k, s := range group {
			blk.Sentences[k] = Span{s.span.Start - start, s.span.End - start}
			blk.SentenceTokens[k] = int32(len(blk.TokenIDs))
			for _, p := range s.pieces {
				blk.TokenIDs = append(blk.TokenIDs, p.ID)
			}
		}
		b.nextID++
		b.Stats.Blocks++
		b.Stats.Sentences += int64(len(group))
		b.Stats.Tokens += int64(n)
		out = append(out, blk)
		i = j
	}
	return out
}

// Build streams the blocks of docs in corpus order (ids 0, 1, ...); stats,
// when not nil, receives the Builder's counts as it goes. It stops at the
// first document error.
func Build(tok *tokenize.Tokenizer, docs iter.Seq2[corpus.Document, error], opts Options, stats *Stats) iter.Seq2[Block, error] {
	return func(yield func(Block, error) bool) {
		b, err := NewBuilder(tok, opts)
		if err != nil {
			yield(Block{}, err)
			return
		}
		defer func() {
			if stats != nil {
				*stats = b.Stats
			}
		}()
		for d, err := range docs {
			if err != nil {
				yield(Block{}, err)
				return
			}
			for _, blk := range b.Add(d) {
				if !yield(blk, nil) {
					return
				}
			}
		}
	}
}

// Encode returns the retriever's and reader's input for the block, [CLS]
// title [SEP] body [SEP], with at most maxLen tokens (Join's longest-first
// truncation; a block built with MaxLen ≤ maxLen is never truncated). The
// title and body are tokenised again so that Offsets locate every piece in
// Title (segment 0) and Body (segment 1); the body's ids equal TokenIDs.
func (b *Block) Encode(tok *tokenize.Tokenizer, maxLen int) (tokenize.Encoding, error) {
	return tok.Join(maxLen, tok.Tokenize(b.Title), tok.Tokenize(b.Body))
}
