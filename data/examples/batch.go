package examples

import (
	"fmt"
	"iter"
	"math/rand/v2"

	"github.com/realm-go/realm/data/tokenize"
)

// Shuffle streams seq in a seeded random order using a buffer of bufSize
// items: memory stays bounded however long seq is, and the order is a
// function of seq and seed. bufSize ≤ 1 leaves the order unchanged.
func Shuffle[T any](seq iter.Seq2[T, error], bufSize int, seed uint64) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		rng := rand.New(rand.NewPCG(seed, 0x5f1e))
		buf := make([]T, 0, max(bufSize, 1))
		for x, err := range seq {
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			if len(buf) < cap(buf) {
				buf = append(buf, x)
				continue
			}
			i := rng.IntN(len(buf))
			out := buf[i]
			buf[i] = x
			if !yield(out, nil) {
				return
			}
		}
		rng.Shuffle(len(buf), func(i, j int) { buf[i], buf[j] = buf[j], buf[i] })
		for _, x := range buf {
			if !yield(x, nil) {
				return
			}
		}
	}
}

// Batches groups seq into slices of size items (the last one shorter unless
// dropLast). Each yielded slice is new: callers may keep it.
func Batches[T any](seq iter.Seq2[T, error], size int, dropLast bool) iter.Seq2[[]T, error] {
	return func(yield func([]T, error) bool) {
		if size <= 0 {
			yield(nil, fmt.Errorf("examples: batch size %d", size))
			return
		}
		batch := make([]T, 0, size)
		for x, err := range seq {
			if err != nil {
				yield(nil, err)
				return
			}
			batch = append(batch, x)
			if len(batch) == size {
				if !yield(batch, nil) {
					return
				}
				batch = make([]T, 0, size)
			}
		}
		if len(batch) > 0 && !dropLast {
			yield(batch, nil)
		}
	}
}

// PretrainBatch is a batch of masked sentences padded for tensors: [B, S]
// inputs and [B, M] masked positions, flattened row-major.
type PretrainBatch struct {
	// B is the batch size, S the padded sequence length, M the padded number
	// of masked positions.
	B, S, M int
	// InputIDs, TypeIDs (all 0) and Mask (false on padding) have B*S entries.
	InputIDs, TypeIDs []int32
	Mask              []bool
	// Positions, Targets and TargetMask (false on padding; padded Positions
	// are 0, padded Targets are [PAD]) have B*M entries.
	Positions, Targets []int32
	TargetMask         []bool
	// BlockIDs are the examples' source blocks, Texts their unmasked text.
	BlockIDs []int64
	Texts    []string
}

// NewPretrainBatch pads exs to the bucket of the longest sequence
// (tokenize.Bucket over seqBuckets) and the bucket of the most masked
// positions (maskBuckets); with no buckets the longest length is used.
func NewPretrainBatch(tok *tokenize.Tokenizer, exs []Pretrain, seqBuckets, maskBuckets []int) (PretrainBatch, error) {
	encs := make([]tokenize.Encoding, len(exs))
	maxM := 0
	for i, ex := range exs {
		n := len(ex.InputIDs)
		encs[i] = tokenize.Encoding{IDs: ex.InputIDs, TypeIDs: make([]int32, n), Mask: make([]bool, n), Offsets: make([]tokenize.Span, n)}
		for k := range encs[i].Mask {
			encs[i].Mask[k] = true
		}
		maxM = max(maxM, len(ex.Positions))
	}
	bt, err := tok.Batch(encs, seqBuckets)
	if err != nil {
		return PretrainBatch{}, fmt.Errorf("examples: pre-training batch: %w", err)
	}
	m := maxM
	if len(maskBuckets) > 0 {
		if m = tokenize.Bucket(maxM, maskBuckets); m < 0 {
			return PretrainBatch{}, fmt.Errorf("examples: %d masked positions exceed every mask bucket %v", maxM, maskBuckets)
		}
	}
	pb := PretrainBatch{B: bt.B, S: bt.S, M: m, InputIDs: bt.IDs, TypeIDs: bt.TypeIDs, Mask: bt.Mask,
		Positions: make([]int32, bt.B*m), Targets: make([]int32, bt.B*m), TargetMask: make([]bool, bt.B*m)}
	for i, ex := range exs {
		for k := range m {
			j := i*m + k
			if k < len(ex.Positions) {
				pb.Positions[j], pb.Targets[j], pb.TargetMask[j] = ex.Positions[k], ex.Targets[k], true
			} else {
				pb.Targets[j] = tok.PAD()
			}
		}
		pb.BlockIDs = append(pb.BlockIDs, ex.BlockID)
		pb.Texts = append(pb.Texts, ex.Text)
	}
	return pb, nil
}

// ICTBatch is a batch of ICT pairs: queries [B, Sq] and contexts [B, Sc];
// context i is the positive of query i (the others are in-batch negatives).
type ICTBatch struct {
	Queries, Contexts tokenize.Batched
	BlockIDs          []int64
	Removed           []bool
}

// NewICTBatch pads queries and contexts to their buckets.
func NewICTBatch(tok *tokenize.Tokenizer, exs []ICT, queryBuckets, contextBuckets []int) (ICTBatch, error) {
	qs := make([]tokenize.Encoding, len(exs))
	cs := make([]tokenize.Encoding, len(exs))
	var b ICTBatch
	for i, ex := range exs {
		qs[i], cs[i] = ex.Query, ex.Context
		b.BlockIDs = append(b.BlockIDs, ex.BlockID)
		b.Removed = append(b.Removed, ex.Removed)
	}
	var err error
	if b.Queries, err = tok.Batch(qs, queryBuckets); err != nil {
		return ICTBatch{}, fmt.Errorf("examples: ICT queries: %w", err)
	}
	if b.Contexts, err = tok.Batch(cs, contextBuckets); err != nil {
		return ICTBatch{}, fmt.Errorf("examples: ICT contexts: %w", err)
	}
	return b, nil
}
