package tokenize

import (
	"fmt"
)

// Span locates a token of an Encoding in its source text: bytes [Start, End) of segment
// Segment (0 for the first text, 1 for the second). Special and padding tokens have
// Segment -1 and an empty span.
type Span struct {
	Segment    int
	Start, End int
}

// Encoding is one model input sequence: token ids, token-type (segment) ids, the attention
// mask (true for real tokens, false for padding) and where each token came from.
// All four slices have the same length.
type Encoding struct {
	IDs, TypeIDs []int32
	Mask         []bool
	Offsets      []Span
}

// Len returns the number of positions in the encoding, padding included.
func (e Encoding) Len() int { return len(e.IDs) }

// Join builds BERT's input from one or two tokenised segments: [CLS] a [SEP] (all token
// type 0) or [CLS] a [SEP] b [SEP] (type 0 up to the first [SEP], then type 1), as REALM's
// join_BERT. When the result would exceed maxLen tokens the segments are cut from their
// ends, longest first, exactly as Hugging Face tokenizers' TruncationStrategy::LongestFirst
// does: with a budget of m = maxLen-3 pieces and segment lengths s ≤ l, the longer keeps
// max(s, m-s) pieces if that fits, else the two keep m/2 and m/2 + m%2 (the extra one goes
// to the longer segment, or to the second on a tie).
// It is an error only when maxLen cannot hold the special tokens themselves, or when the
// number of segments is not 1 or 2.
func (t *Tokenizer) Join(maxLen int, segments ...[]Piece) (Encoding, error) {
	switch len(segments) {
	case 1:
		if maxLen < 2 {
			return Encoding{}, fmt.Errorf("tokenize: Join: maxLen %d cannot hold [CLS] and [SEP]", maxLen)
		}
		a := segments[0]
		a = a[:min(len(a), maxLen-2)]
		enc := newEncoding(len(a) + 2)
		enc.push(t.cls, 0, Span{Segment: -1})
		enc.pushPieces(a, 0, 0)
		enc.push(t.sep, 0, Span{Segment: -1})
		return enc, nil
	case 2:
		if maxLen < 3 {
			return Encoding{}, fmt.Errorf("tokenize: Join: maxLen %d cannot hold [CLS] and two [SEP]", maxLen)
		}
		a, b := segments[0], segments[1]
		na, nb := truncateLongestFirst(len(a), len(b), maxLen-3)
		a, b = a[:na], b[:nb]
		enc := newEncoding(len(a) + len(b) + 3)
		enc.push(t.cls, 0, Span{Segment: -1})
		enc.pushPieces(a, 0, 0)
		enc.push(t.sep, 0, Span{Segment: -1})
		enc.pushPieces(b, 1, 1)
		enc.push(t.sep, 1, Span{Segment: -1})
		return enc, nil
	default:
		return Encoding{}, fmt.Errorf("tokenize: Join: got %d segments, want 1 or 2", len(segments))
	}
}

// truncateLongestFirst returns how many pieces of each segment to keep so that
// n1+n2 ≤ budget, following tokenizers' LongestFirst (utils/truncation.rs).
func truncateLongestFirst(len1, len2, budget int) (n1, n2 int) {
	if len1+len2 <= budget {
		return len1, len2
	}
	n1, n2 = len1, len2
	swap := n1 > n2
	if swap {
		n1, n2 = n2, n1
	}
	if n1 > budget {
		n2 = n1
	} else {
		n2 = max(n1, budget-n1)
	}
	if n1+n2 > budget {
		n1 = budget / 2
		n2 = n1 + budget%2
	}
	if swap {
		n1, n2 = n2, n1
	}
	return min(n1, len1), min(n2, len2)
}

// JoinBERT tokenises one or two texts and joins them with Join.
func (t *Tokenizer) JoinBERT(maxLen int, texts ...string) (Encoding, error) {
	segs := make([][]Piece, len(texts))
	for i, text := range texts {
		segs[i] = t.Tokenize(text)
	}
	return t.Join(maxLen, segs...)
}

func newEncoding(n int) Encoding {
	return Encoding{
		IDs:     make([]int32, 0, n),
		TypeIDs: make([]int32, 0, n),
		Mask:    make([]bool, 0, n),
		Offsets: make([]Span, 0, n),
	}
}

func (e *Encoding) push(id, typeID int32, span Span) {
	e.IDs = append(e.IDs, id)
	e.TypeIDs = append(e.TypeIDs, typeID)
	e.Mask = append(e.Mask, true)
	e.Offsets = append(e.Offsets, span)
}

func (e *Encoding) pushPieces(ps []Piece, typeID int32, segment int) {
	for _, p := range ps {
		e.push(p.ID, typeID, Span{Segment: segment, Start: p.Start, End: p.End})
	}
}

// PadTo returns enc extended to length positions with [PAD] (type 0, mask false,
// Segment -1). An encoding already that long or longer is returned unchanged (PadTo never
// truncates; Join does). The input's slices are not modified.
func (t *Tokenizer) PadTo(enc Encoding, length int) Encoding {
	n := enc.Len()
	if n >= length {
		return enc
	}
	out := Encoding{
		IDs:     make([]int32, length),
		TypeIDs: make([]int32, length),
		Mask:    make([]bool, length),
		Offsets: make([]Span, length),
	}
	copy(out.IDs, enc.IDs)
	copy(out.TypeIDs, enc.TypeIDs)
	copy(out.Mask, enc.Mask)
	copy(out.Offsets, enc.Offsets)
	for i := n; i < length; i++ {
		out.IDs[i] = t.pad
		out.Offsets[i] = Span{Segment: -1}
	}
	return out
}

// Bucket returns the smallest bucket length ≥ n, or -1 when every bucket is shorter than
// n. Buckets need not be sorted. Padding every batch to one of a few bucket lengths lets
// a compiled graph be reused instead of recompiled for every sequence length.
func Bucket(n int, buckets []int) int {
	best := -1
	for _, b := range buckets {
		if b >= n && (best < 0 || b < best) {
			best = b
		}
	}
	return best
}

// Batched is a batch of encodings padded to one length, flattened row-major for tensors
// of shape [B, S]: position s of sequence b is at index b*S+s.
type Batched struct {
	IDs, TypeIDs []int32
	Mask         []bool
	B, S         int
}

// Batch pads every encoding to the bucket length of the longest one (Bucket of its length;
// with no buckets, the longest length itself) and flattens them into one Batched. Padding
// positions get [PAD], type 0 and mask false. It fails when the longest encoding is longer
// than every bucket.
func (t *Tokenizer) Batch(encs []Encoding, buckets []int) (Batched, error) {
	longest := 0
	for i, e := range encs {
		if len(e.TypeIDs) != e.Len() || len(e.Mask) != e.Len() {
			return Batched{}, fmt.Errorf("tokenize: Batch: encoding %d has %d ids, %d type ids and %d mask values", i, e.Len(), len(e.TypeIDs), len(e.Mask))
		}
		longest = max(longest, e.Len())
	}
	s := longest
	if len(buckets) > 0 {
		if s = Bucket(longest, buckets); s < 0 {
			return Batched{}, fmt.Errorf("tokenize: Batch: longest encoding has %d tokens, more than every bucket in %v", longest, buckets)
		}
	}
	b := len(encs)
	out := Batched{
		IDs:     make([]int32, b*s),
		TypeIDs: make([]int32, b*s),
		Mask:    make([]bool, b*s),
		B:       b,
		S:       s,
	}
	for i, e := range encs {
		row := i * s
		copy(out.IDs[row:], e.IDs)
		copy(out.TypeIDs[row:], e.TypeIDs)
		copy(out.Mask[row:], e.Mask)
		for j := e.Len(); j < s; j++ {
			out.IDs[row+j] = t.pad
		}
	}
	return out, nil
}
