package pretrain

import (
	"slices"
	"strings"
	"testing"

	"github.com/realm-go/realm/internal/realmtest"
)

// TestMaskedTextExample: every occurrence of a mask is masked, whole words, case-insensitively,
// with [CLS]-counted positions and the original ids as targets; a missing mask, nothing left
// unmasked and more masks than MaxMasks are errors naming the sentence.
func TestMaskedTextExample(t *testing.T) {
	cfg, c := realmtest.SmallFactbook(t, 2)
	tok := c.Tok
	ex, err := MaskedText{Text: "Kabul is the capital; KABUL has a river.", Masks: []string{"kabul"}}.Example(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	pieces := tok.Tokenize("Kabul is the capital; KABUL has a river.")
	if len(ex.InputIDs) != len(pieces)+2 || ex.InputIDs[0] != tok.CLS() || ex.InputIDs[len(ex.InputIDs)-1] != tok.SEP() || ex.BlockID != -1 {
		t.Fatalf("input %v for pieces %v", ex.InputIDs, pieces)
	}
	if len(ex.Positions) == 0 || len(ex.Positions) != len(ex.Targets) {
		t.Fatalf("positions %v targets %v", ex.Positions, ex.Targets)
	}
	for i, p := range ex.Positions {
		if ex.InputIDs[p] != tok.MASK() || ex.Targets[i] != pieces[p-1].ID {
			t.Errorf("position %d: input %d, target %d, piece %d", p, ex.InputIDs[p], ex.Targets[i], pieces[p-1].ID)
		}
	}
	// Both occurrences: the first word, and the second after "is the capital ;".
	if first, second := ex.Positions[0], int32(len(tok.Tokenize("Kabul is the capital;"))+1); first != 1 || !slices.Contains(ex.Positions, second) {
		t.Errorf("masked positions %v, want 1 and %d among them", ex.Positions, second)
	}
	for _, bad := range []MaskedText{
		{Text: "Kabul is the capital.", Masks: []string{"Paris"}},
		{Text: "Kabul", Masks: []string{"Kabul"}},
		{Text: "Kabul is the capital.", Masks: nil},
	} {
		if _, err := bad.Example(cfg, c); err == nil || !strings.Contains(err.Error(), bad.Text) {
			t.Errorf("%+v: err = %v", bad, err)
		}
	}
	long := MaskedText{Text: strings.Repeat("Kabul ", cfg.MaxMasks+1) + "is the capital.", Masks: []string{"Kabul"}}
	if _, err := long.Example(cfg, c); err == nil || !strings.Contains(err.Error(), "MaxMasks") {
		t.Errorf("more masks than MaxMasks: err = %v", err)
	}
}
