package corpus

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"
	"unicode/utf8"
)

// MaxLineBytes bounds one JSONL line (64 MiB).
const MaxLineBytes = 64 << 20

// OpenJSONL streams the documents of a JSONL file, gunzipping it when its
// name ends in ".gz". Each line is {"id","title","text"}; other fields are
// ignored; id may be a string or a number; blank lines are skipped.
func OpenJSONL(path string, opts ReadOptions) iter.Seq2[Document, error] {
	return func(yield func(Document, error) bool) {
		f, err := os.Open(path)
		if err != nil {
			yield(Document{}, err)
			return
		}
		defer f.Close()
		var r io.Reader = f
		if strings.HasSuffix(path, ".gz") {
			zr, err := gzip.NewReader(f)
			if err != nil {
				yield(Document{}, fmt.Errorf("%s: %w", path, err))
				return
			}
			defer zr.Close()
			r = zr
		}
		for d, err := range ReadJSONL(r, path, opts) {
			if !yield(d, err) {
				return
			}
		}
	}
}

// ReadJSONL streams the documents of JSONL data read from r; name is used in
// errors.
func ReadJSONL(r io.Reader, name string, opts ReadOptions) iter.Seq2[Document, error] {
	return func(yield func(Document, error) bool) {
		for line, b := range Lines(r, name) {
			if line < 0 {
				yield(Document{}, fmt.Errorf("%s", b))
				return
			}
			if len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			d, err := parseJSONLine(b)
			if err == nil {
				if d.ID == "" {
					d.ID = fmt.Sprintf("%s:%d", name, line)
				}
				err = d.Validate()
			}
			if err != nil {
				err = &RecordError{File: name, Unit: "line", N: line, Err: err}
				if opts.Skip(err) {
					continue
				}
				yield(Document{}, err)
				return
			}
			opts.Yielded()
			if !yield(d, nil) {
				return
			}
		}
	}
}

type jsonDoc struct {
	ID    json.RawMessage `json:"id"`
	Title *string         `json:"title"`
	Text  *string         `json:"text"`
}

func parseJSONLine(b []byte) (Document, error) {
	if !utf8.Valid(b) {
		return Document{}, fmt.Errorf("invalid UTF-8")
	}
	var j jsonDoc
	if err := json.Unmarshal(b, &j); err != nil {
		return Document{}, err
	}
	if j.Text == nil {
		return Document{}, fmt.Errorf("no \"text\" field")
	}
	d := Document{Text: *j.Text}
	if j.Title != nil {
		d.Title = *j.Title
	}
	if len(j.ID) > 0 && string(j.ID) != "null" {
		var s string
		if err := json.Unmarshal(j.ID, &s); err != nil {
			var n json.Number
			if err := json.Unmarshal(j.ID, &n); err != nil {
				return Document{}, fmt.Errorf("id is neither a string nor a number: %s", j.ID)
			}
			s = n.String()
		}
		d.ID = s
	}
	return d, nil
}

// Lines streams the lines of r (without the newline) with their 1-based
// numbers. On a read error or a line over MaxLineBytes it yields line -1 with
// the error message naming name and the line as the bytes, then stops. It is
// shared by the JSONL readers of this module.
func Lines(r io.Reader, name string) iter.Seq2[int64, []byte] {
	return func(yield func(int64, []byte) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
		var n int64
		for sc.Scan() {
			n++
			if !yield(n, sc.Bytes()) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(-1, fmt.Appendf(nil, "%s: line %d: %v", name, n+1, err))
		}
	}
}
