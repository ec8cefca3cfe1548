package corpus

import (
	"fmt"
	"iter"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/realm-go/realm/data/internal/pqread"
)

// Open reads the documents of path by its extension: Parquet for .parquet (OpenParquet), JSONL
// otherwise (.jsonl, .jsonl.gz: OpenJSONL).
func Open(path string, opts ReadOptions) iter.Seq2[Document, error] {
	if strings.HasSuffix(strings.ToLower(path), ".parquet") {
		return OpenParquet(path, opts)
	}
	return OpenJSONL(path, opts)
}

// OpenParquet streams the documents of a Parquet file with the Hugging Face
// Wikipedia schema: string columns "text" (required), "title" and "id" (id may
// also be an integer column); "url" and other columns are ignored. Rows are
// read a few at a time.
func OpenParquet(path string, opts ReadOptions) iter.Seq2[Document, error] {
	return func(yield func(Document, error) bool) {
		f, err := pqread.Open(path)
		if err != nil {
			yield(Document{}, err)
			return
		}
		defer f.Close()
		textCol, ok, err := f.Lookup("text", parquet.ByteArray)
		if err == nil && !ok {
			err = fmt.Errorf("%s: no \"text\" column", path)
		}
		if err != nil {
			yield(Document{}, err)
			return
		}
		titleCol, hasTitle, err := f.Lookup("title", parquet.ByteArray)
		if err != nil {
			yield(Document{}, err)
			return
		}
		idCol, hasID, err := f.Lookup("id", parquet.ByteArray, parquet.Int32, parquet.Int64)
		if err != nil {
			yield(Document{}, err)
			return
		}
		stopped := false
		err = f.Rows(0, func(row int64, r parquet.Row) error {
			var d Document
			var rerr error
			text, ok := pqread.String(r, textCol)
			if !ok {
				rerr = fmt.Errorf("null text")
			}
			d.Text = text
			if hasTitle {
				d.Title, _ = pqread.String(r, titleCol)
			}
			if hasID {
				d.ID, _ = pqread.String(r, idCol)
			}
			if d.ID == "" {
				d.ID = fmt.Sprintf("%s:%d", path, row)
			}
			if rerr == nil {
				rerr = d.Validate()
			}
			if rerr != nil {
				rerr = &RecordError{File: path, Unit: "row", N: row, Err: rerr}
				if opts.Skip(rerr) {
					return nil
				}
				return rerr
			}
			opts.Yielded()
			if !yield(d, nil) {
				stopped = true
				return errStop
			}
			return nil
		})
		if err != nil && !stopped {
			yield(Document{}, err)
		}
	}
}

var errStop = fmt.Errorf("stopped")
