package examples

import (
	"fmt"
	"iter"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/realm-go/realm/data/blocks"
	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/data/tokenize"
)

var (
	setupOnce sync.Once
	tok       *tokenize.Tokenizer
	gaz       *spans.Gazetteer
	subset    []blocks.Block // blocks of the first 150 Factbook documents
	setupErr  error
)

func setup(tb testing.TB) {
	setupOnce.Do(func() {
		if tok, setupErr = tokenize.Default(); setupErr != nil {
			return
		}
		if gaz, setupErr = spans.BuildGazetteer(corpus.Factbook(), spans.GazetteerOptions{}); setupErr != nil {
			return
		}
		n := 0
		docs := func(yield func(corpus.Document, error) bool) {
			for d, err := range corpus.Factbook() {
				if n == 150 || !yield(d, err) {
					return
				}
				n++
			}
		}
		for b, err := range blocks.Build(tok, docs, blocks.Options{}, nil) {
			if err != nil {
				setupErr = err
				return
			}
			subset = append(subset, b)
		}
	})
	if setupErr != nil {
		tb.Fatal(setupErr)
	}
}

func seqOf[T any](xs []T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for _, x := range xs {
			if !yield(x, nil) {
				return
			}
		}
	}
}

func collect[T any](t testing.TB, seq iter.Seq2[T, error]) []T {
	t.Helper()
	var out []T
	for x, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

func TestPretrainExamples(t *testing.T) {
	setup(t)
	masker := spans.NewMasker(spans.RuleTagger{Gazetteer: gaz}, tok)
	exs := collect(t, PretrainExamples(tok, masker, seqOf(subset), PretrainOptions{Seed: 1}))
	if len(exs) < 1000 {
		t.Fatalf("only %d examples from %d blocks", len(exs), len(subset))
	}
	for _, ex := range exs {
		n := len(ex.InputIDs)
		if n > DefaultSentenceMaxLen || ex.InputIDs[0] != tok.CLS() || ex.InputIDs[n-1] != tok.SEP() {
			t.Fatalf("block %d sentence %d: bad input %v", ex.BlockID, ex.Sentence, ex.InputIDs)
		}
		if len(ex.Positions) == 0 || len(ex.Positions) != len(ex.Targets) {
			t.Fatalf("block %d sentence %d: %d positions, %d targets", ex.BlockID, ex.Sentence, len(ex.Positions), len(ex.Targets))
		}
		restored := slices.Clone(ex.InputIDs)
		for k, p := range ex.Positions {
			if ex.InputIDs[p] != tok.MASK() || ex.Targets[k] == tok.MASK() || p <= 0 || int(p) >= n-1 {
				t.Fatalf("block %d: position %d not a masked piece", ex.BlockID, p)
			}
			restored[p] = ex.Targets[k]
		}
		var want []int32
		for _, p := range tok.Tokenize(ex.Text) {
			want = append(want, p.ID)
		}
		if !reflect.DeepEqual(restored[1:n-1], want) {
			t.Fatalf("block %d sentence %d: unmasked ids differ from the text %q", ex.BlockID, ex.Sentence, ex.Text)
		}
		if b := subset[ex.BlockID]; !containsText(b.Body, ex.Text) {
			t.Fatalf("example text %q not in block %d", ex.Text, ex.BlockID)
		}
	}
	st := masker.Stats()
	if st.Salient+st.Fallback+st.Empty != st.Sentences || st.Sentences != int64(len(exs)) {
		t.Errorf("masker stats %+v for %d examples", st, len(exs))
	}
	if r := st.FallbackRate(); r > 0.35 {
		t.Errorf("fallback rate %.3f: the tagger finds too few salient spans", r)
	}
	t.Logf("%d blocks -> %d examples; fallback rate %.3f (%+v)", len(subset), len(exs), st.FallbackRate(), st)

	// Determinism: same seed, same examples; and a block's examples do not
	// depend on which other blocks are streamed.
	again := collect(t, PretrainExamples(tok, spans.NewMasker(spans.RuleTagger{Gazetteer: gaz}, tok), seqOf(subset), PretrainOptions{Seed: 1}))
	if !reflect.DeepEqual(exs, again) {
		t.Error("same seed gave different examples")
	}
	one := collect(t, PretrainExamples(tok, spans.NewMasker(spans.RuleTagger{Gazetteer: gaz}, tok), seqOf(subset[40:41]), PretrainOptions{Seed: 1}))
	var want []Pretrain
	for _, ex := range exs {
		if ex.BlockID == 40 {
			want = append(want, ex)
		}
	}
	if !reflect.DeepEqual(one, want) {
		t.Error("block 40's examples depend on the other blocks streamed")
	}
	other := collect(t, PretrainExamples(tok, spans.NewMasker(spans.RuleTagger{Gazetteer: gaz}, tok), seqOf(subset), PretrainOptions{Seed: 2}))
	if reflect.DeepEqual(exs, other) {
		t.Error("seeds 1 and 2 gave the same examples")
	}
}

func containsText(body, s string) bool {
	return len(s) > 0 && len(body) >= len(s) && (body == s || indexOf(body, s) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestICTRemovalRate(t *testing.T) {
	setup(t)
	exs := collect(t, ICTExamples(tok, seqOf(subset), ICTOptions{PerBlock: 4, Seed: 3}))
	removed := 0
	for _, ex := range exs {
		b := subset[ex.BlockID]
		s := b.SentenceTokenIDs(ex.Sentence)
		if !reflect.DeepEqual(ex.Query.IDs[1:len(ex.Query.IDs)-1], s[:min(len(s), DefaultSentenceMaxLen-2)]) {
			t.Fatalf("block %d: query is not sentence %d", ex.BlockID, ex.Sentence)
		}
		title := len(tok.Tokenize(b.Title))
		body := ex.Context.IDs[2+title : len(ex.Context.IDs)-1]
		if ex.Removed {
			removed++
			if len(body) != len(b.TokenIDs)-len(s) {
				t.Fatalf("block %d: removed context has %d body pieces, want %d", ex.BlockID, len(body), len(b.TokenIDs)-len(s))
			}
		} else if !reflect.DeepEqual(body, b.TokenIDs) {
			t.Fatalf("block %d: kept context differs from the block", ex.BlockID)
		}
		if len(ex.Context.IDs) > blocks.DefaultMaxLen {
			t.Fatalf("context of %d pieces", len(ex.Context.IDs))
		}
	}
	rate := float64(removed) / float64(len(exs))
	// Binomial(n, 0.9): 5 standard deviations.
	if sd := math.Sqrt(0.9 * 0.1 / float64(len(exs))); math.Abs(rate-0.9) > 5*sd {
		t.Errorf("removal rate %.3f over %d examples, want 0.9 ± %.3f", rate, len(exs), 5*sd)
	}
	t.Logf("ICT: %d examples, removal rate %.3f", len(exs), rate)

	for _, keep := range []float64{0, 1} {
		for _, ex := range collect(t, ICTExamples(tok, seqOf(subset[:50]), ICTOptions{KeepRate: Rate(keep), Seed: 3})) {
			if ex.Removed != (keep == 0) {
				t.Fatalf("KeepRate %v: Removed = %v", keep, ex.Removed)
			}
		}
	}
	if a, b := collect(t, ICTExamples(tok, seqOf(subset), ICTOptions{Seed: 9})), collect(t, ICTExamples(tok, seqOf(subset), ICTOptions{Seed: 9})); !reflect.DeepEqual(a, b) {
		t.Error("ICT examples are not deterministic")
	}
}

// TestICTMaskedQueries checks that MaskRate masks that share of the queries (and only the
// queries) as REALM's examples are masked, and leaves the choices of unmasked ICT untouched.
func TestICTMaskedQueries(t *testing.T) {
	setup(t)
	whole := collect(t, ICTExamples(tok, seqOf(subset), ICTOptions{Seed: 5}))
	for _, rate := range []float64{0.5, 1} {
		masker := spans.NewMasker(spans.RuleTagger{Gazetteer: gaz}, tok)
		exs := collect(t, ICTExamples(tok, seqOf(subset), ICTOptions{Seed: 5, MaskRate: rate, Masker: masker}))
		if len(exs) != len(whole) {
			t.Fatalf("MaskRate %v: %d examples, want %d as without masking", rate, len(exs), len(whole))
		}
		masked := 0
		for i, ex := range exs {
			w := whole[i]
			if ex.BlockID != w.BlockID || ex.Sentence != w.Sentence || ex.Removed != w.Removed || !reflect.DeepEqual(ex.Context, w.Context) {
				t.Fatalf("MaskRate %v, block %d: masking changed the choice of sentence, removal or context", rate, ex.BlockID)
			}
			if len(ex.Query.IDs) != len(w.Query.IDs) {
				t.Fatalf("MaskRate %v, block %d: masked query has %d pieces, want %d", rate, ex.BlockID, len(ex.Query.IDs), len(w.Query.IDs))
			}
			n := 0
			for j, id := range ex.Query.IDs {
				if id == tok.MASK() {
					n++
				} else if id != w.Query.IDs[j] {
					t.Fatalf("MaskRate %v, block %d: piece %d is %d, want %d or [MASK]", rate, ex.BlockID, j, id, w.Query.IDs[j])
				}
			}
			if n > 0 {
				masked++
			}
		}
		share := float64(masked) / float64(len(exs))
		if ms := masker.Stats(); ms.Sentences != int64(masked) || ms.Salient == 0 {
			t.Errorf("MaskRate %v: masker saw %d sentences (%d salient), want the %d masked queries", rate, ms.Sentences, ms.Salient, masked)
		}
		if sd := math.Sqrt(rate * (1 - rate) / float64(len(exs))); math.Abs(share-rate) > 5*sd+1e-9 {
			t.Errorf("MaskRate %v: %.3f of %d queries masked, want %v ± %.3f", rate, share, len(exs), rate, 5*sd)
		}
	}
	for _, bad := range []ICTOptions{{MaskRate: 0.5}, {MaskRate: 1.5, Masker: spans.NewMasker(spans.RuleTagger{Gazetteer: gaz}, tok)}} {
		for _, err := range ICTExamples(tok, seqOf(subset[:3]), bad) {
			if err == nil {
				t.Fatalf("%+v: no error", bad)
			}
			break
		}
	}
}

func TestShuffleBatches(t *testing.T) {
	var xs []int
	for i := range 1000 {
		xs = append(xs, i)
	}
	a := collect(t, Shuffle(seqOf(xs), 100, 5))
	b := collect(t, Shuffle(seqOf(xs), 100, 5))
	c := collect(t, Shuffle(seqOf(xs), 100, 6))
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) || reflect.DeepEqual(a, xs) {
		t.Error("Shuffle is not a seeded, order-changing function")
	}
	sorted := slices.Clone(a)
	slices.Sort(sorted)
	if !reflect.DeepEqual(sorted, xs) {
		t.Error("Shuffle is not a permutation")
	}
	batches := collect(t, Batches(seqOf(xs), 64, false))
	if len(batches) != 16 || len(batches[15]) != 1000-15*64 {
		t.Errorf("%d batches, last of %d", len(batches), len(batches[len(batches)-1]))
	}
	if got := collect(t, Batches(seqOf(xs), 64, true)); len(got) != 15 {
		t.Errorf("dropLast: %d batches", len(got))
	}
}

func TestBatchPadding(t *testing.T) {
	setup(t)
	masker := spans.NewMasker(spans.RuleTagger{Gazetteer: gaz}, tok)
	exs := collect(t, PretrainExamples(tok, masker, seqOf(subset[:5]), PretrainOptions{Seed: 1}))[:8]
	pb, err := NewPretrainBatch(tok, exs, []int{16, 32, 64}, []int{4, 8, 16, 32, 64})
	if err != nil {
		t.Fatal(err)
	}
	longest, most := 0, 0
	for _, ex := range exs {
		longest, most = max(longest, len(ex.InputIDs)), max(most, len(ex.Positions))
	}
	if pb.B != 8 || pb.S != tokenize.Bucket(longest, []int{16, 32, 64}) || pb.M != tokenize.Bucket(most, []int{4, 8, 16, 32, 64}) {
		t.Fatalf("batch %dx%d, M %d for longest %d, most %d", pb.B, pb.S, pb.M, longest, most)
	}
	if len(pb.InputIDs) != pb.B*pb.S || len(pb.Positions) != pb.B*pb.M || len(pb.TargetMask) != pb.B*pb.M {
		t.Fatal("flat slices have the wrong lengths")
	}
	for i, ex := range exs {
		for s := range pb.S {
			id, m := pb.InputIDs[i*pb.S+s], pb.Mask[i*pb.S+s]
			if s < len(ex.InputIDs) && (id != ex.InputIDs[s] || !m) || s >= len(ex.InputIDs) && (id != tok.PAD() || m) {
				t.Fatalf("row %d position %d: id %d mask %v", i, s, id, m)
			}
		}
		for k := range pb.M {
			j := i*pb.M + k
			if k < len(ex.Positions) != pb.TargetMask[j] || k < len(ex.Positions) && (pb.Positions[j] != ex.Positions[k] || pb.Targets[j] != ex.Targets[k]) {
				t.Fatalf("row %d masked slot %d wrong", i, k)
			}
		}
	}
	if _, err := NewPretrainBatch(tok, exs, []int{8}, nil); err == nil {
		t.Error("a batch longer than every bucket was accepted")
	}
	ict := collect(t, ICTExamples(tok, seqOf(subset[:10]), ICTOptions{Seed: 1}))
	ib, err := NewICTBatch(tok, ict, []int{32, 64}, []int{128, 288})
	if err != nil {
		t.Fatal(err)
	}
	if ib.Queries.B != len(ict) || ib.Contexts.S%32 != 0 || len(ib.BlockIDs) != len(ict) {
		t.Errorf("ICT batch %+v", fmt.Sprint(ib.Queries.B, ib.Queries.S, ib.Contexts.B, ib.Contexts.S))
	}
}

// BenchmarkPretrainFactbook masks every sentence of the whole Factbook and
// reports the fallback (no salient span) rate.
func BenchmarkPretrainFactbook(b *testing.B) {
	setup(b)
	all, err := blocks.Collect(blocks.Build(tok, corpus.Factbook(), blocks.Options{}, nil))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var st spans.MaskStats
	n := 0
	for range b.N {
		masker := spans.NewMasker(spans.RuleTagger{Gazetteer: gaz}, tok)
		n = 0
		for _, err := range PretrainExamples(tok, masker, all.All(), PretrainOptions{Seed: 1}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		st = masker.Stats()
	}
	b.ReportMetric(float64(n), "examples")
	b.ReportMetric(st.FallbackRate(), "fallback-rate")
}
