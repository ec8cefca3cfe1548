package tokenize

import (
	"strings"
	"unicode/utf8"
)

// wordState accumulates one pre-tokenised word: its normalised characters and, for each,
// the byte range of the original character it came from.
type wordState struct {
	runes []rune
	orig  []int // 2 per rune: original start, end
	buf   []byte
	pos   []int
}

func (w *wordState) add(r rune, start, end int) {
	w.runes = append(w.runes, r)
	w.orig = append(w.orig, start, end)
}

// IDs returns the ids of text's WordPiece pieces (Tokenize without the offsets).
func (t *Tokenizer) IDs(text string) []int32 {
	ps := t.Tokenize(text)
	ids := make([]int32, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// Tokenize splits text into WordPiece pieces, without adding special tokens. Each piece
// carries the byte range of the original text it covers. Empty or blank text gives no
// pieces. As in Hugging Face tokenizers, the special tokens' literal spellings in the text
// ("[MASK]", "[SEP]", … exactly, case-sensitive) are recognised and give their ids.
func (t *Tokenizer) Tokenize(text string) []Piece {
	pieces := make([]Piece, 0, len(text)/4+1)
	w := &wordState{}
	var norm []rune
	for i := 0; i < len(text); {
		c := text[i]
		if t.addedFirst[c] {
			if id, n := t.matchAdded(text[i:]); n > 0 {
				pieces = t.flush(pieces, w)
				pieces = append(pieces, Piece{ID: id, Start: i, End: i + n})
				i += n
				continue
			}
		}
		var (
			r     rune
			size  = 1
			class uint8
		)
		if c < utf8.RuneSelf {
			r = rune(c)
			if t.clean {
				class = asciiClass[c]
			} else {
				class = classOf(r, false)
			}
		} else {
			r, size = utf8.DecodeRuneInString(text[i:])
			class = classOf(r, t.clean)
		}
		start, end := i, i+size
		i = end
		switch class {
		case classDrop:
		case classSpace:
			pieces = t.flush(pieces, w)
		case classWord:
			if c < utf8.RuneSelf {
				if t.lower && 'A' <= r && r <= 'Z' {
					r += 'a' - 'A'
				}
				w.add(r, start, end)
				continue
			}
			norm = appendNormalized(norm[:0], r, t.lower, t.stripAccents)
			for _, nr := range norm {
				switch {
				case isWhitespace(nr):
					pieces = t.flush(pieces, w)
				case isPunctuation(nr):
					pieces = t.flush(pieces, w)
					w.add(nr, start, end)
					pieces = t.flush(pieces, w)
				default:
					w.add(nr, start, end)
				}
			}
		case classCJK:
			if !t.chinese {
				norm = appendNormalized(norm[:0], r, t.lower, t.stripAccents)
				for _, nr := range norm {
					w.add(nr, start, end)
				}
				continue
			}
			fallthrough
		default: // classPunct, or a separated CJK character: a word of its own.
			pieces = t.flush(pieces, w)
			norm = appendNormalized(norm[:0], r, t.lower, t.stripAccents)
			for _, nr := range norm {
				w.add(nr, start, end)
			}
			pieces = t.flush(pieces, w)
		}
	}
	return t.flush(pieces, w)
}

// matchAdded returns the id and byte length of the longest added token that text starts
// with, or length 0.
func (t *Tokenizer) matchAdded(text string) (int32, int) {
	for _, a := range t.added {
		if strings.HasPrefix(text, a.content) {
			return a.id, len(a.content)
		}
	}
	return 0, 0
}

// flush runs WordPiece on the accumulated word, appends its pieces and resets the word.
func (t *Tokenizer) flush(pieces []Piece, w *wordState) []Piece {
	n := len(w.runes)
	if n == 0 {
		return pieces
	}
	defer func() {
		w.runes = w.runes[:0]
		w.orig = w.orig[:0]
	}()
	wordStart, wordEnd := w.orig[0], w.orig[2*n-1]
	if n > t.maxChars {
		return append(pieces, Piece{ID: t.unk, Start: wordStart, End: wordEnd})
	}
	w.buf = w.buf[:0]
	w.pos = w.pos[:0]
	for _, r := range w.runes {
		w.pos = append(w.pos, len(w.buf))
		w.buf = utf8.AppendRune(w.buf, r)
	}
	w.pos = append(w.pos, len(w.buf))
	first := len(pieces)
	for start := 0; start < n; {
		end := min(n, start+t.maxRunes)
		found := false
		for ; end > start; end-- {
			var (
				id int32
				ok bool
			)
			if start == 0 {
				id, ok = t.vocab[string(w.buf[w.pos[start]:w.pos[end]])]
			} else {
				id, ok = t.cont[string(w.buf[w.pos[start]:w.pos[end]])]
			}
			if ok {
				pieces = append(pieces, Piece{ID: id, Start: w.orig[2*start], End: w.orig[2*end-1]})
				found = true
				break
			}
		}
		if !found {
			return append(pieces[:first], Piece{ID: t.unk, Start: wordStart, End: wordEnd})
		}
		start = end
	}
	return pieces
}
