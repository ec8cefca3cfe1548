package corpus_test

import (
	"fmt"
	"strings"

	"github.com/realm-go/realm/data/corpus"
)

func ExampleFactbook() {
	for d, err := range corpus.Factbook() {
		if err != nil {
			panic(err)
		}
		if d.ID == "fr/government" {
			fmt.Println(d.Title)
			for _, line := range strings.Split(d.Text, "\n") {
				if strings.HasPrefix(line, "Capital - name") {
					fmt.Println(line)
				}
			}
			break
		}
	}
	// Output:
	// France
	// Capital - name of France: Paris.
}

func ExampleReadJSONL() {
	data := `{"id":"1","title":"A","text":"first"}
{"id":"2","title":"B","text":""}
{"id":"3","title":"C","text":"third"}`
	var st corpus.ReadStats
	for d, err := range corpus.ReadJSONL(strings.NewReader(data), "docs.jsonl", corpus.ReadOptions{Lenient: true, Stats: &st}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(d.ID, d.Text)
	}
	fmt.Println(st.Skipped, st.FirstErrors[0])
	// Output:
	// 1 first
	// 3 third
	// 1 docs.jsonl: line 2: text of "2" is empty
}

func ExampleWithTitles() {
	data := `{"id":"1","title":"Aruba","text":"one"}
{"id":"2","title":"Chad","text":"two"}
{"id":"3","title":"Aruba","text":"three"}
{"id":"4","title":"Peru","text":"four"}`
	for d, err := range corpus.WithTitles(corpus.ReadJSONL(strings.NewReader(data), "docs.jsonl", corpus.ReadOptions{}), []string{"Peru", "Aruba"}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(d.ID, d.Title)
	}
	// Output:
	// 1 Aruba
	// 3 Aruba
	// 4 Peru
}
