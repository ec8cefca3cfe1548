package blocks_test

import (
	"fmt"

	"github.com/realm-go/realm/data/blocks"
)

func ExampleSplitSentences() {
	text := "Mt. Blanc rises 4,807 m. It is in France.\nCapital - name: Paris."
	for _, s := range blocks.SplitSentences(text) {
		fmt.Println(text[s.Start:s.End])
	}
	// Output:
	// Mt. Blanc rises 4,807 m.
	// It is in France.
	// Capital - name: Paris.
}
