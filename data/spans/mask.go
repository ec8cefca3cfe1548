package spans

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/realm-go/realm/data/tokenize"
)

// DefaultRandomMaskRate is the fraction of wordpieces the fallback masks
// (whole words, at least one).
const DefaultRandomMaskRate = 0.15

// Masker chooses the wordpieces to mask in a sentence: one salient span when
// the Tagger finds any, otherwise random whole words. It is safe for
// concurrent use; its counters are atomic.
type Masker struct {
	tagger Tagger
	tok    *tokenize.Tokenizer
	// RandomMaskRate is the fraction of pieces the fallback masks; 0 means
	// DefaultRandomMaskRate.
	RandomMaskRate float64

	sentences, salient, fallback, empty atomic.Int64
}

// NewMasker returns a Masker using tagger to find spans and tok to tell word
// boundaries (continuation pieces).
func NewMasker(tagger Tagger, tok *tokenize.Tokenizer) *Masker {
	return &Masker{tagger: tagger, tok: tok}
}

// MaskStats counts how sentences were masked.
type MaskStats struct {
	// Sentences is the number of Mask calls.
	Sentences int64
	// Salient counts sentences where one salient span was masked.
	Salient int64
	// Fallback counts sentences with no usable salient span, masked with random
	// whole words.
	Fallback int64
	// Empty counts sentences without any wordpiece (nothing masked).
	Empty int64
}

// FallbackRate is Fallback / Sentences.
func (s MaskStats) FallbackRate() float64 {
	if s.Sentences == 0 {
		return 0
	}
	return float64(s.Fallback) / float64(s.Sentences)
}

// Stats returns the counters so far.
func (m *Masker) Stats() MaskStats {
	return MaskStats{Sentences: m.sentences.Load(), Salient: m.salient.Load(), Fallback: m.fallback.Load(), Empty: m.empty.Load()}
}

// Masking is the outcome of Mask: the indices (into the pieces given) to
// mask, in increasing order, and the span masked (zero when Salient is false).
type Masking struct {
	Positions []int
	Salient   bool
	Span      Span
}

// PieceRange returns the pieces [i, j) that a byte span covers: every piece
// overlapping it, widened to whole words (a word is a piece that is not a
// continuation plus the continuations after it). j == i when none overlaps.
func PieceRange(tok *tokenize.Tokenizer, pieces []tokenize.Piece, s Span) (i, j int) {
	i = 0
	for i < len(pieces) && pieces[i].End <= s.Start {
		i++
	}
	j = i
	for j < len(pieces) && pieces[j].Start < s.End {
		j++
	}
	if j == i {
		return i, i
	}
	for i > 0 && tok.IsContinuation(pieces[i].ID) {
		i--
	}
	for j < len(pieces) && tok.IsContinuation(pieces[j].ID) {
		j++
	}
	return i, j
}

// Mask chooses what to mask in text, whose pieces (from tok.Tokenize(text),
// possibly truncated) are given. One salient span is chosen uniformly with
// rng among those that cover at least one piece and leave at least one piece
// unmasked; all its pieces (widened to whole words) are masked. With no such
// span, whole words are chosen at random until RandomMaskRate of the pieces
// (at least one word) are masked.
func (m *Masker) Mask(text string, pieces []tokenize.Piece, rng *rand.Rand) Masking {
	m.sentences.Add(1)
	if len(pieces) == 0 {
		m.empty.Add(1)
		return Masking{}
	}
	type cand struct {
		s    Span
		i, j int
	}
	var cands []cand
	for _, s := range m.tagger.Tag(text) {
		i, j := PieceRange(m.tok, pieces, s)
		if j > i && j-i < len(pieces) {
			cands = append(cands, cand{s, i, j})
		}
	}
	if len(cands) > 0 {
		c := cands[rng.IntN(len(cands))]
		pos := make([]int, 0, c.j-c.i)
		for k := c.i; k < c.j; k++ {
			pos = append(pos, k)
		}
		m.salient.Add(1)
		return Masking{Positions: pos, Salient: true, Span: c.s}
	}
	m.fallback.Add(1)
	return Masking{Positions: m.randomWords(pieces, rng)}
}

func (m *Masker) randomWords(pieces []tokenize.Piece, rng *rand.Rand) []int {
	var starts []int
	for k, p := range pieces {
		if k == 0 || !m.tok.IsContinuation(p.ID) {
			starts = append(starts, k)
		}
	}
	rate := m.RandomMaskRate
	if rate == 0 {
		rate = DefaultRandomMaskRate
	}
	want := max(1, int(rate*float64(len(pieces))+0.5))
	masked := make([]bool, len(pieces))
	n := 0
	for _, w := range rng.Perm(len(starts)) {
		if n >= want {
			break
		}
		end := len(pieces)
		if w+1 < len(starts) {
			end = starts[w+1]
		}
		if n > 0 && n+end-starts[w] > want+2 {
			continue // keep close to the rate; the first word is always taken
		}
		for k := starts[w]; k < end; k++ {
			masked[k] = true
			n++
		}
	}
	var pos []int
	for k, b := range masked {
		if b {
			pos = append(pos, k)
		}
	}
	return pos
}
