// Package qa holds open-domain question-answering examples (NQ-open form:
// a question and its acceptable answers), streaming readers for NQ-open JSONL
// and Parquet, the embedded Factbook QA splits, and SQuAD-style answer
// normalisation and exact match.
package qa

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"os"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/text/unicode/norm"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/internal/pqread"
)

// Example is one question with its acceptable answers.
type Example struct {
	// Question is the natural-language question.
	Question string `json:"question"`
	// Answers are the acceptable answer strings (at least one).
	Answers []string `json:"answer"`
	// Relation names the Factbook relation ("capital", ...); empty elsewhere.
	Relation string `json:"relation,omitempty"`
	// Country is the Factbook country the question is about; empty elsewhere.
	Country string `json:"country,omitempty"`
	// ID identifies the example (for Factbook "code/relation").
	ID string `json:"id,omitempty"`
}

// Validate checks that the question and all answers are non-blank UTF-8.
func (e Example) Validate() error {
	if !utf8.ValidString(e.Question) || strings.TrimSpace(e.Question) == "" {
		return fmt.Errorf("empty or invalid UTF-8 question")
	}
	if len(e.Answers) == 0 {
		return fmt.Errorf("question %q has no answer", e.Question)
	}
	for _, a := range e.Answers {
		if !utf8.ValidString(a) || strings.TrimSpace(a) == "" {
			return fmt.Errorf("question %q has an empty or invalid UTF-8 answer", e.Question)
		}
	}
	return nil
}

// Open streams the examples of path by its extension: Parquet for .parquet (OpenParquet),
// NQ-open JSONL otherwise (OpenJSONL).
func Open(path string, opts corpus.ReadOptions) iter.Seq2[Example, error] {
	if strings.HasSuffix(strings.ToLower(path), ".parquet") {
		return OpenParquet(path, opts)
	}
	return OpenJSONL(path, opts)
}

// HashSplit assigns a question to a split by a hash of its normalised text (FNV-1a of
// Normalize(question)): "test" for one question in ten, "dev" for another, "train" for the
// rest. The same question always lands in the same split, whatever file or order it comes in.
func HashSplit(question string) string {
	h := fnv.New32a()
	h.Write([]byte(Normalize(question)))
	switch h.Sum32() % 10 {
	case 0:
		return "test"
	case 1:
		return "dev"
	}
	return "train"
}

// OpenJSONL streams the examples of an NQ-open JSONL file.
func OpenJSONL(path string, opts corpus.ReadOptions) iter.Seq2[Example, error] {
	return func(yield func(Example, error) bool) {
		f, err := os.Open(path)
		if err != nil {
			yield(Example{}, err)
			return
		}
		defer f.Close()
		for e, err := range ReadJSONL(f, path, opts) {
			if !yield(e, err) {
				return
			}
		}
	}
}

type jsonExample struct {
	Question *string         `json:"question"`
	Answer   json.RawMessage `json:"answer"`
	Relation string          `json:"relation"`
	Country  string          `json:"country"`
	ID       string          `json:"id"`
}

// ReadJSONL streams NQ-open JSONL examples from r: {"question": string,
// "answer": [string, ...] or string}, plus optional relation, country and id.
func ReadJSONL(r io.Reader, name string, opts corpus.ReadOptions) iter.Seq2[Example, error] {
	return func(yield func(Example, error) bool) {
		for line, b := range corpus.Lines(r, name) {
			if line < 0 {
				yield(Example{}, fmt.Errorf("%s", b))
				return
			}
			if len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			e, err := parseLine(b)
			if err == nil {
				err = e.Validate()
			}
			if err != nil {
				err = &corpus.RecordError{File: name, Unit: "line", N: line, Err: err}
				if opts.Skip(err) {
					continue
				}
				yield(Example{}, err)
				return
			}
			opts.Yielded()
			if !yield(e, nil) {
				return
			}
		}
	}
}

func parseLine(b []byte) (Example, error) {
	if !utf8.Valid(b) {
		return Example{}, fmt.Errorf("invalid UTF-8")
	}
	var j jsonExample
	if err := json.Unmarshal(b, &j); err != nil {
		return Example{}, err
	}
	if j.Question == nil {
		return Example{}, fmt.Errorf("no \"question\" field")
	}
	e := Example{Question: *j.Question, Relation: j.Relation, Country: j.Country, ID: j.ID}
	if len(j.Answer) == 0 {
		return Example{}, fmt.Errorf("no \"answer\" field")
	}
	if err := json.Unmarshal(j.Answer, &e.Answers); err != nil {
		var s string
		if err := json.Unmarshal(j.Answer, &s); err != nil {
			return Example{}, fmt.Errorf("answer is neither a string nor a list of strings: %.40s", j.Answer)
		}
		e.Answers = []string{s}
	}
	return e, nil
}

// OpenParquet streams examples from a Parquet file with a string column
// "question" and a column "answer" that is a string or a list of strings;
// optional string columns relation, country and id are read when present.
func OpenParquet(path string, opts corpus.ReadOptions) iter.Seq2[Example, error] {
	return func(yield func(Example, error) bool) {
		f, err := pqread.Open(path)
		if err != nil {
			yield(Example{}, err)
			return
		}
		defer f.Close()
		var cols [5]pqread.Column
		var has [5]bool
		for i, name := range []string{"question", "answer", "relation", "country", "id"} {
			c, ok, err := f.Lookup(name, parquet.ByteArray)
			if err == nil && !ok && i < 2 {
				err = fmt.Errorf("%s: no %q column", path, name)
			}
			if err != nil {
				yield(Example{}, err)
				return
			}
			cols[i], has[i] = c, ok
		}
		stopped := false
		err = f.Rows(0, func(row int64, r parquet.Row) error {
			var e Example
			e.Question, _ = pqread.String(r, cols[0])
			for _, v := range pqread.Values(r, cols[1].Index) {
				e.Answers = append(e.Answers, string(v.ByteArray()))
			}
			for i, dst := range []*string{&e.Relation, &e.Country, &e.ID} {
				if has[i+2] {
					*dst, _ = pqread.String(r, cols[i+2])
				}
			}
			if err := e.Validate(); err != nil {
				err = &corpus.RecordError{File: path, Unit: "row", N: row, Err: err}
				if opts.Skip(err) {
					return nil
				}
				return err
			}
			opts.Yielded()
			if !yield(e, nil) {
				stopped = true
				return errStop
			}
			return nil
		})
		if err != nil && !stopped {
			yield(Example{}, err)
		}
	}
}

var errStop = fmt.Errorf("stopped")

//go:embed factbook/*.jsonl
var factbookFS embed.FS

// Splits are the names of the embedded Factbook QA splits. Countries, not
// questions, are split (70/15/15, seeded), so no dev or test country appears
// in train.
var Splits = []string{"train", "dev", "test"}

// Factbook streams one embedded Factbook QA split ("train", "dev" or "test").
func Factbook(split string) iter.Seq2[Example, error] {
	return func(yield func(Example, error) bool) {
		b, err := factbookFS.ReadFile("factbook/" + split + ".jsonl")
		if err != nil {
			yield(Example{}, fmt.Errorf("qa: unknown Factbook split %q (want train, dev or test)", split))
			return
		}
		for e, err := range ReadJSONL(bytes.NewReader(b), split+".jsonl", corpus.ReadOptions{}) {
			if !yield(e, err) {
				return
			}
		}
	}
}

// FactbookCountries returns the countries that an embedded Factbook QA split asks about, in the
// order of their first question.
func FactbookCountries(split string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for e, err := range Factbook(split) {
		if err != nil {
			return nil, err
		}
		if e.Country != "" && !seen[e.Country] {
			seen[e.Country] = true
			out = append(out, e.Country)
		}
	}
	return out, nil
}

// asciiPunctuation is Python's string.punctuation, what the official evaluation removes.
const asciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// Normalize is the answer normalisation of REALM's and ORQA's official evaluation
// (language/orqa/utils/eval_utils.normalize_answer: SQuAD's, after Unicode NFD), step by step:
// NFD, lower case, ASCII punctuation removed (other symbols, such as "€", and the combining
// marks NFD splits off stay), the articles a/an/the removed where they are whole words (as
// Python's \b(a|an|the)\b: a word is a run of letters, digits and "_", so a combining mark
// ends one), whitespace collapsed.
func Normalize(s string) string {
	s = strings.ToLower(norm.NFD.String(s))
	s = strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && strings.ContainsRune(asciiPunctuation, r) {
			return -1
		}
		return r
	}, s)
	isWord := func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) }
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isWord(r) {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		j := i + n
		for j < len(s) {
			r, n := utf8.DecodeRuneInString(s[j:])
			if !isWord(r) {
				break
			}
			j += n
		}
		if w := s[i:j]; w == "a" || w == "an" || w == "the" {
			b.WriteByte(' ')
		} else {
			b.WriteString(w)
		}
		i = j
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// RegexMatch is the official evaluation's regex match (CuratedTrec's answers are patterns):
// pattern, compiled case-insensitively, must match at the start of prediction (Python's
// re.match with IGNORECASE and MULTILINE); a pattern that does not compile matches nothing. The
// pattern is RE2 syntax, which Python's shares except for backreferences and look-arounds.
func RegexMatch(prediction, pattern string) bool {
	re, err := regexp.Compile(`(?im)\A(?:` + pattern + `)`)
	if err != nil {
		return false
	}
	return re.MatchString(prediction)
}

// RegexMatchAny reports whether prediction matches one of patterns (RegexMatch).
func RegexMatchAny(prediction string, patterns []string) bool {
	for _, p := range patterns {
		if RegexMatch(prediction, p) {
			return true
		}
	}
	return false
}

// ExactMatch reports whether prediction equals one of answers after Normalize.
func ExactMatch(prediction string, answers []string) bool {
	p := Normalize(prediction)
	for _, a := range answers {
		if Normalize(a) == p {
			return true
		}
	}
	return false
}
