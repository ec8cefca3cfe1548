package corpus

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func collect(t *testing.T, seq func(func(Document, error) bool)) ([]Document, error) {
	t.Helper()
	var docs []Document
	for d, err := range seq {
		if err != nil {
			return docs, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}

func TestFactbook(t *testing.T) {
	n, words := 0, 0
	titles := map[string]bool{}
	var france string
	for d, err := range Factbook() {
		if err != nil {
			t.Fatal(err)
		}
		n++
		words += len(strings.Fields(d.Text))
		titles[d.Title] = true
		if d.ID == "fr/government" {
			france = d.Text
		}
	}
	if n != FactbookDocuments {
		t.Errorf("Factbook yielded %d documents, FactbookDocuments = %d", n, FactbookDocuments)
	}
	if words < 800_000 {
		t.Errorf("Factbook has %d words, want ~0.9M", words)
	}
	for _, c := range []string{"France", "Bolivia", "Japan", "World"} {
		if !titles[c] {
			t.Errorf("no document titled %q", c)
		}
	}
	if !strings.Contains(france, "Capital - name of France: Paris.") {
		t.Errorf("fr/government lacks the capital line:\n%.300s", france)
	}
	if strings.Contains(france, "++") || strings.Contains(france, "<") {
		t.Errorf("fr/government keeps markup")
	}
	t.Logf("Factbook: %d documents, %d words, %d titles", n, words, len(titles))
}

func TestReadJSONL(t *testing.T) {
	good := `{"id":"a","title":"A","text":"alpha text"}

{"id":7,"title":"B","text":"beta","url":"x"}
{"title":"C","text":"gamma"}
`
	docs, err := collect(t, ReadJSONL(strings.NewReader(good), "good.jsonl", ReadOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	want := []Document{{"a", "A", "alpha text"}, {"7", "B", "beta"}, {"good.jsonl:4", "C", "gamma"}}
	if fmt.Sprint(docs) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", docs, want)
	}

	bad := []struct{ name, data, wantErr string }{
		{"malformed", `{"id":"a","text":"x"}` + "\n" + `{"id":"b","text":` + "\n", "bad.jsonl: line 2:"},
		{"wrong type", `{"id":"a","text":5}`, "bad.jsonl: line 1:"},
		{"empty text", `{"id":"a","text":"x"}` + "\n" + `{"id":"a","text":"  "}`, "line 2: text of \"a\" is empty"},
		{"missing text", `{"id":"a"}`, "line 1: no \"text\" field"},
		{"invalid utf8", "{\"id\":\"a\",\"text\":\"\xff\xfe\"}", "line 1: invalid UTF-8"},
		{"bad id", `{"id":[1],"text":"x"}`, "line 1: id is neither"},
	}
	for _, c := range bad {
		_, err := collect(t, ReadJSONL(strings.NewReader(c.data), "bad.jsonl", ReadOptions{}))
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: got error %v, want it to contain %q", c.name, err, c.wantErr)
		}
		var re *RecordError
		if !errors.As(err, &re) {
			t.Errorf("%s: error %v is not a *RecordError", c.name, err)
		}
	}

	// Lenient: skipped and counted.
	mixed := `{"id":"a","text":"ok"}
{"id":"b","text":}
{"id":"c","text":""}
{"id":"d","text":"ok too"}
`
	var st ReadStats
	docs, err = collect(t, ReadJSONL(strings.NewReader(mixed), "mixed.jsonl", ReadOptions{Lenient: true, Stats: &st}))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || st.Read != 2 || st.Skipped != 2 || len(st.FirstErrors) != 2 {
		t.Errorf("lenient: %d docs, stats %+v; want 2 read, 2 skipped", len(docs), st)
	}
	if !strings.Contains(st.FirstErrors[0].Error(), "mixed.jsonl: line 2") {
		t.Errorf("first skipped error %v does not name line 2", st.FirstErrors[0])
	}
}

func TestOpenJSONLGzip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for i := range 100 {
		fmt.Fprintf(zw, `{"id":"d%d","title":"T%d","text":"text number %d"}`+"\n", i, i, i)
	}
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	docs, err := collect(t, OpenJSONL(path, ReadOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 100 || docs[42].Text != "text number 42" {
		t.Errorf("got %d docs, docs[42] = %+v", len(docs), docs[42])
	}
	// Stopping early must work.
	n := 0
	for range OpenJSONL(path, ReadOptions{}) {
		n++
		if n == 3 {
			break
		}
	}
}

type wikiRow struct {
	ID    string `parquet:"id"`
	URL   string `parquet:"url"`
	Title string `parquet:"title"`
	Text  string `parquet:"text"`
}

func writeParquet[T any](t *testing.T, rows []T, opts ...parquet.WriterOption) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

func TestOpenParquet(t *testing.T) {
	var rows []wikiRow
	for i := range 300 {
		rows = append(rows, wikiRow{ID: fmt.Sprint(i), URL: "u", Title: fmt.Sprintf("T%d", i), Text: fmt.Sprintf("body %d", i)})
	}
	path := writeParquet(t, rows, parquet.MaxRowsPerRowGroup(128))
	docs, err := collect(t, OpenParquet(path, ReadOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 300 || docs[200] != (Document{"200", "T200", "body 200"}) {
		t.Fatalf("got %d docs, docs[200] = %+v", len(docs), docs[200])
	}
	if byExt, err := collect(t, Open(path, ReadOptions{})); err != nil || !slices.Equal(byExt, docs) { // Open: by extension.
		t.Errorf("Open(%s): %d docs, %v", path, len(byExt), err)
	}

	rows[150].Text = ""
	rows[250].Title = "bad \xff"
	path = writeParquet(t, rows, parquet.MaxRowsPerRowGroup(128))
	_, err = collect(t, OpenParquet(path, ReadOptions{}))
	if err == nil || !strings.Contains(err.Error(), "row 150") {
		t.Errorf("empty text: got %v, want an error naming row 150", err)
	}
	var st ReadStats
	docs, err = collect(t, OpenParquet(path, ReadOptions{Lenient: true, Stats: &st}))
	if err != nil || len(docs) != 298 || st.Skipped != 2 || !strings.Contains(st.FirstErrors[1].Error(), "row 250") {
		t.Errorf("lenient: err %v, %d docs, stats %+v", err, len(docs), st)
	}

	type intText struct {
		ID   string `parquet:"id"`
		Text int64  `parquet:"text"`
	}
	path = writeParquet(t, []intText{{"a", 1}})
	_, err = collect(t, OpenParquet(path, ReadOptions{}))
	if err == nil || !strings.Contains(err.Error(), `column "text" has type`) {
		t.Errorf("int text column: got %v", err)
	}
	type noText struct {
		ID string `parquet:"id"`
	}
	path = writeParquet(t, []noText{{"a"}})
	if _, err = collect(t, OpenParquet(path, ReadOptions{})); err == nil || !strings.Contains(err.Error(), "no \"text\" column") {
		t.Errorf("no text column: got %v", err)
	}
	notParquet := filepath.Join(t.TempDir(), "x.parquet")
	os.WriteFile(notParquet, []byte("hello, not parquet"), 0o644)
	if _, err = collect(t, OpenParquet(notParquet, ReadOptions{})); err == nil || !strings.Contains(err.Error(), "x.parquet") {
		t.Errorf("not parquet: got %v", err)
	}
}

// makeDictd builds a dictd index and dictionary from entries.
func makeDictd(entries [][2]string, compress bool, chunk int) (index string, dict []byte) {
	var data bytes.Buffer
	var idx strings.Builder
	idx.WriteString("00databaseshort\tA\tE\n")
	data.WriteString("test\n")
	for _, e := range entries {
		off := data.Len()
		data.WriteString(e[1])
		fmt.Fprintf(&idx, "%s\t%s\t%s\n", e[0], EncodeDictdNumber(int64(off)), EncodeDictdNumber(int64(len(e[1]))))
	}
	if !compress {
		return idx.String(), data.Bytes()
	}
	var dz bytes.Buffer
	if err := WriteDictzip(&dz, data.Bytes(), chunk); err != nil {
		panic(err)
	}
	return idx.String(), dz.Bytes()
}

func TestDictdNumbers(t *testing.T) {
	for _, c := range []struct {
		s string
		v int64
	}{{"A", 0}, {"B", 1}, {"/", 63}, {"BA", 64}, {"Bk", 100}, {"Ck7", 2*4096 + 36*64 + 59}} {
		v, err := DecodeDictdNumber(c.s)
		if err != nil || v != c.v {
			t.Errorf("DecodeDictdNumber(%q) = %d, %v; want %d", c.s, v, err, c.v)
		}
		if s := EncodeDictdNumber(c.v); s != c.s {
			t.Errorf("EncodeDictdNumber(%d) = %q, want %q", c.v, s, c.s)
		}
	}
	if _, err := DecodeDictdNumber("A=B"); err == nil {
		t.Error("DecodeDictdNumber accepted '='")
	}
}

func TestReadDictd(t *testing.T) {
	var entries [][2]string
	for i := range 500 {
		entries = append(entries, [2]string{fmt.Sprintf("word%d", i), fmt.Sprintf("word%d\n  n 1: definition number %d %s\n", i, i, strings.Repeat("x", i%50))})
	}
	for _, compress := range []bool{false, true} {
		idx, dict := makeDictd(entries, compress, 300)
		if compress {
			// A dictzip file is a valid gzip file.
			zr, err := gzip.NewReader(bytes.NewReader(dict))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(zr); err != nil {
				t.Fatalf("dictzip is not valid gzip: %v", err)
			}
		}
		docs, err := collect(t, ReadDictd("t.index", strings.NewReader(idx), "t.dict.dz", bytes.NewReader(dict), int64(len(dict)), ReadOptions{}))
		if err != nil {
			t.Fatalf("compress=%v: %v", compress, err)
		}
		if len(docs) != 500 {
			t.Fatalf("compress=%v: %d docs, want 500", compress, len(docs))
		}
		if want := "n 1: definition number 321 " + strings.Repeat("x", 321%50); docs[321].Title != "word321" || docs[321].Text != want || docs[321].ID != "t:323" {
			t.Errorf("compress=%v: docs[321] = %+v", compress, docs[321])
		}
	}

	idx, dict := makeDictd(entries[:3], true, 64)
	lines := strings.Split(idx, "\n")
	bad := []struct{ name, index, want string }{
		{"fields", lines[0] + "\nword\tA\n", "t.index: line 2: want headword"},
		{"digit", lines[0] + "\nword\tA*\tB\n", "t.index: line 2: offset: bad base64 digit"},
		{"range", lines[0] + "\nword\tA\t////\n", "t.index: line 2: entry"},
		{"empty", lines[0] + "\nword\tB\tA\n", "line 2: text of"},
	}
	for _, c := range bad {
		_, err := collect(t, ReadDictd("t.index", strings.NewReader(c.index), "t.dict.dz", bytes.NewReader(dict), int64(len(dict)), ReadOptions{}))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	// A plain gzip file (no RA table) is refused with a clear error.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("hello"))
	zw.Close()
	_, err := collect(t, ReadDictd("t.index", strings.NewReader(idx), "t.dict.dz", bytes.NewReader(gz.Bytes()), int64(gz.Len()), ReadOptions{}))
	if err == nil || !strings.Contains(err.Error(), "t.dict.dz: gzip file without") {
		t.Errorf("plain gzip: got %v", err)
	}
}

func TestOpenDictdFiles(t *testing.T) {
	dir := t.TempDir()
	idx, dict := makeDictd([][2]string{{"apple", "a fruit"}, {"pear", "another fruit"}}, true, 4)
	os.WriteFile(filepath.Join(dir, "fruit.index"), []byte(idx), 0o644)
	os.WriteFile(filepath.Join(dir, "fruit.dict.dz"), dict, 0o644)
	docs, err := collect(t, OpenDictd(filepath.Join(dir, "fruit.index"), filepath.Join(dir, "fruit.dict.dz"), ReadOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Document{{"fruit:2", "apple", "a fruit"}, {"fruit:3", "pear", "another fruit"}}; fmt.Sprint(docs) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", docs, want)
	}
}

// TestWordNet reads Debian's dict-wn (apt-get install dict-wn) when present.
func TestWordNet(t *testing.T) {
	if _, err := os.Stat(WordNetDict); err != nil {
		t.Skipf("WordNet dictd files not installed (apt-get install dict-wn): %v", err)
	}
	if testing.Short() {
		t.Skip("reading all of WordNet in -short mode")
	}
	n := 0
	var st ReadStats
	for d, err := range WordNet(ReadOptions{Stats: &st}) {
		if err != nil {
			t.Fatal(err)
		}
		if d.Title == "" || strings.HasPrefix(d.Title, "00") {
			t.Errorf("entry %s has headword %q", d.ID, d.Title)
		}
		if d.Title == "zebra" && !strings.Contains(d.Text, "striped") {
			t.Errorf("zebra: %q", d.Text)
		}
		if n == 1000 {
			t.Logf("%s %q: %.120q", d.ID, d.Title, d.Text)
		}
		n++
	}
	if n < 100_000 {
		t.Errorf("WordNet: %d entries, want ~150k", n)
	}
	t.Logf("WordNet: %d entries", n)
}

func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"id":"a","title":"A","text":"alpha"}` + "\n" + `{"id":1,"text":"b"}`))
	f.Add([]byte(`{"id":"a","text":""}`))
	f.Add([]byte("{\"text\":\"\xff\"}\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var st ReadStats
		for d, err := range ReadJSONL(bytes.NewReader(data), "fuzz.jsonl", ReadOptions{Lenient: true, Stats: &st}) {
			if err != nil {
				return
			}
			if err := d.Validate(); err != nil {
				t.Fatalf("yielded an invalid document %+v: %v", d, err)
			}
		}
		for _, err := range ReadJSONL(bytes.NewReader(data), "fuzz.jsonl", ReadOptions{}) {
			if err != nil && !strings.Contains(err.Error(), "fuzz.jsonl") {
				t.Fatalf("error %v does not name the file", err)
			}
		}
	})
}

func FuzzReadDictd(f *testing.F) {
	idx, dict := makeDictd([][2]string{{"apple", "a fruit"}, {"pear", "another fruit"}}, true, 8)
	f.Add([]byte(idx), dict)
	idx, dict = makeDictd([][2]string{{"x", "y"}}, false, 0)
	f.Add([]byte(idx), dict)
	f.Fuzz(func(t *testing.T, index, dict []byte) {
		for d, err := range ReadDictd("f.index", bytes.NewReader(index), "f.dict.dz", bytes.NewReader(dict), int64(len(dict)), ReadOptions{Lenient: true}) {
			if err != nil {
				if !strings.Contains(err.Error(), "f.") {
					t.Fatalf("error %v names no file", err)
				}
				return
			}
			if err := d.Validate(); err != nil {
				t.Fatalf("yielded an invalid document %+v: %v", d, err)
			}
		}
	})
}
