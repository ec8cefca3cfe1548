// Package tokenize holds BERT's uncased WordPiece tokeniser: text to vocabulary ids with
// byte offsets into the original text, and the [CLS] a [SEP] b [SEP] joining, truncation,
// padding and bucketed batching that turn token lists into fixed-shape model inputs.
//
// One implementation (BERT's BasicTokenizer followed by greedy longest-match-first
// WordPiece) sits behind every constructor, so a tokenizer.json and the equivalent
// vocab.txt give identical results; both reproduce Hugging Face tokenizers' ids and
// offsets exactly (see testdata/hf_reference.json). Default() needs no file and no
// network: it embeds bert-base-uncased's vocabulary (see vocab/NOTICE).
//
// Invalid UTF-8: every invalid byte reads as U+FFFD, which BERT's text cleaning drops, as
// Hugging Face drops the U+FFFD that a lossy UTF-8 decoding gives. Offsets always remain
// byte offsets into the string that was passed in.
//
// A Tokenizer is immutable and safe for concurrent use.
package tokenize

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// Piece is one token of a text: its vocabulary id and the byte range [Start, End) of the
// original text it came from (text[Start:End]), so that answers found as token spans map
// back to the exact original characters, accents and case included.
type Piece struct {
	ID         int32
	Start, End int
}

// Tokenizer converts text to WordPiece ids of a BERT vocabulary. Build one with Default,
// FromTokenizerJSON, FromVocabTxt or FromDir.
type Tokenizer struct {
	tokens  []string         // id -> token
	vocab   map[string]int32 // word-initial tokens
	cont    map[string]int32 // continuation tokens, without their prefix
	isCont  []bool           // id -> is a continuation ("##") token
	special []bool           // id -> is an added special token

	prefix   string // continuation prefix, "##"
	maxChars int    // longer words (in characters) become [UNK]
	maxRunes int    // longest vocabulary entry in characters (bounds the greedy search)

	clean, chinese, stripAccents, lower bool

	added      []addedToken // matched in the original text before normalisation, longest first
	addedFirst [256]bool    // first bytes of added tokens

	unk, cls, sep, pad, mask int32
}

// addedToken is a token that is matched verbatim in the original text ([CLS], [MASK], …).
type addedToken struct {
	content string
	id      int32
}

//go:embed vocab/bert-base-uncased-tokenizer.json.gz
var bertBaseUncasedGz []byte

// Default returns the bert-base-uncased tokenizer from the embedded tokenizer.json
// (30,522 tokens); it needs no file and no network.
func Default() (*Tokenizer, error) {
	zr, err := gzip.NewReader(bytes.NewReader(bertBaseUncasedGz))
	if err != nil {
		return nil, fmt.Errorf("tokenize: embedded vocab/bert-base-uncased-tokenizer.json.gz: %w", err)
	}
	content, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("tokenize: embedded vocab/bert-base-uncased-tokenizer.json.gz: %w", err)
	}
	t, err := fromTokenizerJSON(content)
	if err != nil {
		return nil, fmt.Errorf("tokenize: embedded vocab/bert-base-uncased-tokenizer.json.gz: %w", err)
	}
	return t, nil
}

// tokenizerJSON is the part of Hugging Face's tokenizer.json that a BERT WordPiece
// tokenizer uses.
type tokenizerJSON struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer *struct {
		Type               string `json:"type"`
		CleanText          *bool  `json:"clean_text"`
		HandleChineseChars *bool  `json:"handle_chinese_chars"`
		StripAccents       *bool  `json:"strip_accents"`
		Lowercase          *bool  `json:"lowercase"`
	} `json:"normalizer"`
	PreTokenizer *struct {
		Type string `json:"type"`
	} `json:"pre_tokenizer"`
	Model struct {
		Type                    string           `json:"type"`
		UnkToken                string           `json:"unk_token"`
		ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    int              `json:"max_input_chars_per_word"`
		Vocab                   map[string]int32 `json:"vocab"`
	} `json:"model"`
}

// FromTokenizerJSON reads a Hugging Face tokenizer.json of a BERT WordPiece model
// (BertNormalizer, BertPreTokenizer, WordPiece): vocabulary, normaliser flags and added
// tokens. Other tokenizer kinds are refused with an error.
//
// It does not use go-huggingface's hftokenizer, whose offsets are wrong once
// normalisation changes byte lengths (accents) and whose pre-tokenisation is quadratic in
// the text length; hftokenizer is kept as a cross-check in the tests.
func FromTokenizerJSON(path string) (*Tokenizer, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %w", err)
	}
	t, err := fromTokenizerJSON(content)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %s: %w", path, err)
	}
	return t, nil
}

func fromTokenizerJSON(content []byte) (*Tokenizer, error) {
	var tj tokenizerJSON
	if err := json.Unmarshal(content, &tj); err != nil {
		return nil, fmt.Errorf("parsing tokenizer.json: %w", err)
	}
	if tj.Model.Type != "WordPiece" {
		return nil, fmt.Errorf("model type %q is not supported (only WordPiece)", tj.Model.Type)
	}
	if tj.PreTokenizer == nil || tj.PreTokenizer.Type != "BertPreTokenizer" {
		return nil, errors.New("pre_tokenizer must be BertPreTokenizer")
	}
	flags := normFlags{clean: true, chinese: true, lower: true}
	if n := tj.Normalizer; n != nil {
		if n.Type != "BertNormalizer" {
			return nil, fmt.Errorf("normalizer type %q is not supported (only BertNormalizer)", n.Type)
		}
		setFlag(&flags.clean, n.CleanText)
		setFlag(&flags.chinese, n.HandleChineseChars)
		setFlag(&flags.lower, n.Lowercase)
		flags.stripAccents = flags.lower // strip_accents: null follows lowercase.
		setFlag(&flags.stripAccents, n.StripAccents)
	} else {
		flags = normFlags{}
	}
	if len(tj.Model.Vocab) == 0 {
		return nil, errors.New("model.vocab is empty")
	}
	size := 0
	for tok, id := range tj.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("model.vocab: token %q has negative id %d", tok, id)
		}
		size = max(size, int(id)+1)
	}
	for _, at := range tj.AddedTokens {
		size = max(size, at.ID+1)
	}
	tokens := make([]string, size)
	for tok, id := range tj.Model.Vocab {
		tokens[id] = tok
	}
	var added []addedToken
	for _, at := range tj.AddedTokens {
		if at.ID < 0 || at.Content == "" {
			return nil, fmt.Errorf("added_tokens: bad entry %q with id %d", at.Content, at.ID)
		}
		tokens[at.ID] = at.Content
		added = append(added, addedToken{content: at.Content, id: int32(at.ID)})
	}
	prefix := "##"
	if tj.Model.ContinuingSubwordPrefix != nil {
		prefix = *tj.Model.ContinuingSubwordPrefix
	}
	unk := tj.Model.UnkToken
	if unk == "" {
		unk = "[UNK]"
	}
	return build(tokens, added, prefix, unk, tj.Model.MaxInputCharsPerWord, flags)
}

func setFlag(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

// normFlags are BertNormalizer's options.
type normFlags struct {
	clean, chinese, stripAccents, lower bool
}

// FromVocabTxt reads a BERT vocab.txt (one token per line, the line number is its id) and
// uses BERT's BasicTokenizer: text cleaning, CJK splitting, punctuation splitting, and,
// when lowercase, lower-casing with accent stripping (the "uncased" models).
// [PAD], [UNK], [CLS], [SEP] and [MASK] must be in the vocabulary; they are matched verbatim
// in the text, as Hugging Face's BertTokenizerFast does.
func FromVocabTxt(path string, lowercase bool) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %w", err)
	}
	defer f.Close()
	var tokens []string
	seen := make(map[string]int)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		tok := strings.TrimRight(sc.Text(), "\r")
		line := len(tokens) + 1
		if tok == "" {
			return nil, fmt.Errorf("tokenize: %s:%d: empty token", path, line)
		}
		if prev, ok := seen[tok]; ok {
			return nil, fmt.Errorf("tokenize: %s:%d: token %q already on line %d", path, line, tok, prev)
		}
		seen[tok] = line
		tokens = append(tokens, tok)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenize: reading %s: %w", path, err)
	}
	var added []addedToken
	for _, s := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} {
		line, ok := seen[s]
		if !ok {
			return nil, fmt.Errorf("tokenize: %s: special token %s is missing", path, s)
		}
		added = append(added, addedToken{content: s, id: int32(line - 1)})
	}
	flags := normFlags{clean: true, chinese: true, lower: lowercase, stripAccents: lowercase}
	t, err := build(tokens, added, "##", "[UNK]", 100, flags)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %s: %w", path, err)
	}
	return t, nil
}

// FromDir loads the tokenizer of a model directory: tokenizer.json when present, else
// vocab.txt (lower-cased unless tokenizer_config.json says "do_lower_case": false).
func FromDir(dir string) (*Tokenizer, error) {
	tj := filepath.Join(dir, "tokenizer.json")
	if _, err := os.Stat(tj); err == nil {
		return FromTokenizerJSON(tj)
	}
	vt := filepath.Join(dir, "vocab.txt")
	if _, err := os.Stat(vt); err != nil {
		return nil, fmt.Errorf("tokenize: directory %s has neither tokenizer.json nor vocab.txt", dir)
	}
	lower := true
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	if content, err := os.ReadFile(cfgPath); err == nil {
		var cfg struct {
			DoLowerCase *bool `json:"do_lower_case"`
		}
		if err := json.Unmarshal(content, &cfg); err != nil {
			return nil, fmt.Errorf("tokenize: parsing %s: %w", cfgPath, err)
		}
		setFlag(&lower, cfg.DoLowerCase)
	}
	return FromVocabTxt(vt, lower)
}

// build assembles a Tokenizer from an id-ordered token list.
func build(tokens []string, added []addedToken, prefix, unkToken string, maxChars int, flags normFlags) (*Tokenizer, error) {
	if maxChars <= 0 {
		maxChars = 100
	}
	t := &Tokenizer{
		tokens:       tokens,
		vocab:        make(map[string]int32, len(tokens)),
		cont:         make(map[string]int32, len(tokens)/4),
		isCont:       make([]bool, len(tokens)),
		special:      make([]bool, len(tokens)),
		prefix:       prefix,
		maxChars:     maxChars,
		clean:        flags.clean,
		chinese:      flags.chinese,
		stripAccents: flags.stripAccents,
		lower:        flags.lower,
		added:        added,
	}
	for id, tok := range tokens {
		if tok == "" {
			continue
		}
		if prefix != "" && len(tok) > len(prefix) && strings.HasPrefix(tok, prefix) {
			rest := tok[len(prefix):]
			t.cont[rest] = int32(id)
			t.isCont[id] = true
			t.maxRunes = max(t.maxRunes, utf8.RuneCountInString(rest))
		}
		t.vocab[tok] = int32(id)
		t.maxRunes = max(t.maxRunes, utf8.RuneCountInString(tok))
	}
	if prefix == "" {
		t.cont = t.vocab
	}
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i].content) > len(t.added[j].content) })
	for _, a := range t.added {
		t.addedFirst[a.content[0]] = true
		t.special[a.id] = true
	}
	var ok bool
	for _, s := range []struct {
		dst  *int32
		name string
	}{{&t.unk, unkToken}, {&t.cls, "[CLS]"}, {&t.sep, "[SEP]"}, {&t.pad, "[PAD]"}, {&t.mask, "[MASK]"}} {
		if *s.dst, ok = t.vocab[s.name]; !ok {
			return nil, fmt.Errorf("special token %s is not in the vocabulary", s.name)
		}
	}
	return t, nil
}

// VocabSize returns the number of ids (the largest id + 1), the size of embedding tables.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// TokenID returns the id of a vocabulary entry ("##ing" for a continuation).
func (t *Tokenizer) TokenID(token string) (int32, bool) {
	id, ok := t.vocab[token]
	return id, ok
}

// Token returns the vocabulary entry of id, or "" when id is out of range.
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// IsContinuation reports whether id is a word continuation ("##…") piece; whole-word
// masking masks a word-initial piece together with the continuations that follow it.
func (t *Tokenizer) IsContinuation(id int32) bool {
	return id >= 0 && int(id) < len(t.isCont) && t.isCont[id]
}

// IsSpecial reports whether id is one of the added special tokens ([CLS], [SEP], [PAD],
// [MASK], [UNK]).
func (t *Tokenizer) IsSpecial(id int32) bool {
	return id >= 0 && int(id) < len(t.special) && t.special[id]
}

// CLS returns the id of [CLS], which starts every joined sequence.
func (t *Tokenizer) CLS() int32 { return t.cls }

// SEP returns the id of [SEP], which ends each segment of a joined sequence.
func (t *Tokenizer) SEP() int32 { return t.sep }

// PAD returns the id of [PAD], which fills sequences up to their batch length.
func (t *Tokenizer) PAD() int32 { return t.pad }

// MASK returns the id of [MASK], the masked-language-model replacement token.
func (t *Tokenizer) MASK() int32 { return t.mask }

// UNK returns the id of [UNK], given to words the vocabulary cannot spell.
func (t *Tokenizer) UNK() int32 { return t.unk }

// Decode turns ids back into text as Hugging Face's WordPiece decoder does (with
// skip_special_tokens=False): continuation pieces are glued to the previous piece, other
// pieces are separated by a space, and spaces before . ? ! , are removed. The result is
// the normalised text (lower-cased, accents stripped), not the original.
func (t *Tokenizer) Decode(ids []int32) string {
	var sb strings.Builder
	for i, id := range ids {
		tok := t.Token(id)
		if tok == "" {
			tok = t.tokens[t.unk]
		}
		if i > 0 {
			if t.IsContinuation(id) {
				tok = tok[len(t.prefix):]
			} else {
				tok = " " + tok
			}
		}
		sb.WriteString(cleanupDecoded(tok))
	}
	return sb.String()
}

// cleanupDecoded is tokenizers' decoder clean-up, applied to each decoded piece.
var cleanupDecoded = strings.NewReplacer(
	" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't", " 'm", "'m",
	" do not", " don't", " 's", "'s", " 've", "'ve", " 're", "'re").Replace

// SaveVocabTxt writes the vocabulary as a BERT vocab.txt (one token per line in id order),
// through a temporary file renamed into place.
func (t *Tokenizer) SaveVocabTxt(path string) error {
	var buf bytes.Buffer
	for id, tok := range t.tokens {
		if tok == "" || strings.ContainsAny(tok, "\n\r") {
			return fmt.Errorf("tokenize: writing %s: id %d has token %q, which vocab.txt cannot hold", path, id, tok)
		}
		buf.WriteString(tok)
		buf.WriteByte('\n')
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tokenize: writing %s: %w", path, err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("tokenize: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("tokenize: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("tokenize: writing %s: %w", path, err)
	}
	return nil
}
