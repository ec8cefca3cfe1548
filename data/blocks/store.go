package blocks

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sync"

	"github.com/parquet-go/parquet-go"
)

// Store maps block ids to blocks.
type Store interface {
	// Len is the number of blocks; ids are 0 … Len()-1.
	Len() int
	// Get returns the block with the given id.
	Get(id int64) (Block, error)
}

// MemStore is a Store holding every block in memory.
type MemStore struct {
	blocks []Block
}

// Collect reads a block sequence into a MemStore. Blocks must arrive with ids
// 0, 1, 2, ... (as Build gives them).
func Collect(seq iter.Seq2[Block, error]) (*MemStore, error) {
	s := &MemStore{}
	for b, err := range seq {
		if err != nil {
			return nil, err
		}
		if b.ID != int64(len(s.blocks)) {
			return nil, fmt.Errorf("blocks: block id %d arrives at position %d", b.ID, len(s.blocks))
		}
		s.blocks = append(s.blocks, b)
	}
	return s, nil
}

// Len implements Store.
func (s *MemStore) Len() int { return len(s.blocks) }

// Get implements Store.
func (s *MemStore) Get(id int64) (Block, error) {
	if id < 0 || id >= int64(len(s.blocks)) {
		return Block{}, fmt.Errorf("blocks: id %d out of [0, %d)", id, len(s.blocks))
	}
	return s.blocks[id], nil
}

// All streams the blocks in id order.
func (s *MemStore) All() iter.Seq2[Block, error] {
	return func(yield func(Block, error) bool) {
		for _, b := range s.blocks {
			if !yield(b, nil) {
				return
			}
		}
	}
}

// blockRow is the Parquet schema of a block store.
type blockRow struct {
	ID             int64   `parquet:"id"`
	DocID          string  `parquet:"doc_id"`
	Title          string  `parquet:"title"`
	Body           string  `parquet:"body"`
	SentenceStarts []int32 `parquet:"sentence_starts,list"`
	SentenceEnds   []int32 `parquet:"sentence_ends,list"`
	SentenceTokens []int32 `parquet:"sentence_tokens,list"`
	TokenIDs       []int32 `parquet:"token_ids,list"`
}

// RowGroupSize is the number of blocks per Parquet row group: Get on a
// ParquetStore decodes at most one group.
const RowGroupSize = 1024

// WriteParquet writes blocks (ids 0, 1, ... in order) to a Parquet file at
// path, through a temporary file in the same directory renamed into place,
// and returns how many it wrote. It streams: one row group is in memory at a
// time.
func WriteParquet(path string, blocks iter.Seq2[Block, error]) (n int64, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".blocks-*.parquet.tmp")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := parquet.NewGenericWriter[blockRow](f, parquet.MaxRowsPerRowGroup(RowGroupSize), parquet.Compression(&parquet.Zstd))
	rows := make([]blockRow, 0, 256)
	flush := func() error {
		if _, err := w.Write(rows); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rows = rows[:0]
		return nil
	}
	for b, err := range blocks {
		if err != nil {
			return n, err
		}
		if b.ID != n {
			return n, fmt.Errorf("%s: block id %d arrives at position %d", path, b.ID, n)
		}
		r := blockRow{ID: b.ID, DocID: b.DocID, Title: b.Title, Body: b.Body, SentenceTokens: b.SentenceTokens, TokenIDs: b.TokenIDs}
		r.SentenceStarts = make([]int32, len(b.Sentences))
		r.SentenceEnds = make([]int32, len(b.Sentences))
		for i, s := range b.Sentences {
			r.SentenceStarts[i], r.SentenceEnds[i] = int32(s.Start), int32(s.End)
		}
		rows = append(rows, r)
		n++
		if len(rows) == cap(rows) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := flush(); err != nil {
		return n, err
	}
	if err := w.Close(); err != nil {
		return n, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if err := f.Close(); err != nil {
		return n, err
	}
	return n, os.Rename(f.Name(), path)
}

// ParquetStore is a Store reading blocks from a file written by WriteParquet
// without loading it: Get seeks to the block's row (decoding its row group),
// All streams row groups in order. It is safe for concurrent use (Get calls
// are serialised).
type ParquetStore struct {
	path string
	f    *os.File
	pf   *parquet.File
	mu   sync.Mutex
	r    *parquet.GenericReader[blockRow]
	next int64 // row the reader is positioned at
}

// OpenParquet opens a block store written by WriteParquet.
func OpenParquet(path string) (*ParquetStore, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a readable Parquet file: %w", path, err)
	}
	want := parquet.SchemaOf(blockRow{})
	for _, col := range want.Columns() {
		leaf, ok := pf.Schema().Lookup(col...)
		wl, _ := want.Lookup(col...)
		if !ok || leaf.Node.Type().Kind() != wl.Node.Type().Kind() {
			f.Close()
			return nil, fmt.Errorf("%s: not a block store: column %v missing or of another type", path, col)
		}
	}
	return &ParquetStore{path: path, f: f, pf: pf, r: parquet.NewGenericReader[blockRow](pf)}, nil
}

// Close closes the file.
func (s *ParquetStore) Close() error {
	s.r.Close()
	return s.f.Close()
}

// Len implements Store.
func (s *ParquetStore) Len() int { return int(s.pf.NumRows()) }

// Get implements Store. Reading ids in increasing order avoids re-seeking.
func (s *ParquetStore) Get(id int64) (Block, error) {
	if id < 0 || id >= s.pf.NumRows() {
		return Block{}, fmt.Errorf("%s: block id %d out of [0, %d)", s.path, id, s.pf.NumRows())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != s.next {
		if err := s.r.SeekToRow(id); err != nil {
			return Block{}, fmt.Errorf("%s: seek to row %d: %w", s.path, id, err)
		}
	}
	rows := make([]blockRow, 1)
	n, err := s.r.Read(rows)
	if n != 1 {
		s.next = -1
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Block{}, fmt.Errorf("%s: row %d: %w", s.path, id, err)
	}
	s.next = id + 1
	return fromRow(s.path, id, rows[0])
}

func fromRow(path string, row int64, r blockRow) (Block, error) {
	if r.ID != row || len(r.SentenceStarts) != len(r.SentenceEnds) || len(r.SentenceTokens) != len(r.SentenceStarts) {
		return Block{}, fmt.Errorf("%s: row %d: inconsistent block (id %d, %d/%d/%d sentence fields)", path, row, r.ID, len(r.SentenceStarts), len(r.SentenceEnds), len(r.SentenceTokens))
	}
	b := Block{ID: r.ID, DocID: r.DocID, Title: r.Title, Body: r.Body, TokenIDs: r.TokenIDs, SentenceTokens: r.SentenceTokens}
	b.Sentences = make([]Span, len(r.SentenceStarts))
	for i := range r.SentenceStarts {
		s := Span{int(r.SentenceStarts[i]), int(r.SentenceEnds[i])}
		if s.Start < 0 || s.End < s.Start || s.End > len(b.Body) {
			return Block{}, fmt.Errorf("%s: row %d: sentence %d [%d, %d) outside the %d-byte body", path, row, i, s.Start, s.End, len(b.Body))
		}
		b.Sentences[i] = s
	}
	if b.TokenIDs == nil {
		b.TokenIDs = []int32{}
	}
	return b, nil
}

// All streams every block in id order, one row group at a time, with its own
// reader (independent of Get).
func (s *ParquetStore) All() iter.Seq2[Block, error] {
	return func(yield func(Block, error) bool) {
		r := parquet.NewGenericReader[blockRow](s.pf)
		defer r.Close()
		rows := make([]blockRow, 64)
		var row int64
		for {
			n, err := r.Read(rows)
			for i := 0; i < n; i++ {
				b, berr := fromRow(s.path, row, rows[i])
				if !yield(b, berr) || berr != nil {
					return
				}
				row++
			}
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(Block{}, fmt.Errorf("%s: row %d: %w", s.path, row, err))
				return
			}
		}
	}
}
