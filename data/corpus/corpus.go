// Package corpus holds the documents REALM retrieves from and streams them
// from files: JSONL ({"id","title","text"}), Parquet with the Hugging Face
// Wikipedia schema (id, url, title, text), dictd dictionaries (.index plus
// .dict or dictzip .dict.dz), and the embedded CIA World Factbook.
//
// Every reader is an iter.Seq2[Document, error] that reads one record at a
// time and never holds the whole file in memory. A bad record (malformed line
// or row, wrong column type, empty text, invalid UTF-8) stops the sequence
// with an error naming the file and line or row, unless ReadOptions.Lenient is
// set, in which case it is skipped and counted in ReadOptions.Stats.
package corpus

import (
	"fmt"
	"iter"
	"strings"
	"unicode/utf8"
)

// Document is one retrievable text: an article, a Factbook section or a
// dictionary entry.
type Document struct {
	// ID identifies the document within its corpus.
	ID string `json:"id"`
	// Title is the article title, country name or headword.
	Title string `json:"title"`
	// Text is the body, UTF-8, never empty.
	Text string `json:"text"`
}

// ReadOptions controls how readers treat bad records.
type ReadOptions struct {
	// Lenient skips bad records (counting them in Stats) instead of stopping
	// with an error. Errors that make the rest of the file unreadable (I/O
	// errors, a corrupt header) still stop the sequence.
	Lenient bool
	// Stats, when not nil, is updated while reading.
	Stats *ReadStats
}

// ReadStats counts what a reader saw.
type ReadStats struct {
	// Read is the number of documents yielded.
	Read int
	// Skipped is the number of bad records skipped in lenient mode.
	Skipped int
	// FirstErrors holds the errors of the first few skipped records.
	FirstErrors []error
}

const maxKeptErrors = 10

// RecordError is the error of one bad record: the file and the 1-based line
// (JSONL, dictd index) or 0-based row (Parquet).
type RecordError struct {
	File string
	// Unit is "line" or "row".
	Unit string
	N    int64
	Err  error
}

func (e *RecordError) Error() string { return fmt.Sprintf("%s: %s %d: %v", e.File, e.Unit, e.N, e.Err) }

// Unwrap returns the underlying error.
func (e *RecordError) Unwrap() error { return e.Err }

// Skip records a skipped record and reports whether reading may go on (true
// in lenient mode). Readers in other packages of this module use it.
func (o *ReadOptions) Skip(err error) bool {
	if !o.Lenient {
		return false
	}
	if o.Stats != nil {
		o.Stats.Skipped++
		if len(o.Stats.FirstErrors) < maxKeptErrors {
			o.Stats.FirstErrors = append(o.Stats.FirstErrors, err)
		}
	}
	return true
}

// Yielded counts one record yielded.
func (o *ReadOptions) Yielded() {
	if o.Stats != nil {
		o.Stats.Read++
	}
}

// Validate checks that d has valid UTF-8 everywhere and a non-blank text.
func (d Document) Validate() error {
	switch {
	case !utf8.ValidString(d.ID):
		return fmt.Errorf("id is not valid UTF-8")
	case !utf8.ValidString(d.Title):
		return fmt.Errorf("title of %q is not valid UTF-8", d.ID)
	case !utf8.ValidString(d.Text):
		return fmt.Errorf("text of %q is not valid UTF-8", d.ID)
	case strings.TrimSpace(d.Text) == "":
		return fmt.Errorf("text of %q is empty", d.ID)
	}
	return nil
}

// WithTitles streams the documents of docs whose title is one of titles, in the order of docs
// (all documents when titles is empty): a corpus of chosen subjects, such as the countries a
// question set asks about. Errors are passed through.
func WithTitles(docs iter.Seq2[Document, error], titles []string) iter.Seq2[Document, error] {
	if len(titles) == 0 {
		return docs
	}
	keep := make(map[string]bool, len(titles))
	for _, t := range titles {
		keep[t] = true
	}
	return func(yield func(Document, error) bool) {
		for d, err := range docs {
			if err == nil && !keep[d.Title] {
				continue
			}
			if !yield(d, err) {
				return
			}
		}
	}
}

// Head streams the first n documents of docs (all of them when n ≤ 0): a corpus subset for
// quick runs (the Factbook lists its ten sections per country, country by country).
func Head(docs iter.Seq2[Document, error], n int) iter.Seq2[Document, error] {
	if n <= 0 {
		return docs
	}
	return func(yield func(Document, error) bool) {
		i := 0
		for d, err := range docs {
			if i == n || !yield(d, err) {
				return
			}
			i++
		}
	}
}

// Documents yields docs in order: a corpus held in memory, for BuildCorpus and the like.
func Documents(docs ...Document) iter.Seq2[Document, error] {
	return func(yield func(Document, error) bool) {
		for _, d := range docs {
			if !yield(d, nil) {
				return
			}
		}
	}
}
