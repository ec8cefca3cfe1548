package bert

import (
	"context"
	"strings"
	"testing"
)

// TestResolve checks the local half of Resolve (no network here): a BERT directory is returned
// as it is, and a path that is neither a BERT directory nor a hub id is refused without asking
// the hub.
func TestResolve(t *testing.T) {
	ctx := context.Background()
	if got, err := Resolve(ctx, "testdata/tiny-bert"); err != nil || got != "testdata/tiny-bert" {
		t.Errorf("Resolve(testdata/tiny-bert) = %q, %v", got, err)
	}
	for _, p := range []string{"testdata", "/no/such/dir", "./model", "../x", "~/models/bert", "a/b/c"} {
		if _, err := Resolve(ctx, p); err == nil || !strings.Contains(err.Error(), "nor a hub model id") {
			t.Errorf("Resolve(%q): err = %v", p, err)
		}
	}
	for s, want := range map[string]bool{
		"sentence-transformers/all-MiniLM-L6-v2": true, "bert-base-uncased": true, "google/realm-cc-news-pretrained-embedder": true,
		"/abs/path": false, "./rel": false, "a/b/c": false, ".hidden/x": false, "": false, "owner/": false,
	} {
		if IsHubID(s) != want {
			t.Errorf("IsHubID(%q) = %v, want %v", s, !want, want)
		}
	}
}
