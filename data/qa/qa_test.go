package qa

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/realm-go/realm/data/corpus"
)

func TestFactbookSplits(t *testing.T) {
	// Normalised corpus text per country title.
	text := map[string]*strings.Builder{}
	for d, err := range corpus.Factbook() {
		if err != nil {
			t.Fatal(err)
		}
		if text[d.Title] == nil {
			text[d.Title] = &strings.Builder{}
		}
		text[d.Title].WriteString(strings.ToLower(strings.Join(strings.Fields(d.Text), " ")) + " ")
	}
	countrySplit := map[string]string{}
	perRelation := map[string]map[string]int{}
	for _, split := range Splits {
		n := 0
		for e, err := range Factbook(split) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			if s, ok := countrySplit[e.Country]; ok && s != split {
				t.Errorf("country %q is in both %s and %s", e.Country, s, split)
			}
			countrySplit[e.Country] = split
			if !strings.Contains(e.Question, e.Country) {
				t.Errorf("%s: question %q does not name %q", e.ID, e.Question, e.Country)
			}
			body := text[e.Country]
			if body == nil {
				t.Fatalf("%s: no corpus document titled %q", e.ID, e.Country)
			}
			for _, a := range e.Answers {
				if !strings.Contains(body.String(), strings.ToLower(strings.Join(strings.Fields(a), " "))) {
					t.Errorf("%s: answer %q is not in the corpus text of %s", e.ID, a, e.Country)
				}
			}
			if perRelation[e.Relation] == nil {
				perRelation[e.Relation] = map[string]int{}
			}
			perRelation[e.Relation][split]++
		}
		if n < 300 {
			t.Errorf("split %s has %d questions", split, n)
		}
	}
	for _, split := range Splits {
		countries, err := FactbookCountries(split)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for c, s := range countrySplit {
			if s == split {
				n++
				if !slices.Contains(countries, c) {
					t.Errorf("FactbookCountries(%s) lacks %q", split, c)
				}
			}
		}
		if len(countries) != n {
			t.Errorf("FactbookCountries(%s): %d countries, the split asks about %d", split, len(countries), n)
		}
	}
	if len(perRelation) < 9 {
		t.Errorf("%d relations, want at least 9", len(perRelation))
	}
	for r, c := range perRelation {
		t.Logf("%-18s train %4d dev %4d test %4d", r, c["train"], c["dev"], c["test"])
	}
	for _, err := range Factbook("validation") {
		if err == nil || !strings.Contains(err.Error(), "validation") {
			t.Errorf("unknown split: got %v", err)
		}
	}
}

func ExampleExactMatch() {
	fmt.Println(ExactMatch("the Paris.", []string{"Lyon", "paris"}))
	fmt.Println(ExactMatch("Sucre", []string{"La Paz"}))
	// Output:
	// true
	// false
}

func TestReadJSONL(t *testing.T) {
	good := `{"question":"q1?","answer":["a","b"]}
{"question":"q2?","answer":"c","relation":"capital","country":"X","id":"x/capital"}
`
	var got []Example
	for e, err := range ReadJSONL(strings.NewReader(good), "good.jsonl", corpus.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 2 || fmt.Sprint(got[0].Answers) != "[a b]" || got[1].Answers[0] != "c" || got[1].Relation != "capital" {
		t.Errorf("got %+v", got)
	}
	for _, c := range []struct{ data, want string }{
		{`{"question":"q","answer":[]}`, "bad.jsonl: line 1: question \"q\" has no answer"},
		{`{"question":"q","answer":[1]}`, "bad.jsonl: line 1: answer is neither"},
		{`{"answer":["a"]}`, "line 1: no \"question\""},
		{`{"question":"q","answer":["a"]}` + "\n" + `{"question":"q"`, "line 2:"},
		{"{\"question\":\"\xc3\",\"answer\":[\"a\"]}", "line 1: invalid UTF-8"},
		{`{"question":"q","answer":[" "]}`, "line 1: question \"q\" has an empty"},
	} {
		var err error
		for _, err = range ReadJSONL(strings.NewReader(c.data), "bad.jsonl", corpus.ReadOptions{}) {
			if err != nil {
				break
			}
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.data, err, c.want)
		}
	}
	var st corpus.ReadStats
	n := 0
	for _, err := range ReadJSONL(strings.NewReader("{}\n"+good+"nonsense\n"), "m.jsonl", corpus.ReadOptions{Lenient: true, Stats: &st}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 || st.Skipped != 2 || st.Read != 2 {
		t.Errorf("lenient: %d examples, %+v", n, st)
	}
}

func TestOpenParquet(t *testing.T) {
	type row struct {
		Question string   `parquet:"question"`
		Answer   []string `parquet:"answer,list"`
	}
	dir := t.TempDir()
	write := func(name string, rows any, schema *parquet.Schema) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := parquet.NewWriter(f, schema)
		switch rs := rows.(type) {
		case []row:
			for _, r := range rs {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return path
	}
	rows := []row{{"q0?", []string{"a", "b"}}, {"q1?", []string{"c"}}, {"q2?", nil}}
	path := write("qa.parquet", rows, parquet.SchemaOf(row{}))
	var got []Example
	var err error
	for e, e2 := range OpenParquet(path, corpus.ReadOptions{}) {
		if e2 != nil {
			err = e2
			break
		}
		got = append(got, e)
	}
	if len(got) != 2 || fmt.Sprint(got[0].Answers) != "[a b]" || got[1].Answers[0] != "c" {
		t.Errorf("got %+v", got)
	}
	if err == nil || !strings.Contains(err.Error(), "qa.parquet: row 2: question \"q2?\" has no answer") {
		t.Errorf("row without answers: got %v", err)
	}

	type intQ struct {
		Question int64  `parquet:"question"`
		Answer   string `parquet:"answer"`
	}
	p2 := filepath.Join(dir, "int.parquet")
	f, _ := os.Create(p2)
	w := parquet.NewGenericWriter[intQ](f)
	w.Write([]intQ{{1, "a"}})
	w.Close()
	f.Close()
	for _, err := range OpenParquet(p2, corpus.ReadOptions{}) {
		if err == nil || !strings.Contains(err.Error(), `column "question" has type`) {
			t.Errorf("int question column: got %v", err)
		}
		break
	}
}

// TestHashSplit: the split of a question depends only on its normalised text, and about a
// tenth of the Factbook's train questions land in each of test and dev.
func TestHashSplit(t *testing.T) {
	if HashSplit("Who wrote Hamlet?") != HashSplit("  who wrote hamlet ") {
		t.Error("the same question normalised differently landed in two splits")
	}
	n := map[string]int{}
	for ex, err := range Factbook("train") {
		if err != nil {
			t.Fatal(err)
		}
		n[HashSplit(ex.Question)]++
	}
	total := n["train"] + n["dev"] + n["test"]
	for _, s := range []string{"test", "dev"} {
		if f := float64(n[s]) / float64(total); f < 0.07 || f > 0.13 {
			t.Errorf("%s holds %.3f of %d questions, want about 0.1", s, f, total)
		}
	}
}
