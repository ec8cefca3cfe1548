package tokenize_test

import (
	"fmt"

	"github.com/realm-go/realm/data/tokenize"
)

// Pieces carry byte offsets into the original text, accents and case included.
func ExampleTokenizer_Tokenize() {
	tok, err := tokenize.Default()
	if err != nil {
		panic(err)
	}
	text := "Übermensch naïve résumé!"
	for _, p := range tok.Tokenize(text) {
		fmt.Printf("%-6s %q\n", tok.Token(p.ID), text[p.Start:p.End])
	}
	// Output:
	// uber   "Über"
	// ##men  "men"
	// ##sch  "sch"
	// naive  "naïve"
	// resume "résumé"
	// !      "!"
}

// JoinBERT builds [CLS] a [SEP] b [SEP], truncating the longest segment first.
func ExampleTokenizer_JoinBERT() {
	tok, err := tokenize.Default()
	if err != nil {
		panic(err)
	}
	enc, err := tok.JoinBERT(10, "What is the capital of France?", "Paris is the capital and largest city of France.")
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.Decode(enc.IDs))
	fmt.Println(enc.TypeIDs)
	// Output:
	// [CLS] what is the [SEP] paris is the capital [SEP]
	// [0 0 0 0 0 1 1 1 1 1]
}

// Batch pads a batch to one bucket length and flattens it for [B, S] tensors.
func ExampleTokenizer_Batch() {
	tok, err := tokenize.Default()
	if err != nil {
		panic(err)
	}
	a, _ := tok.JoinBERT(128, "a short one")
	b, _ := tok.JoinBERT(128, "a slightly longer sentence", "with a second segment")
	batch, err := tok.Batch([]tokenize.Encoding{a, b}, []int{8, 16, 32, 64, 128})
	if err != nil {
		panic(err)
	}
	fmt.Println(batch.B, batch.S, len(batch.IDs))
	fmt.Println(batch.Mask[:batch.S])
	// Output:
	// 2 16 32
	// [true true true true true false false false false false false false false false false false]
}
