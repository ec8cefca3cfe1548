package bert

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/gomlx/go-huggingface/hub"
)

// hubID matches a Hugging Face model id: "name" or "owner/name" of letters, digits, '-', '_'
// and '.', not starting with '.' or '-'.
var hubID = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*/)?[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// IsHubID reports whether s reads as a Hugging Face model id ("sentence-transformers/all-MiniLM-L6-v2")
// rather than a path: no leading "/", "." or "~", at most one "/".
func IsHubID(s string) bool { return hubID.MatchString(s) }

// tokenizerFiles are the tokenizer files Resolve downloads when the repository has them.
var tokenizerFiles = []string{"vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}

// Resolve returns a local Hugging Face model directory for dirOrID: dirOrID itself when it is a
// directory with a config.json, else, when it reads as a hub id (IsHubID), the directory in the
// Hugging Face cache ($HF_HOME or ~/.cache/huggingface) where go-huggingface's hub downloads the
// model's config, weights (model.safetensors, or pytorch_model.bin when the repository has no
// safetensors, as Google's REALM repositories) and tokenizer files, and those of extra the
// repository has (a RealmRetriever's block_records.npy). It needs a network for ids; the error
// says which of the two readings failed.
func Resolve(ctx context.Context, dirOrID string, extra ...string) (string, error) {
	if st, err := os.Stat(filepath.Join(dirOrID, "config.json")); err == nil && !st.IsDir() {
		return dirOrID, nil
	}
	if _, err := os.Stat(dirOrID); err == nil || !IsHubID(dirOrID) {
		return "", fmt.Errorf("bert: %s is not a Hugging Face model directory (no config.json) nor a hub model id", dirOrID)
	}
	repo := hub.New(dirOrID).WithProgressBar(false)
	if err := repo.DownloadInfo(false); err != nil {
		return "", fmt.Errorf("bert: %s is no local directory, and the Hugging Face hub could not be asked for it: %w", dirOrID, err)
	}
	files, err := hubDownloads(repo.HasFile, extra)
	if err != nil {
		return "", fmt.Errorf("bert: hub model %s: %w", dirOrID, err)
	}
	paths, err := repo.DownloadFilesCtx(ctx, files...)
	if err != nil {
		return "", fmt.Errorf("bert: downloading %s from the Hugging Face hub: %w", dirOrID, err)
	}
	return filepath.Dir(paths[0]), nil
}

// hubDownloads chooses the files to download from a repository that has the files has reports:
// config.json first, one weights file (safetensors preferred), then the tokenizer files and
// extra that it has.
func hubDownloads(has func(string) bool, extra []string) ([]string, error) {
	if !has("config.json") {
		return nil, fmt.Errorf("no config.json")
	}
	files := []string{"config.json"}
	switch {
	case has("model.safetensors"):
		files = append(files, "model.safetensors")
	case has("pytorch_model.bin"):
		files = append(files, "pytorch_model.bin")
	default:
		return nil, fmt.Errorf("neither model.safetensors nor pytorch_model.bin")
	}
	for _, f := range slices.Concat(tokenizerFiles, extra) {
		if has(f) {
			files = append(files, f)
		}
	}
	return files, nil
}
