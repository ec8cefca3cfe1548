package blocks

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/tokenize"
)

var (
	tokOnce sync.Once
	tok     *tokenize.Tokenizer
	tokErr  error
)

func tokenizer(tb testing.TB) *tokenize.Tokenizer {
	tokOnce.Do(func() { tok, tokErr = tokenize.Default() })
	if tokErr != nil {
		tb.Fatal(tokErr)
	}
	return tok
}

// factbookSubset returns the first n Factbook documents.
func factbookSubset(tb testing.TB, n int) []corpus.Document {
	var docs []corpus.Document
	for d, err := range corpus.Factbook() {
		if err != nil {
			tb.Fatal(err)
		}
		docs = append(docs, d)
		if len(docs) == n {
			break
		}
	}
	return docs
}

func seqOf(docs []corpus.Document) func(func(corpus.Document, error) bool) {
	return func(yield func(corpus.Document, error) bool) {
		for _, d := range docs {
			if !yield(d, nil) {
				return
			}
		}
	}
}

func checkBlocks(t *testing.T, tk *tokenize.Tokenizer, blocks []Block, maxLen int) {
	t.Helper()
	for i, b := range blocks {
		if b.ID != int64(i) {
			t.Fatalf("block %d has id %d", i, b.ID)
		}
		enc, err := b.Encode(tk, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if enc.Len() > maxLen || 3+len(tk.Tokenize(b.Title))+len(b.TokenIDs) != enc.Len() {
			t.Fatalf("block %d: %d wordpieces with specials (title %q, body %d), max %d", b.ID, enc.Len(), b.Title, len(b.TokenIDs), maxLen)
		}
		var ids []int32
		for _, p := range tk.Tokenize(b.Body) {
			ids = append(ids, p.ID)
		}
		if !reflect.DeepEqual(ids, b.TokenIDs) {
			t.Fatalf("block %d: body re-tokenises to %d ids, TokenIDs has %d", b.ID, len(ids), len(b.TokenIDs))
		}
		if len(b.Sentences) == 0 || len(b.SentenceTokens) != len(b.Sentences) {
			t.Fatalf("block %d: %d sentences, %d sentence token starts", b.ID, len(b.Sentences), len(b.SentenceTokens))
		}
		n := 0
		for k := range b.Sentences {
			var sids []int32
			for _, p := range tk.Tokenize(b.SentenceText(k)) {
				sids = append(sids, p.ID)
			}
			if !reflect.DeepEqual(sids, b.SentenceTokenIDs(k)) {
				t.Fatalf("block %d sentence %d: ids do not match its text %q", b.ID, k, b.SentenceText(k))
			}
			n += len(sids)
		}
		if n != len(b.TokenIDs) {
			t.Fatalf("block %d: sentences hold %d pieces, body %d", b.ID, n, len(b.TokenIDs))
		}
	}
}

func TestBuildFactbookSubset(t *testing.T) {
	tk := tokenizer(t)
	docs := factbookSubset(t, 200)
	var st Stats
	var blocks []Block
	for b, err := range Build(tk, seqOf(docs), Options{}, &st) {
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	checkBlocks(t, tk, blocks, DefaultMaxLen)
	if st.Documents != 200 || st.Blocks != int64(len(blocks)) || st.Sentences < st.Blocks {
		t.Errorf("stats %+v for %d blocks", st, len(blocks))
	}
	// Greedy packing: a block is followed, in the same document, only when the
	// next sentence did not fit.
	full := 0
	for i := 0; i+1 < len(blocks); i++ {
		if blocks[i].DocID != blocks[i+1].DocID {
			continue
		}
		next := len(blocks[i+1].SentenceTokenIDs(0))
		if 3+len(tk.Tokenize(blocks[i].Title))+len(blocks[i].TokenIDs)+next <= DefaultMaxLen {
			t.Fatalf("block %d ends early: the next sentence (%d pieces) would have fit", i, next)
		}
		full++
	}
	t.Logf("%d docs -> %d blocks, %d sentences, %d tokens, %d long sentences (%d blocks continued)", st.Documents, st.Blocks, st.Sentences, st.Tokens, st.LongSentences, full)

	// Determinism.
	var again []Block
	for b, err := range Build(tk, seqOf(docs), Options{}, nil) {
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, b)
	}
	if !reflect.DeepEqual(blocks, again) {
		t.Error("building twice gives different blocks")
	}
}

func TestLongSentenceSplit(t *testing.T) {
	tk := tokenizer(t)
	var words []string
	for i := range 400 {
		words = append(words, fmt.Sprintf("antidisestablishmentarianism%d", i))
	}
	doc := corpus.Document{ID: "long", Title: "A Long Title", Text: "Short one. " + strings.Join(words, " ") + ". Short two."}
	b, err := NewBuilder(tk, Options{MaxLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	blocks := b.Add(doc)
	checkBlocks(t, tk, blocks, 64)
	if b.Stats.LongSentences != 1 || len(blocks) < 10 {
		t.Fatalf("stats %+v, %d blocks", b.Stats, len(blocks))
	}
	for _, blk := range blocks {
		for k := range blk.Sentences {
			if ids := blk.SentenceTokenIDs(k); tk.IsContinuation(ids[0]) {
				t.Errorf("block %d sentence %d starts inside a word: %q", blk.ID, k, blk.SentenceText(k))
			}
		}
	}
	// A sentence a little over the budget is split in two halves, not into a full part and
	// a tail of a few wordpieces that would become a near-empty block.
	over := corpus.Document{ID: "over", Title: "T", Text: strings.Repeat("the ", 63) + "end."}
	for _, blk := range b.Add(over) {
		for k := range blk.Sentences {
			if n := len(blk.SentenceTokenIDs(k)); n < 16 {
				t.Errorf("block %d part %d has %d wordpieces: an over-long sentence left a tiny tail", blk.ID, k, n)
			}
		}
	}
	if _, err := NewBuilder(tk, Options{MaxLen: 20}); err == nil {
		t.Error("NewBuilder accepted MaxLen 20 with a 32-token title budget")
	}
	// Over-long title is cut.
	blocks = b.Add(corpus.Document{ID: "t", Title: strings.Repeat("title ", 100), Text: "Body."})
	if n := len(tk.Tokenize(blocks[0].Title)); n != DefaultMaxTitleTokens {
		t.Errorf("title has %d pieces, want %d", n, DefaultMaxTitleTokens)
	}
}

func TestStores(t *testing.T) {
	tk := tokenizer(t)
	docs := factbookSubset(t, 60)
	mem, err := Collect(Build(tk, seqOf(docs), Options{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "blocks.parquet")
	n, err := WriteParquet(path, mem.All())
	if err != nil || n != int64(mem.Len()) {
		t.Fatalf("WriteParquet: %d, %v", n, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	ps, err := OpenParquet(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if ps.Len() != mem.Len() {
		t.Fatalf("parquet store has %d blocks, memory %d", ps.Len(), mem.Len())
	}
	for _, id := range []int64{5, 0, int64(mem.Len() - 1), 7, 8, 3} {
		a, _ := mem.Get(id)
		b, err := ps.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("block %d differs:\n%+v\n%+v", id, a, b)
		}
	}
	i := 0
	for b, err := range ps.All() {
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := mem.Get(int64(i)); !reflect.DeepEqual(a, b) {
			t.Fatalf("All: block %d differs", i)
		}
		i++
	}
	if i != mem.Len() {
		t.Errorf("All streamed %d blocks, want %d", i, mem.Len())
	}
	if _, err := ps.Get(int64(mem.Len())); err == nil || !strings.Contains(err.Error(), "out of") {
		t.Errorf("Get past the end: %v", err)
	}
	if _, err := mem.Get(-1); err == nil {
		t.Error("MemStore.Get(-1) succeeded")
	}

	// Not a block store.
	bad := filepath.Join(dir, "bad.parquet")
	os.WriteFile(bad, []byte("not parquet"), 0o644)
	if _, err := OpenParquet(bad); err == nil || !strings.Contains(err.Error(), "bad.parquet") {
		t.Errorf("OpenParquet(garbage): %v", err)
	}
	// Out-of-order ids are refused and leave no file.
	out := filepath.Join(dir, "ooo.parquet")
	b0, _ := mem.Get(1)
	if _, err := WriteParquet(out, func(yield func(Block, error) bool) { yield(b0, nil) }); err == nil {
		t.Error("WriteParquet accepted id 1 first")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("failed WriteParquet left a file")
	}
}

// BenchmarkBuildFactbook measures packing the whole embedded Factbook.
func BenchmarkBuildFactbook(b *testing.B) {
	tk := tokenizer(b)
	docs := factbookSubset(b, -1)
	b.ResetTimer()
	var st Stats
	for range b.N {
		for _, err := range Build(tk, seqOf(docs), Options{}, &st) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(st.Blocks), "blocks")
	b.ReportMetric(float64(st.Sentences), "sentences")
	b.ReportMetric(float64(st.Tokens), "tokens")
	b.ReportMetric(float64(st.LongSentences), "long-sentences")
}

// BenchmarkBuildWordNet packs all of WordNet (dict-wn) when installed.
func BenchmarkBuildWordNet(b *testing.B) {
	if _, err := os.Stat(corpus.WordNetDict); err != nil {
		b.Skipf("dict-wn not installed: %v", err)
	}
	tk := tokenizer(b)
	var st Stats
	for range b.N {
		for _, err := range Build(tk, corpus.WordNet(corpus.ReadOptions{}), Options{}, &st) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(st.Documents), "documents")
	b.ReportMetric(float64(st.Blocks), "blocks")
	b.ReportMetric(float64(st.Tokens), "tokens")
}
