package qa

import "testing"

// TestNormalize compares Normalize with the official evaluation's normalize_answer
// (language/orqa/utils/eval_utils.py). The expected strings are what that Python function
// returns for each input (Python 3.11), including its quirks: combining marks split off by NFD
// end a word, so the "a" of "Å" is removed as an article.
func TestNormalize(t *testing.T) {
	for _, c := range [][2]string{
		{"The Paris.", "paris"}, {"  A  tale of   two cities ", "tale of two cities"},
		{"€5 billion", "€5 billion"}, {"$5 billion", "5 billion"}, {"Bakı", "bakı"},
		{"naïve café", "nai\u0308ve cafe\u0301"}, {"the–end", "–end"}, {"a-b", "ab"}, {"An_apple", "anapple"},
		{"İstanbul", "i\u0307stanbul"}, {"Ångström (unit)", "\u030angstro\u0308m unit"}, {"«Le Monde»", "«le monde»"},
		{"3.14", "314"}, {"Theatre", "theatre"}, {"the théâtre", "\u0301 \u0302tre"}, {"Ça va", "c\u0327 va"},
		{"ǅemal", "ǆemal"},
	} {
		if got := Normalize(c[0]); got != c[1] {
			t.Errorf("Normalize(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}

// TestRegexMatch compares RegexMatch with the official regex_match_score (re.match with
// IGNORECASE, UNICODE and MULTILINE), whose results on these pairs are the expected values.
func TestRegexMatch(t *testing.T) {
	for _, c := range []struct {
		prediction, pattern string
		want                bool
	}{
		{"Paris, France", "paris", true}, {"the Paris", "paris", false}, {"xx\nParis", "paris", false},
		{"Mt. Everest", `mt\.? everest`, true}, {"1990s", "19[0-9]0s?", true}, {"Everest", "(?i)everest", true},
		{"anything", "[unclosed", false}, {"Sucre", "la paz|sucre", true}, {"Sucre!", "sucre$", false},
	} {
		if got := RegexMatch(c.prediction, c.pattern); got != c.want {
			t.Errorf("RegexMatch(%q, %q) = %v, want %v", c.prediction, c.pattern, got, c.want)
		}
	}
	if !RegexMatchAny("Sucre", []string{"[bad", "sucre"}) || RegexMatchAny("Lima", []string{"sucre"}) {
		t.Error("RegexMatchAny")
	}
}
