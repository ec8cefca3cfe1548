package openqa

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"golang.org/x/text/unicode/norm"

	"github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/realm"
)

// BlockText is a block body as the reader sees it: its wordpieces with byte offsets into the
// body, grouped into BERT words (a word-initial piece and the "##" continuations after it), so
// that any span of pieces maps back to the exact original text.
type BlockText struct {
	// Body is the block's text.
	Body string
	// Pieces are Body's wordpieces with their byte ranges in Body.
	Pieces []tokenize.Piece
	// Words are the [start, end) piece ranges of Body's BERT words.
	Words [][2]int
	// keys are the per-word match keys (see answerKey) and key their concatenation.
	keys []string
	key  string
}

// NewBlockText tokenises body with tok and groups its pieces into words.
func NewBlockText(tok *tokenize.Tokenizer, body string) *BlockText {
	bt := &BlockText{Body: body, Pieces: tok.Tokenize(body)}
	for i, p := range bt.Pieces {
		if i == 0 || !tok.IsContinuation(p.ID) {
			bt.Words = append(bt.Words, [2]int{i, i + 1})
		} else {
			bt.Words[len(bt.Words)-1][1] = i + 1
		}
	}
	var all strings.Builder
	bt.keys = make([]string, len(bt.Words))
	for w, r := range bt.Words {
		bt.keys[w] = answerKey(bt.SpanText(r[0], r[1]-1))
		all.WriteString(bt.keys[w])
	}
	bt.key = all.String()
	return bt
}

// SpanText is the original text of pieces i…j (inclusive): Body[Pieces[i].Start:Pieces[j].End].
func (bt *BlockText) SpanText(i, j int) string {
	return bt.Body[bt.Pieces[i].Start:bt.Pieces[j].End]
}

// answerKey is a cheap necessary condition for qa.Normalize matches: the lower-cased letters and
// digits of s (after NFD, as Normalize) with the articles a/an/the (as whole words) left out. If
// Normalize(span) equals Normalize(answer) then the keys are equal, except for texts where
// removing punctuation glues an article to a neighbouring word ("a-b"), which no answer of the
// data sets we use contains.
func answerKey(s string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(strings.ToLower(norm.NFD.String(s)), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if w != "a" && w != "an" && w != "the" {
			b.WriteString(w)
		}
	}
	return b.String()
}

// normAnswer is an answer prepared for matching.
type normAnswer struct{ norm, key string }

func prepareAnswers(answers []string) []normAnswer {
	var out []normAnswer
	for _, a := range answers {
		if n := qa.Normalize(a); n != "" {
			out = append(out, normAnswer{norm: n, key: answerKey(a)})
		}
	}
	return out
}

// AnswerPieces tokenises each answer with tok twice, as it is and after qa.Normalize (which drops
// articles and punctuation, so "The Bahamas" also finds "Bahamas"), and returns the distinct
// non-empty wordpiece sequences: the gold-span patterns of AnswerSpans.
func AnswerPieces(tok *tokenize.Tokenizer, answers []string) [][]int32 {
	var out [][]int32
	for _, a := range answers {
		for _, s := range []string{a, qa.Normalize(a)} {
			ps := tok.Tokenize(s)
			if len(ps) == 0 {
				continue
			}
			ids := make([]int32, len(ps))
			for i, p := range ps {
				ids[i] = p.ID
			}
			if !slices.ContainsFunc(out, func(o []int32) bool { return slices.Equal(o, ids) }) {
				out = append(out, ids)
			}
		}
	}
	return out
}

// AnswerSpans returns the reader's gold spans of the block the way ORQA (and transformers'
// RealmRetriever.block_has_answer) find them: every occurrence in the block's wordpieces of an
// answer's wordpieces (AnswerPieces), as inclusive piece ranges in order of start and then end.
// With wholeWords an occurrence must cover whole words (a candidate span of a whole-word
// reader), so "ka" never matches the start of "ka ##bul"; without it every occurrence counts,
// as in ORQA. Unlike MatchSpans, punctuation next to the answer is not part of a
// gold span: the reader learns to pick "Baku", not ": Baku (", which normalises to the same
// text. maxPieces > 0 keeps only spans of at most that many pieces; limit > 0 only spans inside
// the first limit pieces.
func (bt *BlockText) AnswerSpans(answers [][]int32, maxPieces, limit int, wholeWords bool) [][2]int {
	n := len(bt.Pieces)
	if limit > 0 {
		n = min(n, limit)
	}
	starts, ends := make([]bool, len(bt.Pieces)+1), make([]bool, len(bt.Pieces)+1)
	for _, w := range bt.Words {
		starts[w[0]], ends[w[1]-1] = true, true
	}
	if !wholeWords {
		for i := range starts {
			starts[i], ends[i] = true, true
		}
	}
	var out [][2]int
	for i := range n {
		if !starts[i] {
			continue
		}
		for _, a := range answers {
			j := i + len(a) - 1
			if len(a) == 0 || j >= n || !ends[j] || (maxPieces > 0 && len(a) > maxPieces) {
				continue
			}
			match := true
			for t, id := range a {
				if bt.Pieces[i+t].ID != id {
					match = false
					break
				}
			}
			if match && !slices.Contains(out, [2]int{i, j}) {
				out = append(out, [2]int{i, j})
			}
		}
	}
	qaSortSpans(out)
	return out
}

// TrimSpan drops the words made only of punctuation from both ends of the span (i, j) of
// pieces, keeping at least one piece: ": Baku (" becomes "Baku". Exact match is unchanged (SQuAD
// normalisation removes punctuation); the answer reads as one.
func (bt *BlockText) TrimSpan(i, j int) (int, int) {
	punct := func(k int) bool {
		t := bt.SpanText(k, k)
		return t != "" && strings.IndexFunc(t, func(r rune) bool { return !unicode.IsPunct(r) && !unicode.IsSymbol(r) }) < 0
	}
	for i < j && punct(i) {
		i++
	}
	for j > i && punct(j) {
		j--
	}
	return i, j
}

// qaSortSpans sorts spans by start, then end.
func qaSortSpans(s [][2]int) {
	slices.SortFunc(s, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	})
}

// MatchSpans returns S(z,y): every span of whole words of the block, given as inclusive piece
// ranges (i, j), whose original text equals one of answers after SQuAD normalisation
// (qa.Normalize: lower case, punctuation and articles removed). Spans that start or end inside
// a word are never answers; a word split into several wordpieces ("Kabul" → ka ##bul) is matched
// as a whole. maxPieces > 0 keeps only spans of at most that many pieces; limit > 0 only spans
// inside the first limit pieces (the part of the body the reader sees).
func (bt *BlockText) MatchSpans(answers []string, maxPieces, limit int) [][2]int {
	return bt.matchSpans(prepareAnswers(answers), maxPieces, limit, false)
}

// ContainsAnswer reports whether some span of whole words of the block matches one of answers
// after SQuAD normalisation: the "block contains an answer string" test of retrieval recall and
// of the retriever's positives.
func (bt *BlockText) ContainsAnswer(answers []string) bool {
	return len(bt.matchSpans(prepareAnswers(answers), 0, 0, true)) > 0
}

func (bt *BlockText) matchSpans(answers []normAnswer, maxPieces, limit int, first bool) [][2]int {
	var out [][2]int
	for _, a := range answers {
		if !strings.Contains(bt.key, a.key) {
			continue // no span of the block can normalise to the answer.
		}
		for i := range bt.Words {
			n := 0
			for j := i; j < len(bt.Words); j++ {
				n += len(bt.keys[j])
				if n > len(a.key) {
					break
				}
				ps, pe := bt.Words[i][0], bt.Words[j][1]-1
				if (maxPieces > 0 && pe-ps+1 > maxPieces) || (limit > 0 && pe >= limit) {
					break
				}
				if n < len(a.key) || strings.Join(bt.keys[i:j+1], "") != a.key {
					continue
				}
				if qa.Normalize(bt.SpanText(ps, pe)) == a.norm {
					out = append(out, [2]int{ps, pe})
					if first {
						return out
					}
				}
			}
		}
	}
	return out
}

// CandidateSpans lists the reader's candidate spans of the block: every span of at most
// maxPieces wordpieces inside the first limit pieces (ORQA's and REALM's candidates) or, with
// wholeWords, only the spans of whole words among them (spans cut inside a word cannot equal an
// answer under SQuAD normalisation at word boundaries), as inclusive piece ranges in order of
// start and then end.
func (bt *BlockText) CandidateSpans(maxPieces, limit int, wholeWords bool) [][2]int {
	var out [][2]int
	if !wholeWords {
		for i := range min(limit, len(bt.Pieces)) {
			for j := i; j < min(limit, len(bt.Pieces)) && j-i+1 <= maxPieces; j++ {
				out = append(out, [2]int{i, j})
			}
		}
		return out
	}
	for i, w := range bt.Words {
		if w[0] >= limit {
			break
		}
		for j := i; j < len(bt.Words); j++ {
			pe := bt.Words[j][1] - 1
			if pe >= limit || pe-w[0]+1 > maxPieces {
				break
			}
			out = append(out, [2]int{w[0], pe})
		}
	}
	return out
}

// MaxSpans is the number of wordpiece spans of at most width pieces in a body of n pieces, a
// bound on the number of whole-word spans.
func MaxSpans(n, width int) int {
	s := 0
	for w := 1; w <= min(width, n); w++ {
		s += n - w + 1
	}
	return s
}

// blockTexts caches the BlockText of each block of a corpus (built on first use).
type blockTexts struct {
	c  *realm.Corpus
	mu sync.Mutex
	m  map[int64]*BlockText
}

func newBlockTexts(c *realm.Corpus) *blockTexts { return &blockTexts{c: c, m: map[int64]*BlockText{}} }

func (t *blockTexts) get(id int64) (*BlockText, error) {
	t.mu.Lock()
	bt, ok := t.m[id]
	t.mu.Unlock()
	if ok {
		return bt, nil
	}
	b, err := t.c.Block(id)
	if err != nil {
		return nil, err
	}
	bt = NewBlockText(t.c.Tok, b.Body)
	t.mu.Lock()
	t.m[id] = bt
	t.mu.Unlock()
	return bt, nil
}

// readerBatch is the host side of a reader batch: B questions × K blocks, each joined as
// [CLS] question [SEP] body [SEP] in R positions, and NS candidate spans per block, as flat
// row-major slices of fixed shapes so every call runs the same graph.
type readerBatch struct {
	B, K, R, NS    int
	IDs, Types     []int32      // [B, K, R]
	Mask           []bool       // [B, K, R]
	Starts, Ends   []int32      // [B, K, NS]: positions in the joined input.
	SpanMask, Gold []bool       // [B, K, NS]
	Prior          []float32    // [B, K] f(x,z) added to the span scores (0: uniform p(z|x)).
	blocks         []int64      // [B, K] block ids, -1 for padding.
	spans          [][][2]int   // [B·K] candidate spans as piece ranges of the block body.
	texts          []*BlockText // [B·K]
	bodyStart      []int        // [B·K] position of the body's first piece in the joined input.
	wholeWords     bool         // candidates are whole-word spans only (ReaderConfig.WholeWords).
}

func newReaderBatch(B, K, R, NS int, wholeWords bool) *readerBatch {
	return &readerBatch{B: B, K: K, R: R, NS: NS, wholeWords: wholeWords,
		IDs: make([]int32, B*K*R), Types: make([]int32, B*K*R), Mask: make([]bool, B*K*R),
		Starts: make([]int32, B*K*NS), Ends: make([]int32, B*K*NS),
		SpanMask: make([]bool, B*K*NS), Gold: make([]bool, B*K*NS), Prior: make([]float32, B*K),
		blocks: make([]int64, B*K), spans: make([][][2]int, B*K), texts: make([]*BlockText, B*K),
		bodyStart: make([]int, B*K),
	}
}

// set featurises block k of question b: [CLS] question[:QueryLen−2] [SEP] body [SEP] with token
// types 0 then 1 (REALM's join), the body cut to fit R, its candidate spans of at most maxWidth
// pieces (in the first maxBody pieces of the body; whole-word ones only with rb.wholeWords),
// and which of them are gold:
// the spans matching answers (MatchSpans) or, when pieces is not nil, the occurrences of those
// wordpiece sequences (AnswerSpans). It reports whether the block has a gold span.
func (rb *readerBatch) set(b, k int, sp realm.Special, question []int32, id int64, bt *BlockText, maxWidth, maxBody int, answers []normAnswer, pieces [][]int32) (bool, error) {
	i := b*rb.K + k
	R, NS := rb.R, rb.NS
	w := realm.SeqWriter{IDs: rb.IDs[i*R : (i+1)*R], Types: rb.Types[i*R : (i+1)*R], Mask: rb.Mask[i*R : (i+1)*R]}
	w.Put(sp.CLS, 0)
	w.PutAll(question, 0)
	w.Put(sp.SEP, 0)
	start := w.N
	limit := min(len(bt.Pieces), R-1-start, maxBody)
	for _, p := range bt.Pieces[:limit] {
		w.Put(p.ID, 1)
	}
	w.Put(sp.SEP, 1)
	w.Pad(sp.PAD)
	spans := bt.CandidateSpans(maxWidth, limit, rb.wholeWords)
	if len(spans) > NS {
		return false, fmt.Errorf("realm reader: block %d has %d candidate spans, more than the %d slots", id, len(spans), NS)
	}
	rb.blocks[i], rb.spans[i], rb.texts[i], rb.bodyStart[i] = id, spans, bt, start
	gold := map[[2]int]bool{}
	switch {
	case pieces != nil:
		for _, s := range bt.AnswerSpans(pieces, maxWidth, limit, rb.wholeWords) {
			gold[s] = true
		}
	case answers != nil:
		for _, s := range bt.matchSpans(answers, maxWidth, limit, false) {
			gold[s] = true
		}
	}
	hasGold := false
	for s := range NS {
		o := i*NS + s
		rb.Starts[o], rb.Ends[o], rb.SpanMask[o], rb.Gold[o] = 0, 0, false, false
		if s < len(spans) {
			rb.Starts[o], rb.Ends[o] = int32(start+spans[s][0]), int32(start+spans[s][1])
			rb.SpanMask[o] = true
			rb.Gold[o] = gold[spans[s]]
			hasGold = hasGold || rb.Gold[o]
		}
	}
	return hasGold, nil
}

// clear makes block k of question b an empty padding block with no candidate span.
func (rb *readerBatch) clear(b, k int, sp realm.Special) {
	i := b*rb.K + k
	R, NS := rb.R, rb.NS
	w := realm.SeqWriter{IDs: rb.IDs[i*R : (i+1)*R], Types: rb.Types[i*R : (i+1)*R], Mask: rb.Mask[i*R : (i+1)*R]}
	w.Put(sp.CLS, 0)
	w.Put(sp.SEP, 0)
	w.Pad(sp.PAD)
	for s := range NS {
		o := i*NS + s
		rb.Starts[o], rb.Ends[o], rb.SpanMask[o], rb.Gold[o] = 0, 0, false, false
	}
	rb.blocks[i], rb.spans[i], rb.texts[i], rb.bodyStart[i] = -1, nil, nil, 0
	rb.Prior[i] = 0
}

// tensors returns ids, types, mask [B,K,R], starts, ends, span mask, gold [B,K,NS] and the
// prior logits [B,K].
// readerInputs names the graph inputs of the reader (readerBatch.tensors, in its order), and
// in fine-tuning with a dense retriever the five that follow (retrieverTensors).
type readerInputs struct {
	// IDs, Types, Mask: [CLS] x [SEP] z_body [SEP] of each block read, [B, K, R].
	IDs, Types, Mask *graph.Node
	// Starts, Ends, SpanMask: the candidate spans' wordpiece positions and which are real;
	// Gold: which are correct answers, [B, K, NS].
	Starts, Ends, SpanMask, Gold *graph.Node
	// Prior is what the reader adds for the retrieval, f(x,z) or 0, [B, K].
	Prior *graph.Node
	// QueryIDs, QueryTypes, QueryMask: [CLS] x [SEP], [B, Q]; DocVecs the fixed embeddings
	// Embed_doc(z) of the retriever's beam [B, Kw, d]; Positives which of those blocks hold an
	// answer [B, Kw]. Nil without a dense retriever.
	QueryIDs, QueryTypes, QueryMask, DocVecs, Positives *graph.Node
}

// readerInputsFromNodes names in (8 inputs, or 13 with the retriever's); it panics otherwise.
func readerInputsFromNodes(in []*graph.Node) readerInputs {
	if len(in) != 8 && len(in) != 13 {
		panic(fmt.Sprintf("realm qa: the reader has 8 or 13 graph inputs, got %d", len(in)))
	}
	r := readerInputs{IDs: in[0], Types: in[1], Mask: in[2], Starts: in[3], Ends: in[4], SpanMask: in[5], Gold: in[6], Prior: in[7]}
	if len(in) == 13 {
		r.QueryIDs, r.QueryTypes, r.QueryMask, r.DocVecs, r.Positives = in[8], in[9], in[10], in[11], in[12]
	}
	return r
}

// retrieverTensors are the inputs that follow readerBatch.tensors when fine-tuning trains a
// dense retriever's query tower (see readerInputs).
func retrieverTensors(qIDs, qTypes []int32, qMask []bool, vecs []float32, pos []bool, B, Q, Kw, d int) []*tensors.Tensor {
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(qIDs, B, Q), tensors.FromFlatDataAndDimensions(qTypes, B, Q),
		tensors.FromFlatDataAndDimensions(qMask, B, Q), tensors.FromFlatDataAndDimensions(vecs, B, Kw, d),
		tensors.FromFlatDataAndDimensions(pos, B, Kw),
	}
}

func (rb *readerBatch) tensors() []*tensors.Tensor {
	B, K, R, NS := rb.B, rb.K, rb.R, rb.NS
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(rb.IDs, B, K, R),
		tensors.FromFlatDataAndDimensions(rb.Types, B, K, R),
		tensors.FromFlatDataAndDimensions(rb.Mask, B, K, R),
		tensors.FromFlatDataAndDimensions(rb.Starts, B, K, NS),
		tensors.FromFlatDataAndDimensions(rb.Ends, B, K, NS),
		tensors.FromFlatDataAndDimensions(rb.SpanMask, B, K, NS),
		tensors.FromFlatDataAndDimensions(rb.Gold, B, K, NS),
		tensors.FromFlatDataAndDimensions(rb.Prior, B, K),
	}
}
