package tokenize

import (
	"reflect"
	"testing"

	"github.com/gomlx/go-huggingface/tokenizers/api"
	"github.com/gomlx/go-huggingface/tokenizers/hftokenizer"
)

// isPlainASCII reports whether s holds only printable ASCII and spaces: the texts on which
// go-huggingface's hftokenizer is expected to be right.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && (c < 0x21 || c > 0x7E) {
			return false
		}
	}
	return true
}

// TestHFTokenizerCrossCheck compares Tokenize with go-huggingface's hftokenizer on the same
// tokenizer.json. They must agree on plain ASCII text (ids and offsets); elsewhere
// hftokenizer's offsets are known to be wrong (it adds normalised byte positions to original
// ones), so the differences are only counted.
func TestHFTokenizerCrossCheck(t *testing.T) {
	path := writeTokenizerJSON(t, t.TempDir())
	hf, err := hftokenizer.NewFromFile(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := hf.With(api.EncodeOptions{IncludeSpans: true}); err != nil {
		t.Fatal(err)
	}
	tok := defaultTokenizer(t)
	ref := loadReference(t)
	var ascii, idDiff, offDiff int
	for _, rt := range ref.Texts {
		enc := hf.EncodeWithAnnotations(rt.Text)
		var hfIDs, ourIDs []int32
		var hfOff, ourOff [][2]int
		for i, id := range enc.IDs {
			hfIDs = append(hfIDs, int32(id))
			hfOff = append(hfOff, [2]int{enc.Spans[i].Start, enc.Spans[i].End})
		}
		for _, p := range tok.Tokenize(rt.Text) {
			ourIDs = append(ourIDs, p.ID)
			ourOff = append(ourOff, [2]int{p.Start, p.End})
		}
		sameIDs, sameOff := reflect.DeepEqual(hfIDs, ourIDs), reflect.DeepEqual(hfOff, ourOff)
		if isPlainASCII(rt.Text) {
			ascii++
			if !sameIDs || !sameOff {
				t.Errorf("%q: hftokenizer ids %v offsets %v; Tokenize ids %v offsets %v", rt.Text, hfIDs, hfOff, ourIDs, ourOff)
			}
			continue
		}
		if !sameIDs {
			idDiff++
		} else if !sameOff {
			offDiff++
		}
	}
	if ascii < 15 {
		t.Errorf("only %d plain ASCII reference texts", ascii)
	}
	t.Logf("hftokenizer vs Hugging Face reference on %d non-ASCII texts: %d differ in ids, %d more only in offsets",
		len(ref.Texts)-ascii, idDiff, offDiff)
}
