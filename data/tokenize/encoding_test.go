package tokenize

import (
	"reflect"
	"strings"
	"testing"
)

// TestTruncateLongestFirst checks the truncation invariants over all small lengths: the
// result fits the budget and uses all of it, never grows a segment, and never cuts the
// shorter segment below the longer one's share.
func TestTruncateLongestFirst(t *testing.T) {
	for budget := 0; budget <= 12; budget++ {
		for l1 := 0; l1 <= 15; l1++ {
			for l2 := 0; l2 <= 15; l2++ {
				n1, n2 := truncateLongestFirst(l1, l2, budget)
				if n1 > l1 || n2 > l2 || n1 < 0 || n2 < 0 {
					t.Fatalf("(%d,%d) budget %d -> (%d,%d): out of range", l1, l2, budget, n1, n2)
				}
				if l1+l2 <= budget {
					if n1 != l1 || n2 != l2 {
						t.Fatalf("(%d,%d) budget %d -> (%d,%d): truncated although it fits", l1, l2, budget, n1, n2)
					}
					continue
				}
				if n1+n2 != budget {
					t.Fatalf("(%d,%d) budget %d -> (%d,%d): does not fill the budget", l1, l2, budget, n1, n2)
				}
				if (l1 <= l2 && n1 < min(l1, budget/2)) || (l2 < l1 && n2 < min(l2, budget/2)) {
					t.Fatalf("(%d,%d) budget %d -> (%d,%d): cut the shorter segment first", l1, l2, budget, n1, n2)
				}
			}
		}
	}
}

func pieces(ids ...int32) []Piece {
	ps := make([]Piece, len(ids))
	for i, id := range ids {
		ps[i] = Piece{ID: id, Start: 2 * i, End: 2*i + 1}
	}
	return ps
}

func TestJoin(t *testing.T) {
	tok := defaultTokenizer(t)
	cls, sep := tok.CLS(), tok.SEP()
	enc, err := tok.Join(10, pieces(1000, 1001), pieces(2000))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{cls, 1000, 1001, sep, 2000, sep}; !reflect.DeepEqual(enc.IDs, want) {
		t.Errorf("ids %v, want %v", enc.IDs, want)
	}
	if want := []int32{0, 0, 0, 0, 1, 1}; !reflect.DeepEqual(enc.TypeIDs, want) {
		t.Errorf("type ids %v, want %v", enc.TypeIDs, want)
	}
	if want := []Span{{-1, 0, 0}, {0, 0, 1}, {0, 2, 3}, {-1, 0, 0}, {1, 0, 1}, {-1, 0, 0}}; !reflect.DeepEqual(enc.Offsets, want) {
		t.Errorf("offsets %v, want %v", enc.Offsets, want)
	}
	// Empty text still gives [CLS] [SEP].
	enc, err = tok.JoinBERT(8, "")
	if err != nil || !reflect.DeepEqual(enc.IDs, []int32{cls, sep}) {
		t.Errorf("JoinBERT(\"\") = %v, %v", enc.IDs, err)
	}
	enc, err = tok.Join(2, pieces(1, 2, 3))
	if err != nil || !reflect.DeepEqual(enc.IDs, []int32{cls, sep}) {
		t.Errorf("Join(2, 3 pieces) = %v, %v", enc.IDs, err)
	}
	for _, c := range []struct {
		maxLen int
		segs   [][]Piece
		want   string
	}{
		{1, [][]Piece{pieces(1)}, "maxLen 1"},
		{2, [][]Piece{pieces(1), pieces(2)}, "maxLen 2"},
		{10, nil, "0 segments"},
		{10, [][]Piece{nil, nil, nil}, "3 segments"},
	} {
		if _, err := tok.Join(c.maxLen, c.segs...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Join(%d, %d segments): err = %v, want it to mention %q", c.maxLen, len(c.segs), err, c.want)
		}
	}
}

func TestPadToAndBatch(t *testing.T) {
	tok := defaultTokenizer(t)
	a, _ := tok.JoinBERT(32, "short text")
	b, _ := tok.JoinBERT(32, "a somewhat longer question", "and its retrieved document")
	padded := tok.PadTo(a, 9)
	if padded.Len() != 9 || len(padded.TypeIDs) != 9 || len(padded.Mask) != 9 || len(padded.Offsets) != 9 {
		t.Fatalf("PadTo(9) lengths %d %d %d %d", padded.Len(), len(padded.TypeIDs), len(padded.Mask), len(padded.Offsets))
	}
	for i := 0; i < 9; i++ {
		real := i < a.Len()
		if padded.Mask[i] != real || (!real && (padded.IDs[i] != tok.PAD() || padded.TypeIDs[i] != 0 || padded.Offsets[i].Segment != -1)) {
			t.Errorf("position %d: id %d type %d mask %v span %v", i, padded.IDs[i], padded.TypeIDs[i], padded.Mask[i], padded.Offsets[i])
		}
	}
	if !reflect.DeepEqual(padded.IDs[:a.Len()], a.IDs) {
		t.Errorf("PadTo changed the real tokens: %v vs %v", padded.IDs, a.IDs)
	}
	if same := tok.PadTo(b, 3); same.Len() != b.Len() {
		t.Errorf("PadTo shorter than the encoding changed its length to %d", same.Len())
	}

	buckets := []int{64, 8, 16}
	for _, c := range []struct{ n, want int }{{0, 8}, {8, 8}, {9, 16}, {17, 64}, {64, 64}, {65, -1}} {
		if got := Bucket(c.n, buckets); got != c.want {
			t.Errorf("Bucket(%d) = %d, want %d", c.n, got, c.want)
		}
	}

	batch, err := tok.Batch([]Encoding{a, b}, buckets)
	if err != nil {
		t.Fatal(err)
	}
	wantS := Bucket(max(a.Len(), b.Len()), buckets)
	if batch.B != 2 || batch.S != wantS || len(batch.IDs) != 2*wantS || len(batch.TypeIDs) != 2*wantS || len(batch.Mask) != 2*wantS {
		t.Fatalf("batch B=%d S=%d (want 2, %d), lengths %d %d %d", batch.B, batch.S, wantS, len(batch.IDs), len(batch.TypeIDs), len(batch.Mask))
	}
	for row, e := range []Encoding{a, b} {
		p := tok.PadTo(e, batch.S)
		off := row * batch.S
		if !reflect.DeepEqual(batch.IDs[off:off+batch.S], p.IDs) || !reflect.DeepEqual(batch.TypeIDs[off:off+batch.S], p.TypeIDs) ||
			!reflect.DeepEqual(batch.Mask[off:off+batch.S], p.Mask) {
			t.Errorf("row %d differs from PadTo", row)
		}
	}
	if batch, err := tok.Batch([]Encoding{a, b}, nil); err != nil || batch.S != b.Len() {
		t.Errorf("Batch without buckets: S=%d err=%v, want S=%d", batch.S, err, b.Len())
	}
	long, _ := tok.JoinBERT(512, strings.Repeat("word ", 100))
	if _, err := tok.Batch([]Encoding{a, long}, buckets); err == nil || !strings.Contains(err.Error(), "102 tokens") {
		t.Errorf("Batch over the largest bucket: err = %v", err)
	}
}

// TestIDs: IDs gives Tokenize's pieces' ids, in order.
func TestIDs(t *testing.T) {
	tok, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	text := "The Caspian Sea's lowest point: -28 m [MASK]"
	ps := tok.Tokenize(text)
	ids := tok.IDs(text)
	if len(ids) != len(ps) || len(ids) < 8 {
		t.Fatalf("%d ids for %d pieces", len(ids), len(ps))
	}
	for i, p := range ps {
		if ids[i] != p.ID {
			t.Errorf("id %d = %d, piece %d", i, ids[i], p.ID)
		}
	}
	if got := tok.IDs("  "); len(got) != 0 {
		t.Errorf("blank text: %v", got)
	}
}
