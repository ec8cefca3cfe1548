package bert

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/gomlx/go-huggingface/hub"
)

// hubID matches a Hugging Face model id: "name" or "owner/name" of letters, digits, '-', '_'
// and '.', not starting with '.' or '-'.
var hubID = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*/)?[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// IsHubID reports whether s reads as a Hugging Face model id ("sentence-transformers/all-MiniLM-L6-v2")
// rather than a path: no leading "/", "." or "~", at most one "/".
func IsHubID(s string) bool { return hubID.MatchString(s) }

// hubFiles are the files Resolve downloads when the repository has them (config.json and
// model.safetensors are required).
var hubFiles = []string{"config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}

// Resolve returns a local Hugging Face BERT directory for dirOrID: dirOrID itself when it is a
// directory with a config.json, else, when it reads as a hub id (IsHubID), the directory in the
// Hugging Face cache ($HF_HOME or ~/.cache/huggingface) where go-huggingface's hub downloads the
// model's config, weights (safetensors) and tokenizer files. It needs a network for ids; the
// error says which of the two readings failed.
func Resolve(ctx context.Context, dirOrID string) (string, error) {
	if st, err := os.Stat(filepath.Join(dirOrID, "config.json")); err == nil && !st.IsDir() {
		return dirOrID, nil
	}
	if _, err := os.Stat(dirOrID); err == nil || !IsHubID(dirOrID) {
		return "", fmt.Errorf("bert: %s is not a Hugging Face BERT directory (no config.json) nor a hub model id", dirOrID)
	}
	repo := hub.New(dirOrID).WithProgressBar(false)
	if err := repo.DownloadInfo(false); err != nil {
		return "", fmt.Errorf("bert: %s is no local directory, and the Hugging Face hub could not be asked for it: %w", dirOrID, err)
	}
	var files []string
	for _, f := range hubFiles {
		if repo.HasFile(f) {
			files = append(files, f)
		}
	}
	if len(files) < 2 || files[0] != "config.json" || files[1] != "model.safetensors" {
		return "", fmt.Errorf("bert: hub model %s has no config.json and model.safetensors", dirOrID)
	}
	paths, err := repo.DownloadFilesCtx(ctx, files...)
	if err != nil {
		return "", fmt.Errorf("bert: downloading %s from the Hugging Face hub: %w", dirOrID, err)
	}
	return filepath.Dir(paths[0]), nil
}
