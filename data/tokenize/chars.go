package tokenize

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Character classes of BERT's BasicTokenizer, as implemented by Hugging Face tokenizers'
// BertNormalizer (clean text, CJK spacing, NFD accent stripping, lower-casing) and
// BertPreTokenizer (split on whitespace, punctuation is a word of its own).
const (
	classWord  uint8 = iota // joins the current word
	classDrop               // removed by clean text (NUL, U+FFFD, controls, format, unassigned)
	classSpace              // whitespace: ends the current word
	classPunct              // punctuation: a word of its own
	classCJK                // CJK ideograph: a word of its own
)

// asciiClass holds the class of every ASCII character when text cleaning is on.
var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for r := rune(0); r < utf8.RuneSelf; r++ {
		t[r] = classOf(r, true)
	}
	return t
}()

// classOf classifies one character of the original text; clean selects BertNormalizer's
// clean_text (controls removed before whitespace is mapped to a space).
func classOf(r rune, clean bool) uint8 {
	if clean && (r == 0 || r == utf8.RuneError || isControl(r)) {
		return classDrop
	}
	if isWhitespace(r) {
		return classSpace
	}
	if isCJK(r) {
		return classCJK
	}
	if isPunctuation(r) {
		return classPunct
	}
	return classWord
}

// isWhitespace is Rust's char::is_whitespace (the Unicode White_Space property), which
// tokenizers uses; tab, newline and carriage return count as whitespace.
func isWhitespace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// isControl is tokenizers' is_control: the "Other" categories Cc, Cf and Co (unassigned
// code points are kept), except tab, newline and carriage return, which are whitespace.
func isControl(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return false
	}
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7F
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co) && !unicode.Is(hfUnknown, r)
}

// isPunctuation is BERT's _is_punctuation: ASCII symbols and punctuation, plus every
// character of a Unicode P* category.
func isPunctuation(r rune) bool {
	if r < utf8.RuneSelf {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return (unicode.IsPunct(r) && !unicode.Is(hfUnknown, r)) || hfExtraPunct(r)
}

// isCJK reports whether r is in the CJK Unified Ideographs blocks that BERT surrounds with
// spaces (the ranges are those of tokenizers' is_chinese_char).
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// appendNormalized appends the normalised form of a word character r to dst: NFD with
// non-spacing marks (Mn) removed when stripAccents, then lower-cased when lower.
func appendNormalized(dst []rune, r rune, lower, stripAccents bool) []rune {
	if r < utf8.RuneSelf {
		if lower && 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return append(dst, r)
	}
	if !stripAccents || r < 0xC0 || r == 0x11938 { // tokenizers does not decompose U+11938.
		return appendLower(dst, r, lower)
	}
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	var out [4 * utf8.UTFMax]byte
	d := norm.NFD.Append(out[:0], buf[:n]...)
	for len(d) > 0 {
		c, size := utf8.DecodeRune(d)
		d = d[size:]
		if (unicode.Is(unicode.Mn, c) && !unicode.Is(hfUnknown, c)) || hfExtraMn(c) {
			continue
		}
		dst = appendLower(dst, c, lower)
	}
	return dst
}

// appendLower appends Rust's char::to_lowercase(r) (when lower) or r itself.
func appendLower(dst []rune, r rune, lower bool) []rune {
	if !lower {
		return append(dst, r)
	}
	if r == 0x130 { // İ lower-cases to i + combining dot above.
		return append(dst, 'i', 0x307)
	}
	if l, ok := hfLower[r]; ok {
		return append(dst, l)
	}
	return append(dst, unicode.ToLower(r))
}
