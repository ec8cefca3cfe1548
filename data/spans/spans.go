// Package spans finds salient spans — named entities, dates and quantities —
// in text and masks them for REALM's salient-span-masking pre-training.
//
// A Tagger returns spans as byte offsets; RuleTagger combines a date and
// number grammar with an entity Gazetteer built from the corpus (document
// titles and capitalised phrases that recur), and a model-based tagger can
// replace it behind the same interface. Masker maps spans to wordpieces
// through the tokenizer's byte offsets and masks one salient span per
// sentence, falling back to random whole-word masking (and counting it) when
// a sentence has none.
package spans

import (
	"regexp"
	"sort"
)

// Kind says what a span is.
type Kind uint8

const (
	// Entity is a name from the gazetteer: a country, person, place, organisation.
	Entity Kind = iota + 1
	// Date is a year, decade, or day/month/year expression.
	Date
	// Quantity is a number with a unit, a percentage or a magnitude word.
	Quantity
)

func (k Kind) String() string {
	switch k {
	case Entity:
		return "entity"
	case Date:
		return "date"
	case Quantity:
		return "quantity"
	}
	return "unknown"
}

// Span is a salient span: bytes [Start, End) of the tagged text.
type Span struct {
	Start, End int
	Kind       Kind
}

// Tagger finds salient spans in a text (typically one sentence). Spans are
// sorted by Start and do not overlap.
type Tagger interface {
	Tag(text string) []Span
}

const month = `(?:January|February|March|April|May|June|July|August|September|October|November|December)`

var (
	dateRE = regexp.MustCompile(
		`\b(?:` +
			`\d{1,2} ` + month + `(?: \d{3,4})?` + // 12 July 1967, 14 July
			`|` + month + ` \d{1,2}, \d{4}` + // July 12, 1967
			`|` + month + ` \d{4}` + // July 1967
			`|(?:1[0-9]|20)\d0s` + // 1990s
			`|(?:1[0-9]|20)\d\d(?:-\d\d(?:\d\d)?)?` + // 1967, 1990-95, 1990-1995
			`)\b`)
	// A number (grouped thousands, decimals) with a unit, a percentage or a
	// magnitude; an optional currency sign or "US$" in front.
	quantityRE = regexp.MustCompile(
		`(?:US)?\$?-?\b\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:\s*%|\s+(?:million|billion|trillion)\b)?(?:\s+(?:sq km|sq mi|cu m|km|mi|m|nm|kg|kW|kWh|MW|GW|bbl/day|bbl|tons?|tonnes?|hectares|ha|people|persons|years|deaths|births|ft)\b)?` +
			`|(?:US)?\$?-?\b\d+(?:\.\d+)?(?:\s*%|\s+(?:million|billion|trillion)\b(?:\s+(?:sq km|cu m|kWh|bbl/day|bbl|tons?))?|\s+(?:sq km|sq mi|cu m|km|mi|m|nm|kg|kW|kWh|MW|GW|bbl/day|bbl|tons?|tonnes?|hectares|ha|people|persons|years|deaths|births|ft)\b)`)
)

// Grammar finds dates (years 1000–2099, decades, "12 July 1967", "July
// 1967", "July 12, 1967", "14 July", year ranges) and quantities ("2,149 km",
// "37.5%", "$1.2 billion", "643,801 sq km"). Bare numbers without a unit are
// not salient (except years). It is a Tagger.
type Grammar struct{}

// Tag implements Tagger.
func (Grammar) Tag(text string) []Span {
	var out []Span
	for _, m := range dateRE.FindAllStringIndex(text, -1) {
		out = append(out, Span{m[0], m[1], Date})
	}
	for _, m := range quantityRE.FindAllStringIndex(text, -1) {
		out = append(out, Span{m[0], m[1], Quantity})
	}
	return resolve(out)
}

// resolve sorts spans and drops overlaps, keeping the longest span first
// (then the earliest).
func resolve(spans []Span) []Span {
	if len(spans) < 2 {
		return spans
	}
	byLen := append([]Span(nil), spans...)
	sort.SliceStable(byLen, func(i, j int) bool {
		li, lj := byLen[i].End-byLen[i].Start, byLen[j].End-byLen[j].Start
		if li != lj {
			return li > lj
		}
		return byLen[i].Start < byLen[j].Start
	})
	var kept []Span
	for _, s := range byLen {
		ok := true
		for _, k := range kept {
			if s.Start < k.End && k.Start < s.End {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, s)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Start < kept[j].Start })
	return kept
}

// RuleTagger tags dates and quantities with Grammar and entities with a
// Gazetteer (nil: no entities). It is a Tagger.
type RuleTagger struct {
	Gazetteer *Gazetteer
}

// Tag implements Tagger.
func (t RuleTagger) Tag(text string) []Span {
	spans := Grammar{}.Tag(text)
	if t.Gazetteer != nil {
		spans = append(spans, t.Gazetteer.Tag(text)...)
	}
	return resolve(spans)
}
