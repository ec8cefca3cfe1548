package spans

import (
	"iter"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/realm-go/realm/data/blocks"
	"github.com/realm-go/realm/data/corpus"
)

// MaxPhraseWords bounds the length of a gazetteer phrase in words.
const MaxPhraseWords = 8

// Gazetteer is a set of entity names matched word by word, case-sensitively,
// longest first. It is a Tagger.
type Gazetteer struct {
	phrases map[string]bool // words joined by one space
}

// NewGazetteer returns a gazetteer of the given names.
func NewGazetteer(names ...string) *Gazetteer {
	g := &Gazetteer{phrases: map[string]bool{}}
	for _, n := range names {
		g.Add(n)
	}
	return g
}

// Add adds a name (its words, punctuation ignored).
func (g *Gazetteer) Add(name string) {
	ws := words(name)
	if len(ws) == 0 || len(ws) > MaxPhraseWords {
		return
	}
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = name[w.Start:w.End]
	}
	g.phrases[strings.Join(parts, " ")] = true
}

// Len is the number of phrases.
func (g *Gazetteer) Len() int { return len(g.phrases) }

// Contains reports whether name is in the gazetteer.
func (g *Gazetteer) Contains(name string) bool {
	ws := words(name)
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = name[w.Start:w.End]
	}
	return g.phrases[strings.Join(parts, " ")]
}

// Tag implements Tagger: the longest gazetteer phrase at each word, left to
// right.
func (g *Gazetteer) Tag(text string) []Span {
	ws := words(text)
	var out []Span
	var sb strings.Builder
	for i := 0; i < len(ws); {
		best := 0
		sb.Reset()
		for n := 1; n <= MaxPhraseWords && i+n <= len(ws); n++ {
			if n > 1 {
				sb.WriteByte(' ')
			}
			sb.WriteString(text[ws[i+n-1].Start:ws[i+n-1].End])
			if g.phrases[sb.String()] {
				best = n
			}
		}
		if best == 0 {
			i++
			continue
		}
		out = append(out, Span{ws[i].Start, ws[i+best-1].End, Entity})
		i += best
	}
	return out
}

// words returns the byte ranges of the words of text: runs of letters,
// digits, and inner apostrophes, hyphens and periods ("Cote d'Ivoire",
// "Guinea-Bissau", "St.").
func words(text string) []blocks.Span {
	var out []blocks.Span
	start := -1
	for i, r := range text {
		inner := r == '\'' || r == '-' || r == '’' || r == '.'
		if unicode.IsLetter(r) || unicode.IsDigit(r) || (inner && start >= 0) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, trimWord(text, start, i))
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, trimWord(text, start, len(text)))
	}
	return out
}

func trimWord(text string, s, e int) blocks.Span {
	for e > s {
		r, n := utf8.DecodeLastRuneInString(text[s:e])
		if r != '\'' && r != '-' && r != '’' && r != '.' {
			break
		}
		e -= n
	}
	// A possessive "'s" is not part of the name ("Botswana's").
	if w := text[s:e]; strings.HasSuffix(w, "'s") && e-s > 2 {
		e -= 2
	} else if strings.HasSuffix(w, "’s") && e-s > 4 {
		e -= 4
	}
	return blocks.Span{Start: s, End: e}
}

// stopWords are capitalised only at a sentence start or are too common to be
// entity names on their own; phrases never start or end with one.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`The A An In On At Of For From By With To And Or But As Since After Before During
		This That These Those It Its Their There Here He She They We Our His Her However Although While Because Also
		Some Most Many Much More Less Other Others Each Every All Both Either Neither No Not Note Total Is Are Was Were
		Be Been Has Have Had Do Does Did If Then When Where Which Who Whom Whose What Why How Than Such About Between
		Under Over Into Through Across Against Among Following Despite Until Within Without Including Like Per Via
		January February March April May June July August September October November December
		Monday Tuesday Wednesday Thursday Friday Saturday Sunday NA NEGL`) {
		stopWords[w] = true
	}
}

// honorifics start a phrase without being part of the name: "President
// Francois HOLLANDE" counts as "Francois HOLLANDE".
var honorifics = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`President Vice Prime Minister King Queen Governor General Sultan Emir Amir
		Chancellor Premier Chairman Prince Princess Emperor Pope Sheikh Grand Duke Co-prince Supreme Leader Chief
		Administrator Commissioner Acting Interim Mayor Lieutenant Governor-General Regent Senior Deputy Captain
		Regent Mr. Mrs. Dr. Sir Dame`) {
		honorifics[w] = true
	}
}

// connectors may appear inside a multi-word name ("Bank of England").
var connectors = map[string]bool{"of": true, "the": true, "de": true, "da": true, "del": true, "du": true, "la": true, "le": true, "van": true, "von": true, "al": true, "el": true, "y": true}

// (“and” is not a connector: “Cambodia and Thailand” is two names; titles such
// as “Trinidad and Tobago” come from the documents themselves.)

// GazetteerOptions configures BuildGazetteer.
type GazetteerOptions struct {
	// MinCount is how many times a capitalised phrase must occur, not at a
	// sentence start, to become an entity; 0 means 3.
	MinCount int
}

// BuildGazetteer collects entity names from a corpus: every document title,
// plus every capitalised phrase (a run of capitalised words, possibly joined by
// "of", "the", "de", ...) that occurs at least MinCount times away from a
// sentence start (the start of a sentence and the text after a colon are
// skipped, since capitals there say nothing), with leading and trailing stop
// words removed. Titles and phrases are case-sensitive.
func BuildGazetteer(docs iter.Seq2[corpus.Document, error], opts GazetteerOptions) (*Gazetteer, error) {
	if opts.MinCount == 0 {
		opts.MinCount = 3
	}
	g := NewGazetteer()
	counts := map[string]int{}
	for d, err := range docs {
		if err != nil {
			return nil, err
		}
		g.Add(d.Title)
		for _, s := range blocks.SplitSentences(d.Text) {
			countPhrases(d.Text[s.Start:s.End], counts)
		}
	}
	for p, n := range counts {
		if n >= opts.MinCount {
			g.phrases[p] = true
		}
	}
	return g, nil
}

func isCapitalised(w string) bool {
	r, _ := utf8.DecodeRuneInString(w)
	return unicode.IsUpper(r)
}

// countPhrases counts the capitalised phrases of one sentence.
func countPhrases(sent string, counts map[string]int) {
	ws := words(sent)
	initial := make([]bool, len(ws))
	for i, w := range ws {
		if i == 0 {
			initial[i] = true
			continue
		}
		gap := sent[ws[i-1].End:w.Start]
		if strings.Contains(gap, ":") || strings.Contains(gap, "- ") || strings.Contains(gap, ". ") {
			initial[i] = true
		}
	}
	for i := 0; i < len(ws); {
		if !isCapitalised(sent[ws[i].Start:ws[i].End]) {
			i++
			continue
		}
		j := i + 1 // run [i, j)
		for j < len(ws) {
			w := sent[ws[j].Start:ws[j].End]
			gap := sent[ws[j-1].End:ws[j].Start]
			if strings.TrimSpace(gap) != "" || initial[j] {
				break
			}
			if isCapitalised(w) {
				j++
				continue
			}
			if connectors[w] && j+1 < len(ws) && isCapitalised(sent[ws[j+1].Start:ws[j+1].End]) && strings.TrimSpace(sent[ws[j].End:ws[j+1].Start]) == "" {
				j += 2
				continue
			}
			break
		}
		s, e := i, j
		for s < e && (stopWords[sent[ws[s].Start:ws[s].End]] || honorifics[sent[ws[s].Start:ws[s].End]]) {
			s++
		}
		for e > s && (stopWords[sent[ws[e-1].Start:ws[e-1].End]] || connectors[sent[ws[e-1].Start:ws[e-1].End]]) {
			e--
		}
		for s < e && connectors[sent[ws[s].Start:ws[s].End]] {
			s++
		}
		if initial[i] && s == i && e-s == 1 {
			// One capitalised word starting a sentence: the capital says nothing.
			i = j
			continue
		}
		if s < e && e-s <= MaxPhraseWords && isCapitalised(sent[ws[s].Start:ws[s].End]) {
			parts := make([]string, 0, e-s)
			for k := s; k < e; k++ {
				parts = append(parts, sent[ws[k].Start:ws[k].End])
			}
			counts[strings.Join(parts, " ")]++
		}
		i = j
	}
}
