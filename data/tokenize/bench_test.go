package tokenize

import (
	"strings"
	"testing"
)

// benchParagraph is a Factbook-like English paragraph (plus a few accents and numbers).
const benchParagraph = `France today is one of the most modern countries in the world and is a leader among
European nations. It plays an influential global role as a permanent member of the United
Nations Security Council, NATO, the G-7, the G-20, the EU, and other multilateral
organizations. France rejoined NATO's integrated military command structure in 2009,
reversing de Gaulle's 1966 decision to withdraw French forces from NATO. Since 1958, it has
constructed a hybrid presidential-parliamentary governing system resistant to the
instabilities experienced in earlier, more purely parliamentary administrations. GDP
(purchasing power parity): $3.764 trillion (2023 est.); area: 643,801 sq km; the capital,
Paris, has about 11.2 million inhabitants; Île-de-France, Provence-Alpes-Côte d'Azur.`

// BenchmarkTokenize measures Tokenize on a paragraph; words/s counts whitespace-separated
// words of the input.
func BenchmarkTokenize(b *testing.B) {
	tok, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	words := len(strings.Fields(benchParagraph))
	b.SetBytes(int64(len(benchParagraph)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tok.Tokenize(benchParagraph)
	}
	b.ReportMetric(float64(words*b.N)/b.Elapsed().Seconds(), "words/s")
}

// BenchmarkDefault measures loading the embedded vocabulary.
func BenchmarkDefault(b *testing.B) {
	for b.Loop() {
		if _, err := Default(); err != nil {
			b.Fatal(err)
		}
	}
}
