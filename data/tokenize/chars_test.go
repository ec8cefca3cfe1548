package tokenize

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
)

// hfChars is testdata/hf_chars.json.gz, written by tools/fixtures/make_tokenizer_fixture.py:
// how tokenizers' BertNormalizer and BertPreTokenizer treat every code point.
type hfChars struct {
	Version string            `json:"tokenizers_version"`
	Runs    [][4]any          `json:"runs"`
	Map     map[string]string `json:"map"`
}

func loadCharTable(t testing.TB) hfChars {
	t.Helper()
	f, err := os.Open("testdata/hf_chars.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("testdata/hf_chars.json.gz: %v", err)
	}
	var table hfChars
	if err := json.NewDecoder(zr).Decode(&table); err != nil {
		t.Fatalf("testdata/hf_chars.json.gz: %v", err)
	}
	return table
}

// normalizeChar is what the uncased BertNormalizer makes of one character, in the form the
// fixture records it.
func normalizeChar(r rune) string {
	switch classOf(r, true) {
	case classDrop:
		return ""
	case classSpace:
		return " "
	case classCJK:
		return " " + string(appendNormalized(nil, r, true, true)) + " "
	}
	return string(appendNormalized(nil, r, true, true))
}

// splitClass is how BertPreTokenizer treats one (unnormalised) character.
func splitClass(r rune) string {
	switch {
	case isWhitespace(r):
		return "s"
	case isPunctuation(r):
		return "p"
	}
	return "w"
}

// TestCharTable checks every Unicode code point against tokenizers' own classification:
// clean-up (dropped characters), whitespace, CJK spacing, accent stripping, lower-casing
// and punctuation.
func TestCharTable(t *testing.T) {
	table := loadCharTable(t)
	bad := 0
	for _, run := range table.Runs {
		first, last := rune(run[0].(float64)), rune(run[1].(float64))
		nc, sc := run[2].(string), run[3].(string)
		for r := first; r <= last; r++ {
			if r >= 0xD800 && r <= 0xDFFF {
				continue
			}
			var want string
			switch nc {
			case "d":
				want = ""
			case "s":
				want = " "
			case "c":
				want = " " + string(r) + " "
			case "i":
				want = string(r)
			case "x":
				want = table.Map[strconv.Itoa(int(r))]
			}
			got := normalizeChar(r)
			gotSplit := splitClass(r)
			if got != want || gotSplit != sc {
				bad++
				if bad <= 50 || testing.Verbose() {
					t.Errorf("U+%04X: normalised %q (split %s), tokenizers %s gives %q (split %s)", r, got, gotSplit, table.Version, want, sc)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d code points differ", bad)
	}
	_ = fmt.Sprint
}
