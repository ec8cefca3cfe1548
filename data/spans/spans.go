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
	"fmt"
	"regexp"
	"sort"
	"strings"
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

// Kinds is a set of span kinds, one bit per Kind. The zero value is the empty set, which
// RuleTagger reads as "every kind".
type Kinds uint8

// AllKinds holds every Kind.
const AllKinds = Kinds(1<<Entity | 1<<Date | 1<<Quantity)

// KindsOf returns the set holding ks.
func KindsOf(ks ...Kind) Kinds {
	var s Kinds
	for _, k := range ks {
		s |= 1 << k
	}
	return s
}

// Has tells whether k is in the set.
func (s Kinds) Has(k Kind) bool { return s&(1<<k) != 0 }

// String lists the kinds, comma-separated ("entity,date"), or "all" (also for the zero value,
// which RuleTagger reads as every kind).
func (s Kinds) String() string {
	if s == AllKinds || s == 0 {
		return "all"
	}
	var names []string
	for _, k := range []Kind{Entity, Date, Quantity} {
		if s.Has(k) {
			names = append(names, k.String())
		}
	}
	return strings.Join(names, ",")
}

// ParseKinds reads a comma-separated list of kinds ("entity", "date", "quantity") or "all".
func ParseKinds(text string) (Kinds, error) {
	if strings.TrimSpace(text) == "all" {
		return AllKinds, nil
	}
	var s Kinds
	for _, name := range strings.Split(text, ",") {
		switch strings.TrimSpace(name) {
		case "entity", "entities":
			s |= KindsOf(Entity)
		case "date", "dates":
			s |= KindsOf(Date)
		case "quantity", "quantities":
			s |= KindsOf(Quantity)
		default:
			return 0, fmt.Errorf("spans: unknown span kind %q in %q (want entity, date, quantity or all)", name, text)
		}
	}
	return s, nil
}

// MarshalText writes the set as String does (so configurations read "entity,date" in JSON).
func (s Kinds) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (s *Kinds) UnmarshalText(text []byte) error {
	k, err := ParseKinds(string(text))
	if err != nil {
		return err
	}
	*s = k
	return nil
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
func (g Grammar) Tag(text string) []Span {
	return resolve(g.all(text))
}

// all returns every date and quantity match, overlaps included.
func (Grammar) all(text string) []Span {
	var out []Span
	for _, m := range dateRE.FindAllStringIndex(text, -1) {
		out = append(out, Span{m[0], m[1], Date})
	}
	for _, m := range quantityRE.FindAllStringIndex(text, -1) {
		out = append(out, Span{m[0], m[1], Quantity})
	}
	return out
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
	// Kinds keeps only spans of these kinds (the zero value: all). Spans of other kinds are
	// dropped before overlaps are resolved, so they never hide a kept one. The paper masks
	// named entities and dates; on a corpus where most dates and quantities are shared by
	// one field across all subjects (the Factbook's "2015 est."), masking entities only makes
	// the retriever's reward a block about the same subject rather than the same field.
	Kinds Kinds
}

// Tag implements Tagger.
func (t RuleTagger) Tag(text string) []Span {
	kinds := t.Kinds
	if kinds == 0 {
		kinds = AllKinds
	}
	var spans []Span
	if kinds.Has(Date) || kinds.Has(Quantity) {
		for _, s := range (Grammar{}).all(text) {
			if kinds.Has(s.Kind) {
				spans = append(spans, s)
			}
		}
	}
	if t.Gazetteer != nil && kinds.Has(Entity) {
		spans = append(spans, t.Gazetteer.Tag(text)...)
	}
	return resolve(spans)
}
