package bert

import (
	"context"
	"slices"
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

// TestHubDownloads checks which files Resolve takes from a repository: config.json and one
// weights file, safetensors before PyTorch's, then the tokenizer files and the extras present.
func TestHubDownloads(t *testing.T) {
	repo := func(names ...string) func(string) bool {
		return func(n string) bool { return slices.Contains(names, n) }
	}
	for _, tc := range []struct {
		has   func(string) bool
		extra []string
		want  string
	}{
		{repo("config.json", "model.safetensors", "pytorch_model.bin", "vocab.txt"), nil, "config.json model.safetensors vocab.txt"},
		{repo("config.json", "pytorch_model.bin", "vocab.txt", "tokenizer_config.json", "block_records.npy"), []string{"block_records.npy"},
			"config.json pytorch_model.bin vocab.txt tokenizer_config.json block_records.npy"},
		{repo("config.json", "pytorch_model.bin", "block_records.npy"), nil, "config.json pytorch_model.bin"},
		{repo("config.json", "vocab.txt"), nil, "error: neither model.safetensors nor pytorch_model.bin"},
		{repo("model.safetensors"), nil, "error: no config.json"},
	} {
		files, err := hubDownloads(tc.has, tc.extra)
		got := strings.Join(files, " ")
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tc.want {
			t.Errorf("hubDownloads = %q, want %q", got, tc.want)
		}
	}
}
