package openqa

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/internal/realmtest"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm"
)

// spanTexts returns the texts of spans of bt.
func qaSpanTexts(bt *BlockText, spans [][2]int) []string {
	var out []string
	for _, s := range spans {
		out = append(out, bt.SpanText(s[0], s[1]))
	}
	return out
}

func TestMatchSpans(t *testing.T) {
	tok := realmtest.Tokenizer(t)
	body := "Oranjestad is the capital; the Oranjestads are not. Ceru Jamanota rises in the U.S. Virgin Islands."
	bt := NewBlockText(tok, body)
	// Oranjestad is split by WordPiece (or ##an ##je ##stad): the answer must match the whole word.
	if n := bt.Words[0][1] - bt.Words[0][0]; n < 2 {
		t.Fatalf("test premise: %q should be several wordpieces, got %d", "Oranjestad", n)
	}
	for _, tc := range []struct {
		answers []string
		want    []string // texts of the matching spans, in order of start then end.
	}{
		// A split word matches as a whole; the plural "Oranjestads" (same pieces + ##s) does not,
		// nor does a span ending inside it; spans that add only punctuation or articles match.
		{[]string{"Oranjestad"}, []string{"Oranjestad"}},
		{[]string{"the capital"}, []string{"the capital", "the capital;", "capital", "capital;"}},
		// Articles and punctuation in the answer are normalised away.
		{[]string{"The  Ceru-Jamanota"}, nil}, // "cerujamanota" ≠ "ceru jamanota": punctuation is deleted, not spaced.
		{[]string{"ceru jamanota!"}, []string{"Ceru Jamanota"}},
		{[]string{"US Virgin Islands"}, []string{"U.S. Virgin Islands", "U.S. Virgin Islands."}},
		// Alternatives: any answer may match.
		{[]string{"nowhere", "Virgin"}, []string{"Virgin"}},
		{[]string{"Kabul"}, nil},
	} {
		got := qaSpanTexts(bt, bt.MatchSpans(tc.answers, 0, 0))
		// Each match must equal an answer under SQuAD normalisation (the definition of S(z,y)).
		for _, g := range got {
			if !qa.ExactMatch(g, tc.answers) {
				t.Errorf("answers %q: span %q does not match under qa.Normalize", tc.answers, g)
			}
		}
		// (Spans that add a trailing article, "capital; the", also normalise equal.)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("answers %q: span %q not found among %q", tc.answers, w, got)
			}
		}
		if tc.want == nil && len(got) > 0 {
			t.Errorf("answers %q: unexpected matches %q", tc.answers, got)
		}
		if bt.ContainsAnswer(tc.answers) != (len(got) > 0) {
			t.Errorf("answers %q: ContainsAnswer disagrees with MatchSpans %q", tc.answers, got)
		}
	}
	// Brute force: MatchSpans finds exactly the whole-word spans whose text normalises to the answer.
	answers := []string{"the U.S.", "capital", "Oranjestad"}
	got := bt.MatchSpans(answers, 0, 0)
	var want [][2]int
	for i := range bt.Words {
		for j := i; j < len(bt.Words); j++ {
			s := [2]int{bt.Words[i][0], bt.Words[j][1] - 1}
			if qa.ExactMatch(bt.SpanText(s[0], s[1]), answers) {
				want = append(want, s)
			}
		}
	}
	qaSortSpans(got)
	qaSortSpans(want)
	if !slices.Equal(got, want) {
		t.Errorf("MatchSpans %v, brute force over whole-word spans %v", qaSpanTexts(bt, got), qaSpanTexts(bt, want))
	}
	// Width and body limits.
	for _, s := range bt.MatchSpans([]string{"US Virgin Islands"}, 5, 0) {
		if s[1]-s[0]+1 > 5 {
			t.Errorf("span %v wider than 5 pieces", s)
		}
	}
	if len(bt.MatchSpans([]string{"Virgin"}, 0, 10)) != 0 {
		t.Error("a span beyond the first 10 pieces matched with limit 10")
	}
}

// TestAnswerSpans checks the reader's gold spans: every whole-word occurrence of an answer's
// wordpieces (as given or normalised), without the punctuation that SQuAD normalisation would
// also accept, against a brute force over the reader's candidate spans.
func TestAnswerSpans(t *testing.T) {
	tok := realmtest.Tokenizer(t)
	body := "Capital: Baku (Baki); the Bahamas, not Bakunin. Oranjestad lies west of the U.S. Virgin Islands; Baku."
	bt := NewBlockText(tok, body)
	for _, tc := range []struct {
		answers []string
		want    []string // gold span texts in order.
	}{
		{[]string{"Baku"}, []string{"Baku", "Baku"}}, // not ": Baku (", not the start of "Bakunin".
		{[]string{"Baki", "Baky"}, []string{"Baki"}},
		{[]string{"The Bahamas"}, []string{"the Bahamas", "Bahamas"}}, // normalised: "bahamas" too.
		{[]string{"Oranjestad"}, []string{"Oranjestad"}},              // several pieces, one word.
		{[]string{"U.S. Virgin Islands"}, []string{"U.S. Virgin Islands"}},
		{[]string{"oranje"}, nil}, // a piece prefix of a word is no answer.
		{[]string{"Kabul"}, nil},
	} {
		pieces := AnswerPieces(tok, tc.answers)
		spans := bt.AnswerSpans(pieces, 0, 0, true)
		got := qaSpanTexts(bt, spans)
		if !slices.Equal(got, tc.want) {
			t.Errorf("answers %q: gold spans %q, want %q", tc.answers, got, tc.want)
		}
		for _, g := range got {
			if !qa.ExactMatch(g, tc.answers) {
				t.Errorf("answers %q: gold span %q is not an exact match", tc.answers, g)
			}
		}
		// Brute force over every whole-word candidate span.
		var want [][2]int
		for _, c := range bt.CandidateSpans(len(bt.Pieces), len(bt.Pieces), true) {
			ids := make([]int32, 0, c[1]-c[0]+1)
			for _, p := range bt.Pieces[c[0] : c[1]+1] {
				ids = append(ids, p.ID)
			}
			if slices.ContainsFunc(pieces, func(a []int32) bool { return slices.Equal(a, ids) }) {
				want = append(want, c)
			}
		}
		if !slices.Equal(spans, want) {
			t.Errorf("answers %q: AnswerSpans %v, brute force %v", tc.answers, spans, want)
		}
	}
	// Width and body limits.
	if s := bt.AnswerSpans(AnswerPieces(tok, []string{"U.S. Virgin Islands"}), 3, 0, true); len(s) != 0 {
		t.Errorf("a %d-piece span kept with maxPieces 3", s[0][1]-s[0][0]+1)
	}
	if s := bt.AnswerSpans(AnswerPieces(tok, []string{"Baku"}), 0, 6, true); len(s) != 1 {
		t.Errorf("limit 6 pieces: %d gold spans, want the first Baku only", len(s))
	}
}

// TestTrimSpan checks that an answer span loses the punctuation words at its ends, and only
// those, and stays an exact match.
func TestTrimSpan(t *testing.T) {
	tok := realmtest.Tokenizer(t)
	bt := NewBlockText(tok, "Capital: Baku (Baki); U.S. Virgin Islands.")
	find := func(text string) [2]int {
		for _, c := range bt.CandidateSpans(len(bt.Pieces), len(bt.Pieces), true) {
			if bt.SpanText(c[0], c[1]) == text {
				return c
			}
		}
		t.Fatalf("no span %q", text)
		return [2]int{}
	}
	for span, want := range map[string]string{
		": Baku (": "Baku", "Baku": "Baku", "(Baki);": "Baki", "U.S. Virgin Islands.": "U.S. Virgin Islands", ":": ":",
	} {
		s := find(span)
		i, j := bt.TrimSpan(s[0], s[1])
		if got := bt.SpanText(i, j); got != want {
			t.Errorf("TrimSpan(%q) = %q, want %q", span, got, want)
		}
		if !qa.ExactMatch(bt.SpanText(i, j), []string{span}) && span != ":" {
			t.Errorf("TrimSpan(%q) changed the exact-match answer", span)
		}
	}
}

func TestCandidateSpans(t *testing.T) {
	tok := realmtest.Tokenizer(t)
	bt := NewBlockText(tok, "Oranjestad, capital of Aruba, lies on the southern coast.")
	const width = 4
	spans := bt.CandidateSpans(width, len(bt.Pieces), true)
	if len(spans) == 0 || len(spans) > MaxSpans(len(bt.Pieces), width) {
		t.Fatalf("%d spans, bound %d", len(spans), MaxSpans(len(bt.Pieces), width))
	}
	starts, ends := map[int]bool{}, map[int]bool{}
	for _, w := range bt.Words {
		starts[w[0]], ends[w[1]-1] = true, true
	}
	seen := map[[2]int]bool{}
	for _, s := range spans {
		if !starts[s[0]] || !ends[s[1]] || s[1] < s[0] || s[1]-s[0]+1 > width || seen[s] {
			t.Errorf("bad candidate span %v %q", s, bt.SpanText(s[0], s[1]))
		}
		seen[s] = true
	}
	// Every whole-word span of ≤ width pieces is a candidate.
	for i := range bt.Words {
		for j := i; j < len(bt.Words); j++ {
			s := [2]int{bt.Words[i][0], bt.Words[j][1] - 1}
			if s[1]-s[0]+1 <= width && !seen[s] {
				t.Errorf("missing candidate %q", bt.SpanText(s[0], s[1]))
			}
		}
	}
	if MaxSpans(5, 10) != 15 || MaxSpans(20, 3) != 20+19+18 {
		t.Errorf("MaxSpans(5,10)=%d MaxSpans(20,3)=%d", MaxSpans(5, 10), MaxSpans(20, 3))
	}
}

// TestReaderFeatures checks the joined input and that span positions point at the body pieces.
func TestReaderFeatures(t *testing.T) {
	tok := realmtest.Tokenizer(t)
	sp := realm.SpecialTokens(tok)
	bt := NewBlockText(tok, "The capital of Aruba is Oranjestad.")
	x := questionPieces(tok, "What is the capital of Aruba?", 8)
	const R, NS = 24, 60
	rb := newReaderBatch(1, 2, R, NS, true)
	hasGold, err := rb.set(0, 0, sp, x, 7, bt, 10, 100, prepareAnswers([]string{"Oranjestad"}), nil)
	if err != nil || !hasGold {
		t.Fatalf("set: gold %v, %v", hasGold, err)
	}
	rb.clear(0, 1, sp)
	if rb.IDs[0] != sp.CLS || rb.IDs[len(x)+1] != sp.SEP || rb.Types[len(x)+2] != 1 {
		t.Fatalf("joined input %v types %v", rb.IDs[:R], rb.Types[:R])
	}
	nGold := 0
	for s := range NS {
		if !rb.SpanMask[s] {
			continue
		}
		sp := rb.spans[0][s]
		st, en := int(rb.Starts[s]), int(rb.Ends[s])
		if rb.IDs[st] != bt.Pieces[sp[0]].ID || rb.IDs[en] != bt.Pieces[sp[1]].ID || rb.Types[st] != 1 {
			t.Errorf("span %d: positions %d–%d do not hold pieces %v", s, st, en, sp)
		}
		if rb.Gold[s] {
			nGold++
			if !qa.ExactMatch(bt.SpanText(sp[0], sp[1]), []string{"Oranjestad"}) {
				t.Errorf("gold span %q", bt.SpanText(sp[0], sp[1]))
			}
		}
	}
	if nGold != 2 { // "Oranjestad" and "Oranjestad.": both are exact matches.
		t.Errorf("%d gold spans, want 2", nGold)
	}
	// ExactGold: only the answer's own wordpieces (ORQA), not "Oranjestad.".
	rbx := newReaderBatch(1, 1, R, NS, true)
	if g, err := rbx.set(0, 0, sp, x, 7, bt, 10, 100, prepareAnswers([]string{"Oranjestad"}), AnswerPieces(tok, []string{"Oranjestad"})); err != nil || !g {
		t.Fatalf("set with exact gold: gold %v, %v", g, err)
	}
	nExact := 0
	for s := range NS {
		if rbx.Gold[s] {
			nExact++
			if sp := rbx.spans[0][s]; bt.SpanText(sp[0], sp[1]) != "Oranjestad" {
				t.Errorf("exact gold span %q", bt.SpanText(sp[0], sp[1]))
			}
		}
	}
	if nExact != 1 {
		t.Errorf("%d exact gold spans, want 1", nExact)
	}
	for s := range NS {
		if rb.SpanMask[NS+s] {
			t.Fatal("a padding block has candidate spans")
		}
	}
	// A body cut by the sequence length keeps only spans inside it.
	rb2 := newReaderBatch(1, 1, 12, NS, true)
	if hasGold, err := rb2.set(0, 0, sp, x, 7, bt, 10, 100, prepareAnswers([]string{"Oranjestad"}), nil); err != nil || hasGold {
		t.Fatalf("set on a cut body: gold %v, %v", hasGold, err)
	}
	for s := range NS {
		if rb2.SpanMask[s] && int(rb2.Ends[s]) >= 11 {
			t.Errorf("span %d ends at %d, past the final [SEP]", s, rb2.Ends[s])
		}
		if rb2.Gold[s] {
			t.Errorf("gold span in a body cut before the answer")
		}
	}
}

func qaLogSumExp(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = max(m, x)
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, x := range xs {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}

// TestReaderLossBruteForce compares ReaderLogLikelihood and RetrieverEarlyLoss with explicit
// sums over blocks and spans, written as the paper's log p(y|x) with log p(z|x) (not f).
func TestReaderLossBruteForce(t *testing.T) {
	const B, K, NS, Kw = 3, 2, 4, 5
	rng := rand.New(rand.NewPCG(1, 2))
	span, f := make([]float32, B*K*NS), make([]float32, B*Kw)
	cand, gold, pos := make([]bool, B*K*NS), make([]bool, B*K*NS), make([]bool, B*Kw)
	for i := range span {
		span[i] = float32(rng.NormFloat64() * 3)
		cand[i] = rng.Float64() < 0.8
		gold[i] = cand[i] && rng.Float64() < 0.3
	}
	for i := range f {
		f[i] = float32(rng.NormFloat64() * 2)
		pos[i] = rng.Float64() < 0.3
	}
	for i := range NS * K { // question 2: no gold span, no positive block.
		gold[2*K*NS+i] = false
	}
	for k := range Kw {
		pos[2*Kw+k] = false
	}
	gold[0], cand[0] = true, true // question 0 has at least one.
	pos[0] = true
	exec := model.MustNewExec(backend.MustNew(), model.NewStore(), func(_ *model.Scope, in []*Node) []*Node {
		retr := SliceAxis(in[1], 1, AxisRange(0, K))
		rl, ra, _ := ReaderLogLikelihood(in[0], retr, in[2], in[3])
		el, ea := RetrieverEarlyLoss(in[1], in[4])
		return []*Node{rl, ra, el, ea, Gradient(ReduceAllSum(rl), in[0])[0]}
	})
	out := exec.MustCall(tensors.FromFlatDataAndDimensions(span, B, K, NS), tensors.FromFlatDataAndDimensions(f, B, Kw),
		tensors.FromFlatDataAndDimensions(cand, B, K, NS), tensors.FromFlatDataAndDimensions(gold, B, K, NS),
		tensors.FromFlatDataAndDimensions(pos, B, Kw))
	rl, ra := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
	el, ea := tensors.MustCopyFlatData[float32](out[2]), tensors.MustCopyFlatData[float32](out[3])
	grad := tensors.MustCopyFlatData[float32](out[4])
	for b := range B {
		// log p(z|x) over the K blocks read.
		var fs []float64
		for k := range K {
			fs = append(fs, float64(f[b*Kw+k]))
		}
		lz := qaLogSumExp(fs)
		var num, den []float64
		for k := range K {
			for s := range NS {
				i := (b*K+k)*NS + s
				v := fs[k] - lz + float64(span[i]) // log p(z|x) + g(s)
				if cand[i] {
					den = append(den, v)
					if gold[i] {
						num = append(num, v)
					}
				}
			}
		}
		want, wantAny := 0.0, 0.0
		if len(num) > 0 {
			want, wantAny = -(qaLogSumExp(num) - qaLogSumExp(den)), 1
		}
		if math.Abs(float64(rl[b])-want) > 1e-4 || float64(ra[b]) != wantAny {
			t.Errorf("question %d: reader loss %v (any %v), brute force %v (any %v)", b, rl[b], ra[b], want, wantAny)
		}
		// Gradient wrt g(s): p(s) − p(s|correct) on candidates, 0 elsewhere (0 without gold).
		for k := range K {
			for s := range NS {
				i := (b*K+k)*NS + s
				v := fs[k] - lz + float64(span[i])
				g := 0.0
				if wantAny == 1 && cand[i] {
					g = math.Exp(v - qaLogSumExp(den))
					if gold[i] {
						g -= math.Exp(v - qaLogSumExp(num))
					}
				}
				if math.Abs(float64(grad[i])-g) > 1e-4 {
					t.Errorf("question %d span %d/%d: gradient %v, brute force %v", b, k, s, grad[i], g)
				}
			}
		}
		// Retriever: −log Σ_{z positive} softmax(f)_z over the beam.
		var all, pz []float64
		for k := range Kw {
			all = append(all, float64(f[b*Kw+k]))
			if pos[b*Kw+k] {
				pz = append(pz, float64(f[b*Kw+k]))
			}
		}
		wantR, wantRA := 0.0, 0.0
		if len(pz) > 0 {
			wantR, wantRA = qaLogSumExp(all)-qaLogSumExp(pz), 1
		}
		if math.Abs(float64(el[b])-wantR) > 1e-4 || float64(ea[b]) != wantRA {
			t.Errorf("question %d: retriever loss %v (any %v), brute force %v (any %v)", b, el[b], ea[b], wantR, wantRA)
		}
	}
}

// TestSpanHead checks that span scores depend on the start and end positions only through the
// gathered hidden states: permuting the candidate list permutes the scores.
func TestSpanHead(t *testing.T) {
	rc := DefaultReaderConfig()
	rc.SpanHiddenSize = 4
	const N, R, H, NS = 2, 6, 3, 5
	rng := rand.New(rand.NewPCG(5, 6))
	h := make([]float32, N*R*H)
	for i := range h {
		h[i] = float32(rng.NormFloat64())
	}
	starts, ends := make([]int32, N*NS), make([]int32, N*NS)
	for i := range starts {
		starts[i] = int32(rng.IntN(R))
		ends[i] = int32(rng.IntN(R))
	}
	store := model.NewStore()
	exec := model.MustNewExec(backend.MustNew(), store, func(scope *model.Scope, h, s, e *Node) *Node {
		return SpanHead(scope.In("qa_outputs"), 0.5, rc, h, s, e)
	})
	run := func(s, e []int32) []float32 {
		out := exec.MustCall(tensors.FromFlatDataAndDimensions(h, N, R, H), tensors.FromFlatDataAndDimensions(s, N, NS),
			tensors.FromFlatDataAndDimensions(e, N, NS))
		return tensors.MustCopyFlatData[float32](out[0])
	}
	base := run(starts, ends)
	perm := []int{3, 0, 4, 1, 2}
	ps, pe := make([]int32, N*NS), make([]int32, N*NS)
	for n := range N {
		for i, j := range perm {
			ps[n*NS+i], pe[n*NS+i] = starts[n*NS+j], ends[n*NS+j]
		}
	}
	got := run(ps, pe)
	for n := range N {
		for i, j := range perm {
			if math.Abs(float64(got[n*NS+i]-base[n*NS+j])) > 1e-5 {
				t.Errorf("row %d: permuted span %d score %v ≠ %v", n, i, got[n*NS+i], base[n*NS+j])
			}
		}
	}
	for _, name := range []string{"/qa_outputs/dense_intermediate/dense/weights", "/qa_outputs/dense_output/dense/weights", "/qa_outputs/layer_normalization/gain"} {
		if store.GetVariable(name) == nil {
			t.Errorf("variable %s missing (Hugging Face layout)", name)
		}
	}
	if v := store.GetVariable("/qa_outputs/dense_intermediate/dense/weights"); v != nil && !slices.Equal(v.Shape().Dimensions, []int{H, 2 * rc.SpanHiddenSize}) {
		t.Errorf("dense_intermediate shape %v", v.Shape())
	}
}

// TestWordpieceSpans checks the reader's reference candidates (ReaderConfig.Spans =
// SpansWordpiece): every span of at most width pieces, the same set that transformers'
// RealmReaderProjection enumerates (its widths 1…max_span_width over every start), whole-word
// spans among them; and ORQA's gold spans, every occurrence of an answer's pieces, inside words
// too.
func TestWordpieceSpans(t *testing.T) {
	tok := realmtest.Tokenizer(t)
	bt := NewBlockText(tok, "Oranjestad, capital of Aruba, lies on the southern coast; Kabul is not here.")
	const width = 4
	n := len(bt.Pieces)
	spans := bt.CandidateSpans(width, n, false)
	if len(spans) != MaxSpans(n, width) {
		t.Errorf("%d wordpiece spans, want MaxSpans = %d", len(spans), MaxSpans(n, width))
	}
	want := map[[2]int]bool{}
	for w := 1; w <= width; w++ { // transformers' span_candidates: starts 0…n−w, ends w−1…n−1.
		for s := 0; s+w-1 < n; s++ {
			want[[2]int{s, s + w - 1}] = true
		}
	}
	for _, s := range spans {
		if !want[s] {
			t.Errorf("span %v is not one of transformers' candidates", s)
		}
		delete(want, s)
	}
	if len(want) != 0 {
		t.Errorf("%d of transformers' candidates missing", len(want))
	}
	for _, s := range bt.CandidateSpans(width, n, true) {
		if !slices.Contains(spans, s) {
			t.Errorf("whole-word span %v is not a wordpiece candidate", s)
		}
	}
	limited := bt.CandidateSpans(width, 5, false)
	for _, s := range limited {
		if s[1] >= 5 {
			t.Errorf("span %v ends past the limit 5", s)
		}
	}
	// The second piece of the block's first word of several pieces: ORQA's matching finds it
	// inside the word, the whole-word matching does not.
	w := bt.Words[slices.IndexFunc(bt.Words, func(w [2]int) bool { return w[1]-w[0] > 1 })]
	pieces := [][]int32{{bt.Pieces[w[0]+1].ID}}
	if s := bt.AnswerSpans(pieces, 0, 0, true); slices.Contains(s, [2]int{w[0] + 1, w[0] + 1}) {
		t.Errorf("whole-word gold spans %v hold a piece inside a word", s)
	}
	if s := bt.AnswerSpans(pieces, 0, 0, false); !slices.Contains(s, [2]int{w[0] + 1, w[0] + 1}) {
		t.Errorf("wordpiece gold spans %v lack the piece inside the word %q", s, bt.SpanText(w[0], w[1]-1))
	}
}
