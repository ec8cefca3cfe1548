package bert

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

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
// directory with a config.json, else, when it reads as a hub id (IsHubID), a snapshot directory
// of the model in the Hugging Face hub cache, the one Python's huggingface_hub uses
// ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub; see hubCacheDir).
//
// With a network, go-huggingface's hub downloads into that cache the model's config, weights
// (model.safetensors, or pytorch_model.bin when the repository has no safetensors, as Google's
// REALM repositories) and tokenizer files, and those of extra the repository has (a
// RealmRetriever's block_records.npy), and Resolve returns the directory that holds them.
//
// Offline — HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) set to 1 or true, or the hub unreachable or failing
// to serve the files — Resolve looks in the cache instead and returns the snapshot directory
// there that holds config.json, a weights file and every file of extra (cachedSnapshot); the
// cache cannot tell which files the repository lacks, so offline the extra files are required.
// Errors say which reading of dirOrID failed; for an id, which cache directory was looked in and
// why the hub was not used.
func Resolve(ctx context.Context, dirOrID string, extra ...string) (string, error) {
	if st, err := os.Stat(filepath.Join(dirOrID, "config.json")); err == nil && !st.IsDir() {
		return dirOrID, nil
	}
	if _, err := os.Stat(dirOrID); err == nil || !IsHubID(dirOrID) {
		return "", fmt.Errorf("bert: %s is not a Hugging Face model directory (no config.json) nor a hub model id", dirOrID)
	}
	cacheDir := hubCacheDir()
	if env, offline := hubOffline(); offline {
		dir, err := cachedSnapshot(cacheDir, dirOrID, extra, nil)
		if err != nil {
			return "", fmt.Errorf("bert: hub model %s: %s is set, so the Hugging Face hub was not asked, and %w", dirOrID, env, err)
		}
		return dir, nil
	}
	// go-huggingface removes info/main before it downloads it anew (DownloadFilesCtx does, always),
	// so the commit it records there is read before the hub is asked.
	known := cachedCommits(cacheDir, dirOrID)
	fromCache := func(hubErr error) (string, error) {
		if ctx.Err() != nil {
			return "", fmt.Errorf("bert: hub model %s: %w (%w)", dirOrID, ctx.Err(), hubErr)
		}
		dir, err := cachedSnapshot(cacheDir, dirOrID, extra, known)
		if err != nil {
			return "", fmt.Errorf("bert: hub model %s: the Hugging Face hub could not be reached or did not serve it (%w), and %w", dirOrID, hubErr, err)
		}
		return dir, nil
	}
	repo := hub.New(dirOrID).WithCacheDir(cacheDir).WithProgressBar(false)
	repo.Verbosity = 0 // go-huggingface prints its downloads to stdout otherwise (retrieve -json writes there).
	if err := repo.DownloadInfo(false); err != nil {
		return fromCache(err)
	}
	files, err := hubDownloads(repo.HasFile, extra)
	if err != nil {
		return "", fmt.Errorf("bert: hub model %s: %w", dirOrID, err)
	}
	paths, err := repo.DownloadFilesCtx(ctx, files...)
	if err != nil {
		return fromCache(err)
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

// hubCacheDir returns the Hugging Face hub cache directory as Python's huggingface_hub chooses
// it: $HF_HUB_CACHE, else $HF_HOME/hub, else go-huggingface's hub.DefaultCacheDir
// ($XDG_CACHE_HOME/huggingface/hub or ~/.cache/huggingface/hub). go-huggingface v0.4.0 reads
// neither HF_HUB_CACHE nor HF_HOME, so Resolve hands it this directory.
func hubCacheDir() string {
	if dir := os.Getenv("HF_HUB_CACHE"); dir != "" {
		return expandHome(dir)
	}
	if home := os.Getenv("HF_HOME"); home != "" {
		return filepath.Join(expandHome(home), "hub")
	}
	return hub.DefaultCacheDir()
}

// expandHome replaces a leading "~/" of dir by the user's home directory, as Python's
// os.path.expanduser does for HF_HOME.
func expandHome(dir string) string {
	if rest, ok := strings.CutPrefix(dir, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return dir
}

// hubOffline reports whether HF_HUB_OFFLINE, or else TRANSFORMERS_OFFLINE, is set to a true
// value (1, ON, YES or TRUE in any case), as huggingface_hub reads them, and which one it read.
func hubOffline() (env string, offline bool) {
	env = "HF_HUB_OFFLINE"
	v := os.Getenv(env)
	if v == "" {
		env = "TRANSFORMERS_OFFLINE"
		v = os.Getenv(env)
	}
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return env, true
	}
	return "", false
}

// hubRepoDir returns the directory of model id in the hub cache cacheDir:
// cacheDir/models--owner--name, as huggingface_hub and go-huggingface name it.
func hubRepoDir(cacheDir, id string) string {
	return filepath.Join(cacheDir, "models--"+strings.ReplaceAll(id, "/", "--"))
}

// cachedCommits returns the commits the cache records for the main revision of model id:
// refs/main, written by huggingface_hub, then the "sha" of info/main, the hub's answer about
// main that go-huggingface keeps. Either may be missing.
func cachedCommits(cacheDir, id string) []string {
	repoDir := hubRepoDir(cacheDir, id)
	var commits []string
	if ref, err := os.ReadFile(filepath.Join(repoDir, "refs", "main")); err == nil {
		commits = append(commits, strings.TrimSpace(string(ref)))
	}
	if data, err := os.ReadFile(filepath.Join(repoDir, "info", "main")); err == nil {
		var info struct {
			SHA string `json:"sha"`
		}
		if json.Unmarshal(data, &info) == nil && info.SHA != "" {
			commits = append(commits, info.SHA)
		}
	}
	return commits
}

// cachedSnapshot returns the snapshot directory of model id in the hub cache cacheDir that holds
// config.json, model.safetensors or pytorch_model.bin, and every file of extra (a missing file or
// a link to a missing blob does not count). The cache is laid out as huggingface_hub lays it out:
//
//	cacheDir/models--owner--name/
//		blobs/<etag>               the files' contents
//		refs/main                  the commit main was at when last downloaded (huggingface_hub only)
//		info/main                  the hub's JSON about main, its commit in "sha" (go-huggingface only)
//		snapshots/<commit>/<file>  links into blobs (or copies)
//
// It tries the commits of refs/main and info/main (cachedCommits) and those of known, then the
// other snapshots, the most recently modified first: go-huggingface writes no refs/main and
// removes info/main when it fails to download it anew.
func cachedSnapshot(cacheDir, id string, extra, known []string) (string, error) {
	repoDir := hubRepoDir(cacheDir, id)
	snapshots := filepath.Join(repoDir, "snapshots")
	entries, err := os.ReadDir(snapshots)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("the cache %s has no snapshot of it (no %s)", cacheDir, snapshots)
	}
	if err != nil {
		return "", fmt.Errorf("the cache %s has no snapshot of it (%s: %w)", cacheDir, snapshots, err)
	}
	type snapshot struct {
		commit string
		rank   int // position in the preferred commits, len(preferred) for the others
		mod    int64
	}
	preferred := slices.Concat(cachedCommits(cacheDir, id), known)
	var candidates []snapshot
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.IsDir() {
			continue
		}
		rank := slices.Index(preferred, e.Name())
		if rank < 0 {
			rank = len(preferred)
		}
		candidates = append(candidates, snapshot{e.Name(), rank, info.ModTime().UnixNano()})
	}
	slices.SortFunc(candidates, func(a, b snapshot) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(b.mod, a.mod), strings.Compare(a.commit, b.commit))
	})
	var lacks []string
	for _, c := range candidates {
		dir := filepath.Join(snapshots, c.commit)
		missing := missingFiles(dir, extra)
		if len(missing) == 0 {
			return dir, nil
		}
		lacks = append(lacks, fmt.Sprintf("%s lacks %s", c.commit, strings.Join(missing, ", ")))
	}
	if len(lacks) == 0 {
		return "", fmt.Errorf("the cache %s has no snapshot of it (%s is empty)", cacheDir, snapshots)
	}
	return "", fmt.Errorf("the cache %s has no complete snapshot of it in %s: %s", cacheDir, snapshots, strings.Join(lacks, "; "))
}

// missingFiles returns the files of a model directory that dir lacks: config.json, a weights
// file (model.safetensors or pytorch_model.bin) and extra.
func missingFiles(dir string, extra []string) []string {
	has := func(name string) bool {
		st, err := os.Stat(filepath.Join(dir, name)) // follows the link into blobs
		return err == nil && !st.IsDir()
	}
	var missing []string
	if !has(ConfigFile) {
		missing = append(missing, ConfigFile)
	}
	if !has(WeightsFile) && !has(PyTorchWeightsFile) {
		missing = append(missing, WeightsFile+" or "+PyTorchWeightsFile)
	}
	for _, f := range extra {
		if !has(f) {
			missing = append(missing, f)
		}
	}
	return missing
}
