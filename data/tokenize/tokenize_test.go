package tokenize

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// hfReference is testdata/hf_reference.json, written by
// tools/fixtures/make_tokenizer_fixture.py with Hugging Face tokenizers.
type hfReference struct {
	Version string `json:"tokenizers_version"`
	Texts   []struct {
		Text    string   `json:"text"`
		IDs     []int32  `json:"ids"`
		Tokens  []string `json:"tokens"`
		Offsets [][2]int `json:"offsets"`
		Decode  string   `json:"decode"`
	} `json:"texts"`
	Encodings []struct {
		A        string   `json:"a"`
		B        *string  `json:"b"`
		MaxLen   int      `json:"max_len"`
		IDs      []int32  `json:"ids"`
		TypeIDs  []int32  `json:"type_ids"`
		Segments []int    `json:"segments"`
		Offsets  [][2]int `json:"offsets"`
	} `json:"encodings"`
}

func loadReference(t testing.TB) hfReference {
	t.Helper()
	content, err := os.ReadFile("testdata/hf_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref hfReference
	if err := json.Unmarshal(content, &ref); err != nil {
		t.Fatalf("testdata/hf_reference.json: %v", err)
	}
	return ref
}

type namedTokenizer struct {
	name string
	tok  *Tokenizer
}

var (
	testTokenizersOnce sync.Once
	testTokenizers     []namedTokenizer
	testTokenizersErr  error
)

// writeTokenizerJSON writes the embedded tokenizer.json, uncompressed, into dir.
func writeTokenizerJSON(t testing.TB, dir string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(string(bertBaseUncasedGz)))
	if err != nil {
		t.Fatal(err)
	}
	content, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// allTokenizers returns the embedded tokenizer and the same vocabulary loaded through
// tokenizer.json, vocab.txt and FromDir, built once per test binary.
func allTokenizers(t testing.TB) []namedTokenizer {
	t.Helper()
	testTokenizersOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tokenize-test")
		if err != nil {
			testTokenizersErr = err
			return
		}
		defer os.RemoveAll(dir)
		def, err := Default()
		if err != nil {
			testTokenizersErr = err
			return
		}
		jsonDir := filepath.Join(dir, "json")
		txtDir := filepath.Join(dir, "txt")
		for _, d := range []string{jsonDir, txtDir} {
			if err := os.Mkdir(d, 0o755); err != nil {
				testTokenizersErr = err
				return
			}
		}
		jsonPath := writeTokenizerJSON(t, jsonDir)
		txtPath := filepath.Join(txtDir, "vocab.txt")
		if err := def.SaveVocabTxt(txtPath); err != nil {
			testTokenizersErr = err
			return
		}
		fromJSON, err := FromTokenizerJSON(jsonPath)
		if err != nil {
			testTokenizersErr = err
			return
		}
		fromTxt, err := FromVocabTxt(txtPath, true)
		if err != nil {
			testTokenizersErr = err
			return
		}
		dirJSON, err := FromDir(jsonDir)
		if err != nil {
			testTokenizersErr = err
			return
		}
		dirTxt, err := FromDir(txtDir)
		if err != nil {
			testTokenizersErr = err
			return
		}
		testTokenizers = []namedTokenizer{
			{"Default", def}, {"FromTokenizerJSON", fromJSON}, {"FromVocabTxt", fromTxt},
			{"FromDir(tokenizer.json)", dirJSON}, {"FromDir(vocab.txt)", dirTxt},
		}
	})
	if testTokenizersErr != nil {
		t.Fatal(testTokenizersErr)
	}
	return testTokenizers
}

func defaultTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	return allTokenizers(t)[0].tok
}

// TestReferenceTexts checks ids, byte offsets and decoding against Hugging Face tokenizers
// for every loader.
func TestReferenceTexts(t *testing.T) {
	ref := loadReference(t)
	if len(ref.Texts) < 40 {
		t.Fatalf("reference has only %d texts", len(ref.Texts))
	}
	for _, nt := range allTokenizers(t) {
		for i, rt := range ref.Texts {
			pieces := nt.tok.Tokenize(rt.Text)
			ids := make([]int32, len(pieces))
			offsets := make([][2]int, len(pieces))
			for j, p := range pieces {
				ids[j] = p.ID
				offsets[j] = [2]int{p.Start, p.End}
			}
			if !reflect.DeepEqual(ids, nonNil(rt.IDs)) {
				t.Errorf("%s: text %d %q:\n got ids  %v\n want ids %v (%q)", nt.name, i, rt.Text, ids, rt.IDs, rt.Tokens)
				continue
			}
			if !reflect.DeepEqual(offsets, nonNilOffsets(rt.Offsets)) {
				t.Errorf("%s: text %d %q:\n got offsets  %v\n want offsets %v", nt.name, i, rt.Text, offsets, rt.Offsets)
			}
			for j, id := range ids {
				if got := nt.tok.Token(id); got != rt.Tokens[j] {
					t.Errorf("%s: text %d: Token(%d) = %q, want %q", nt.name, i, id, got, rt.Tokens[j])
				}
			}
			if got := nt.tok.Decode(ids); got != rt.Decode {
				t.Errorf("%s: text %d: Decode = %q, want %q", nt.name, i, got, rt.Decode)
			}
		}
	}
}

func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

func nonNilOffsets(o [][2]int) [][2]int {
	if o == nil {
		return [][2]int{}
	}
	return o
}

// TestReferenceEncodings checks Join (special tokens, token types, longest-first
// truncation, offsets) against Hugging Face tokenizers' encode with truncation.
func TestReferenceEncodings(t *testing.T) {
	ref := loadReference(t)
	tok := defaultTokenizer(t)
	pairs := 0
	for i, re := range ref.Encodings {
		texts := []string{re.A}
		if re.B != nil {
			texts = append(texts, *re.B)
			pairs++
		}
		enc, err := tok.JoinBERT(re.MaxLen, texts...)
		if err != nil {
			t.Errorf("encoding %d (max_len %d): %v", i, re.MaxLen, err)
			continue
		}
		segments := make([]int, enc.Len())
		offsets := make([][2]int, enc.Len())
		for j, s := range enc.Offsets {
			segments[j] = s.Segment
			offsets[j] = [2]int{s.Start, s.End}
		}
		if !reflect.DeepEqual(enc.IDs, re.IDs) || !reflect.DeepEqual(enc.TypeIDs, re.TypeIDs) ||
			!reflect.DeepEqual(segments, re.Segments) || !reflect.DeepEqual(offsets, re.Offsets) {
			t.Errorf("encoding %d %q / %v, max_len %d:\n got  ids %v types %v segments %v offsets %v\n want ids %v types %v segments %v offsets %v",
				i, re.A, re.B, re.MaxLen, enc.IDs, enc.TypeIDs, segments, offsets, re.IDs, re.TypeIDs, re.Segments, re.Offsets)
		}
		for j, m := range enc.Mask {
			if !m {
				t.Errorf("encoding %d: position %d unmasked before padding", i, j)
			}
		}
	}
	if pairs < 50 {
		t.Errorf("reference has only %d pair encodings", pairs)
	}
}

// TestOffsetsMapToOriginal checks that offsets select the original (un-normalised) text.
func TestOffsetsMapToOriginal(t *testing.T) {
	tok := defaultTokenizer(t)
	text := "Ünïcode RÉSUMÉ, 北京!"
	want := []string{"Ünïcode", "RÉSUMÉ", ",", "北", "京", "!"}
	// Words may split into several pieces: glue continuations back onto their word.
	var words []string
	prevEnd := -1
	for _, p := range tok.Tokenize(text) {
		if p.Start == prevEnd && tok.IsContinuation(p.ID) {
			words[len(words)-1] += text[p.Start:p.End]
		} else {
			words = append(words, text[p.Start:p.End])
		}
		prevEnd = p.End
	}
	if strings.Join(words, "|") != strings.Join(want, "|") {
		t.Errorf("words from offsets = %q, want %q", words, want)
	}
}

// TestSpecialTokens checks the special ids and vocabulary accessors.
func TestSpecialTokens(t *testing.T) {
	tok := defaultTokenizer(t)
	if tok.VocabSize() != 30522 {
		t.Errorf("VocabSize = %d, want 30522", tok.VocabSize())
	}
	for _, c := range []struct {
		name string
		id   int32
	}{{"[PAD]", tok.PAD()}, {"[UNK]", tok.UNK()}, {"[CLS]", tok.CLS()}, {"[SEP]", tok.SEP()}, {"[MASK]", tok.MASK()}} {
		if got := tok.Token(c.id); got != c.name {
			t.Errorf("Token(%d) = %q, want %q", c.id, got, c.name)
		}
		if id, ok := tok.TokenID(c.name); !ok || id != c.id {
			t.Errorf("TokenID(%q) = %d, %v; want %d", c.name, id, ok, c.id)
		}
		if !tok.IsSpecial(c.id) {
			t.Errorf("IsSpecial(%s) = false", c.name)
		}
	}
	ing, ok := tok.TokenID("##ing")
	if !ok || !tok.IsContinuation(ing) {
		t.Errorf("##ing: id %d ok %v continuation %v", ing, ok, tok.IsContinuation(ing))
	}
	the, _ := tok.TokenID("the")
	if tok.IsContinuation(the) || tok.IsSpecial(the) {
		t.Errorf("the: continuation %v special %v", tok.IsContinuation(the), tok.IsSpecial(the))
	}
	if tok.Token(-1) != "" || tok.Token(int32(tok.VocabSize())) != "" || tok.IsContinuation(-5) {
		t.Error("out-of-range ids must give empty tokens / false")
	}
	if _, ok := tok.TokenID("definitely-not-a-token"); ok {
		t.Error("TokenID of a missing token reported ok")
	}
}

// TestInvalidUTF8 checks that invalid bytes are dropped like U+FFFD and offsets stay valid.
func TestInvalidUTF8(t *testing.T) {
	tok := defaultTokenizer(t)
	text := "th\xffe \xc3 ok\xe2\x82"
	pieces := tok.Tokenize(text)
	clean := tok.Tokenize("the  ok")
	if len(pieces) != len(clean) {
		t.Fatalf("got %d pieces, want %d like the text without invalid bytes", len(pieces), len(clean))
	}
	for i := range pieces {
		if pieces[i].ID != clean[i].ID {
			t.Errorf("piece %d: id %d, want %d", i, pieces[i].ID, clean[i].ID)
		}
	}
	if p := pieces[0]; text[p.Start:p.End] != "th\xffe" {
		t.Errorf("first piece covers %q, want the whole word with its invalid byte", text[p.Start:p.End])
	}
}

// TestLoaderErrors checks that bad files give errors that name the file.
func TestLoaderErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "vocab.txt")
	os.WriteFile(missing, []byte("[PAD]\n[UNK]\n[CLS]\nhello\n"), 0o644)
	if _, err := FromVocabTxt(missing, true); err == nil || !strings.Contains(err.Error(), "[SEP]") || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing [SEP]: err = %v", err)
	}
	dup := filepath.Join(dir, "dup.txt")
	os.WriteFile(dup, []byte("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nhello\n"), 0o644)
	if _, err := FromVocabTxt(dup, true); err == nil || !strings.Contains(err.Error(), "dup.txt:7") {
		t.Errorf("duplicate token: err = %v", err)
	}
	bpe := filepath.Join(dir, "bpe.json")
	os.WriteFile(bpe, []byte(`{"model":{"type":"BPE","vocab":{"a":0}},"pre_tokenizer":{"type":"ByteLevel"}}`), 0o644)
	if _, err := FromTokenizerJSON(bpe); err == nil || !strings.Contains(err.Error(), "BPE") || !strings.Contains(err.Error(), bpe) {
		t.Errorf("BPE tokenizer.json: err = %v", err)
	}
	if _, err := FromDir(dir); err == nil {
		// dir has vocab.txt without [SEP]: the error must come through.
		t.Error("FromDir on a bad vocab.txt succeeded")
	}
	if _, err := FromDir(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("FromDir on a missing directory: err = %v", err)
	}
}

// TestCasedVocabTxt checks FromVocabTxt with lowercase=false keeps case and accents.
func TestCasedVocabTxt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vocab.txt")
	vocab := "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nRé\n##sumé\nré\n##sume\nresume\n,\n"
	if err := os.WriteFile(path, []byte(vocab), 0o644); err != nil {
		t.Fatal(err)
	}
	cased, err := FromVocabTxt(path, false)
	if err != nil {
		t.Fatal(err)
	}
	uncased, err := FromVocabTxt(path, true)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(tok *Tokenizer, s string) []int32 {
		var out []int32
		for _, p := range tok.Tokenize(s) {
			out = append(out, p.ID)
		}
		return out
	}
	if got := ids(cased, "Résumé,"); !reflect.DeepEqual(got, []int32{5, 6, 10}) {
		t.Errorf("cased: %v, want [5 6 10]", got)
	}
	if got := ids(uncased, "Résumé,"); !reflect.DeepEqual(got, []int32{9, 10}) {
		t.Errorf("uncased: %v, want [9 10]", got)
	}
	if got := ids(cased, "résume"); !reflect.DeepEqual(got, []int32{7, 8}) {
		t.Errorf("cased résume: %v, want [7 8]", got)
	}
}

// FuzzTokenize checks invariants on arbitrary input: offsets within bounds, non-decreasing
// and on UTF-8 boundaries; the tokenizer.json and vocab.txt loaders agree; Join always
// brackets the pieces.
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"", "Hello, world!", "Übermensch naïve résumé", "北京 [MASK] 한국어",
		"\x00\xff\t\u200b", strings.Repeat("z", 150), "a[SEP]b", "İ ǅ ﬁ ½ e\u0301"} {
		f.Add(s)
	}
	toks := allTokenizers(f)
	fromJSON, fromTxt := toks[1].tok, toks[2].tok
	f.Fuzz(func(t *testing.T, text string) {
		a := fromJSON.Tokenize(text)
		b := fromTxt.Tokenize(text)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("tokenizer.json %v != vocab.txt %v", a, b)
		}
		prevStart, prevEnd := 0, 0
		for i, p := range a {
			if p.Start < 0 || p.End > len(text) || p.Start >= p.End {
				t.Fatalf("piece %d %v out of bounds of %d bytes", i, p, len(text))
			}
			if p.Start < prevStart || p.End < prevEnd {
				t.Fatalf("piece %d %v goes back from [%d,%d)", i, p, prevStart, prevEnd)
			}
			if utf8.ValidString(text) && (!utf8.RuneStart(text[p.Start]) || (p.End < len(text) && !utf8.RuneStart(text[p.End]))) {
				t.Fatalf("piece %d %v splits a character", i, p)
			}
			if p.ID < 0 || int(p.ID) >= fromJSON.VocabSize() {
				t.Fatalf("piece %d has id %d", i, p.ID)
			}
			prevStart, prevEnd = p.Start, p.End
		}
		enc, err := fromJSON.Join(8, a, a)
		if err != nil {
			t.Fatal(err)
		}
		if enc.Len() > 8 || enc.IDs[0] != fromJSON.CLS() || enc.IDs[enc.Len()-1] != fromJSON.SEP() {
			t.Fatalf("Join gave %v", enc.IDs)
		}
	})
}
