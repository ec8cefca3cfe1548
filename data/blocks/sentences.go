package blocks

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Span is a byte range [Start, End) of a text.
type Span struct {
	Start, End int
}

// abbreviations end with a period that does not end a sentence (lower-cased,
// without the period).
var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "st": true, "mt": true, "jr": true, "sr": true,
	"gen": true, "col": true, "lt": true, "gov": true, "sen": true, "rep": true, "prof": true, "rev": true,
	"inc": true, "ltd": true, "co": true, "corp": true, "bros": true, "vs": true, "etc": true, "al": true,
	"no": true, "nos": true, "vol": true, "approx": true, "est": true, "ft": true, "sq": true, "fig": true,
	"jan": true, "feb": true, "mar": true, "apr": true, "jun": true, "jul": true, "aug": true, "sep": true,
	"sept": true, "oct": true, "nov": true, "dec": true, "capt": true, "cmdr": true, "adm": true, "maj": true,
	"sgt": true, "pres": true, "ave": true, "blvd": true, "dept": true, "univ": true, "assn": true, "ca": true,
	"cf": true, "pp": true, "op": true, "viz": true, "mssrs": true, "messrs": true,
}

// SplitSentences splits text into sentences by rule: a line break always ends
// a sentence; '.', '!' or '?' (with any closing quotes or brackets after it)
// ends one when followed by white space and then an upper-case letter, a
// digit, a quote or an opening bracket — except after a known abbreviation
// ("Mr.", "est.", "Jan."), a single-letter initial ("J. R. Tolkien") or a
// dotted abbreviation ("U.S.", "e.g."). Decimals ("37.5") never split because
// no space follows the point. Spans exclude surrounding white space; blank
// sentences are dropped.
func SplitSentences(text string) []Span {
	var out []Span
	start := 0
	emit := func(end int) {
		s, e := start, end
		for s < e {
			r, n := utf8.DecodeRuneInString(text[s:])
			if !unicode.IsSpace(r) {
				break
			}
			s += n
		}
		for e > s {
			r, n := utf8.DecodeLastRuneInString(text[:e])
			if !unicode.IsSpace(r) {
				break
			}
			e -= n
		}
		if e > s {
			out = append(out, Span{s, e})
		}
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '\n' {
			emit(i)
			start = i + 1
			continue
		}
		if c != '.' && c != '!' && c != '?' {
			continue
		}
		end := i + 1
		for end < len(text) && strings.IndexByte(`"')]’”`, text[end]) >= 0 {
			end++
		}
		if end < len(text) && (text[end] == '\xe2') { // closing curly quotes (UTF-8 E2 80 99 / 9D)
			if strings.HasPrefix(text[end:], "’") || strings.HasPrefix(text[end:], "”") {
				end += 3
			}
		}
		// Needs white space (not a line break, handled above) then a sentence start.
		j := end
		for j < len(text) && (text[j] == ' ' || text[j] == '\t') {
			j++
		}
		if j == end || j >= len(text) || text[j] == '\n' {
			if j >= len(text) || text[j] == '\n' {
				i = end - 1
			}
			continue
		}
		r, _ := utf8.DecodeRuneInString(text[j:])
		if !(unicode.IsUpper(r) || unicode.IsDigit(r) || strings.ContainsRune(`"'(“‘[`, r)) {
			continue
		}
		if c == '.' && !endsSentence(text[start:i]) {
			continue
		}
		emit(end)
		start = end
		i = end - 1
	}
	emit(len(text))
	return out
}

// endsSentence reports whether a period after before ends a sentence.
func endsSentence(before string) bool {
	k := len(before)
	for k > 0 {
		r, n := utf8.DecodeLastRuneInString(before[:k])
		if unicode.IsSpace(r) || r == '(' || r == '"' {
			break
		}
		k -= n
	}
	word := before[k:]
	if word == "" || strings.ContainsAny(word[len(word)-1:], `)]"'`) {
		return true // a period after a bracket or quote
	}
	if strings.Contains(word, ".") { // U.S. e.g. i.e. a.m.
		return false
	}
	if utf8.RuneCountInString(word) == 1 {
		r, _ := utf8.DecodeRuneInString(word)
		if unicode.IsUpper(r) { // an initial
			return false
		}
	}
	return !abbreviations[strings.ToLower(word)]
}
