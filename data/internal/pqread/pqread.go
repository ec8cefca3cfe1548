// Package pqread streams rows of Parquet files column by column name, so the
// corpus, QA and block-store readers share one careful implementation: rows
// are read a small buffer at a time (never the whole file), and columns are
// checked by name and physical type before reading.
package pqread

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// File is an open Parquet file.
type File struct {
	Name string
	f    *os.File
	pf   *parquet.File
}

// Open opens a Parquet file for streaming reads.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a readable Parquet file: %w", path, err)
	}
	return &File{Name: path, f: f, pf: pf}, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// NumRows is the number of rows in the file.
func (f *File) NumRows() int64 { return f.pf.NumRows() }

// Column describes one leaf column found by name.
type Column struct {
	Name     string
	Index    int
	Kind     parquet.Kind
	Repeated bool
}

// Lookup finds the leaf column at path (a list column "answer" is found as
// "answer", "list", "element" or "answer"), and checks that its physical type
// is one of kinds. ok is false when the column is absent.
func (f *File) Lookup(name string, kinds ...parquet.Kind) (col Column, ok bool, err error) {
	schema := f.pf.Schema()
	var leaf parquet.LeafColumn
	for _, path := range [][]string{{name}, {name, "list", "element"}, {name, "list", "item"}, {name, "array"}, {name, "bag", "array_element"}} {
		if leaf, ok = schema.Lookup(path...); ok {
			break
		}
	}
	if !ok {
		return Column{}, false, nil
	}
	kind := leaf.Node.Type().Kind()
	for _, k := range kinds {
		if k == kind {
			return Column{Name: name, Index: leaf.ColumnIndex, Kind: kind, Repeated: leaf.MaxRepetitionLevel > 0}, true, nil
		}
	}
	return Column{}, true, fmt.Errorf("%s: column %q has type %s, want one of %v", f.Name, name, kind, kinds)
}

// Rows calls fn for every row in order, with its 0-based row number; it stops
// at the first error fn returns.
func (f *File) Rows(start int64, fn func(row int64, r parquet.Row) error) error {
	buf := make([]parquet.Row, 64)
	var base int64
	for _, rg := range f.pf.RowGroups() {
		n := rg.NumRows()
		if base+n <= start {
			base += n
			continue
		}
		rows := rg.Rows()
		if start > base {
			if err := rows.SeekToRow(start - base); err != nil {
				rows.Close()
				return fmt.Errorf("%s: seek to row %d: %w", f.Name, start, err)
			}
			base = start
		}
		for {
			k, err := rows.ReadRows(buf)
			for i := 0; i < k; i++ {
				if ferr := fn(base, buf[i]); ferr != nil {
					rows.Close()
					return ferr
				}
				base++
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return fmt.Errorf("%s: row %d: %w", f.Name, base, err)
			}
			if k == 0 {
				break
			}
		}
		rows.Close()
	}
	return nil
}

// Values returns the non-null values of column col in row r.
func Values(r parquet.Row, col int) []parquet.Value {
	var out []parquet.Value
	r.Range(func(ci int, vs []parquet.Value) bool {
		if ci == col {
			for _, v := range vs {
				if !v.IsNull() {
					out = append(out, v)
				}
			}
			return false
		}
		return true
	})
	return out
}

// String returns the first non-null value of col in r as a string (integers
// are formatted in decimal); ok is false when the value is null or absent.
func String(r parquet.Row, col Column) (s string, ok bool) {
	vs := Values(r, col.Index)
	if len(vs) == 0 {
		return "", false
	}
	switch col.Kind {
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(vs[0].ByteArray()), true
	case parquet.Int32:
		return strconv.FormatInt(int64(vs[0].Int32()), 10), true
	case parquet.Int64:
		return strconv.FormatInt(vs[0].Int64(), 10), true
	}
	return vs[0].String(), true
}
