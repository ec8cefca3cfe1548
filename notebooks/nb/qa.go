package nb

import (
	"fmt"
	"html"

	dataqa "github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/openqa"
)

// Questions returns the Factbook questions of split about the countries of corpus c (those
// whose documents it holds), as `realm finetune` selects them; none is an error.
func Questions(split string, c *realm.Corpus) ([]dataqa.Example, error) {
	titles := map[string]bool{}
	for id := range int64(c.Len()) {
		b, err := c.Block(id)
		if err != nil {
			return nil, err
		}
		titles[b.Title] = true
	}
	var out []dataqa.Example
	for ex, err := range dataqa.Factbook(split) {
		if err != nil {
			return nil, err
		}
		if ex.Country == "" || titles[ex.Country] {
			out = append(out, ex)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nb: no %s question is about a country of the corpus", split)
	}
	return out, nil
}

// Excerpt returns the first n bytes of text (cut at a UTF-8 character boundary, with "…" when
// text goes on), escaped for HTML.
func Excerpt(text string, n int) string {
	if n >= len(text) {
		return html.EscapeString(text)
	}
	return html.EscapeString(text[:utf8Start(text, max(n, 0))]) + "…"
}

// Highlight returns text[start:end] marked (HTML <mark>) with up to context bytes of text on
// each side, cut at UTF-8 character boundaries and with "…" where text goes on; the text is
// escaped. A span outside text gives Excerpt(text, 2·context).
func Highlight(text string, start, end, context int) string {
	if start < 0 || end > len(text) || start >= end {
		return Excerpt(text, 2*context)
	}
	lo, hi := utf8Start(text, max(0, start-context)), utf8Start(text, min(len(text), end+context))
	pre, post := "", ""
	if lo > 0 {
		pre = "…"
	}
	if hi < len(text) {
		post = "…"
	}
	return pre + html.EscapeString(text[lo:start]) + "<mark>" + html.EscapeString(text[start:end]) + "</mark>" + html.EscapeString(text[end:hi]) + post
}

// utf8Start moves i back to the start of the UTF-8 character it falls in.
func utf8Start(s string, i int) int {
	for i > 0 && i < len(s) && s[i]&0xC0 == 0x80 {
		i--
	}
	return i
}

// PickPredictions chooses n of an evaluation's predictions to show, by index in preds: right
// answers of different relations first (up to n−1), then the first wrong one, then the first
// of the others until n are chosen (or preds runs out).
func PickPredictions(preds []openqa.QAPrediction, n int) []int {
	var picked []int
	has := map[int]bool{}
	add := func(i int) {
		if !has[i] && len(picked) < n {
			has[i] = true
			picked = append(picked, i)
		}
	}
	relations := map[string]bool{}
	for i, p := range preds {
		if p.Correct && !relations[p.Relation] && len(picked) < n-1 {
			relations[p.Relation] = true
			add(i)
		}
	}
	for i, p := range preds {
		if !p.Correct {
			add(i)
			break
		}
	}
	for i := range preds {
		add(i)
	}
	return picked
}
