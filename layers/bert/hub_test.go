package bert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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

// hubEnv points the hub cache at a new temporary $HF_HOME (clearing the variables that would
// override it) and returns the cache directory, $HF_HOME/hub; offline sets HF_HUB_OFFLINE=1.
func hubEnv(t *testing.T, offline bool) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("TRANSFORMERS_OFFLINE", "")
	t.Setenv("HF_HUB_OFFLINE", map[bool]string{true: "1", false: ""}[offline])
	return filepath.Join(home, "hub")
}

// tinyBERTFiles returns the files of testdata/tiny-bert plus extra files of the given names.
func tinyBERTFiles(t *testing.T, extra ...string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range []string{ConfigFile, WeightsFile} {
		data, err := os.ReadFile(filepath.Join("testdata", "tiny-bert", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	for _, name := range extra {
		files[name] = []byte("contents of " + name)
	}
	return files
}

// writeSnapshot lays files out in the hub cache as huggingface_hub does: each content in
// models--owner--name/blobs/<sha256>, linked from snapshots/<commit>/<name> by a relative
// symbolic link; it sets the snapshot's modification time to mod and returns its directory.
func writeSnapshot(t *testing.T, cacheDir, id, commit string, files map[string][]byte, mod time.Time) string {
	t.Helper()
	repoDir := hubRepoDir(cacheDir, id)
	snap := filepath.Join(repoDir, "snapshots", commit)
	for _, dir := range []string{filepath.Join(repoDir, "blobs"), snap} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		sum := sha256.Sum256(data)
		blob := filepath.Join(repoDir, "blobs", hex.EncodeToString(sum[:]))
		if err := os.WriteFile(blob, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "blobs", filepath.Base(blob)), filepath.Join(snap, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(snap, mod, mod); err != nil {
		t.Fatal(err)
	}
	return snap
}

// writeCacheFile writes models--owner--name/<rel> in the hub cache (refs/main, info/main).
func writeCacheFile(t *testing.T, cacheDir, id, rel, contents string) {
	t.Helper()
	path := filepath.Join(hubRepoDir(cacheDir, id), rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(contents), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeTestCache fills cacheDir with the snapshots TestResolveOffline and
// TestResolveHubUnreachable look up, and returns the directory Resolve should give for each
// id and extra files ("" where it should fail).
func writeTestCache(t *testing.T, cacheDir string) map[string]string {
	t.Helper()
	older, newer := time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	// huggingface_hub: refs/main names the current commit, whose snapshot is older here than a
	// complete snapshot of another commit, which only refs/main can rank below it.
	cur := writeSnapshot(t, cacheDir, "owner/name", "c0ffee01", tinyBERTFiles(t, "block_records.npy"), older)
	old := writeSnapshot(t, cacheDir, "owner/name", "0ld0ld01", tinyBERTFiles(t, "tokenizer.json"), newer)
	writeCacheFile(t, cacheDir, "owner/name", "refs/main", "c0ffee01")
	// go-huggingface: no refs/main, the commit of main in info/main's "sha".
	gh := writeSnapshot(t, cacheDir, "owner/gomlx", "9a9a9a9a", tinyBERTFiles(t), older)
	writeSnapshot(t, cacheDir, "owner/gomlx", "1b1b1b1b", tinyBERTFiles(t), newer)
	writeCacheFile(t, cacheDir, "owner/gomlx", "info/main",
		`{"id":"owner/gomlx","sha":"9a9a9a9a","siblings":[{"rfilename":"config.json"},{"rfilename":"model.safetensors"}]}`)
	// Neither: the most recently modified complete snapshot.
	writeSnapshot(t, cacheDir, "owner/noref", "aaaa", tinyBERTFiles(t), older)
	recent := writeSnapshot(t, cacheDir, "owner/noref", "bbbb", tinyBERTFiles(t), newer)
	writeSnapshot(t, cacheDir, "owner/noref", "cccc", map[string][]byte{ConfigFile: []byte("{}")}, time.Now())
	// A PyTorch checkpoint; and a snapshot whose weights link to a removed blob.
	files := tinyBERTFiles(t)
	files[PyTorchWeightsFile] = files[WeightsFile]
	delete(files, WeightsFile)
	bin := writeSnapshot(t, cacheDir, "bert-base-pt", "dddd", files, older)
	dangling := writeSnapshot(t, cacheDir, "owner/dangling", "eeee", tinyBERTFiles(t), older)
	target, err := os.Readlink(filepath.Join(dangling, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dangling, target)); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"owner/name":                      cur,
		"owner/name block_records.npy":    cur,
		"owner/name tokenizer.json":       old,
		"owner/name vocab.txt":            "",
		"owner/gomlx":                     gh,
		"owner/noref":                     recent,
		"bert-base-pt":                    bin,
		"owner/dangling":                  "",
		"owner/missing":                   "",
		"owner/missing block_records.npy": "",
	}
}

// checkResolveCache runs Resolve on each case of writeTestCache: a directory that loads as a
// BERT model, or an error that names the id, the cache directory, the missing file and why
// (wantWhy).
func checkResolveCache(t *testing.T, cacheDir string, cases map[string]string, wantWhy string) {
	t.Helper()
	for c, want := range cases {
		args := strings.Fields(c)
		got, err := Resolve(context.Background(), args[0], args[1:]...)
		switch {
		case want == "" && err == nil:
			t.Errorf("Resolve(%s) = %q, want an error", c, got)
		case want == "":
			for _, s := range []string{args[0], cacheDir, wantWhy} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Resolve(%s): error %q does not say %q", c, err, s)
				}
			}
			if strings.Contains(c, "vocab") && !strings.Contains(err.Error(), "lacks vocab.txt") {
				t.Errorf("Resolve(%s): error %q does not name the missing file", c, err)
			}
		case err != nil || got != want:
			t.Errorf("Resolve(%s) = %q, %v, want %q", c, got, err, want)
		default:
			if _, err := LoadConfig(filepath.Join(got, ConfigFile)); err != nil {
				t.Errorf("Resolve(%s): %v", c, err)
			}
			if _, err := os.Stat(filepath.Join(got, WeightsFile)); err != nil {
				continue // bert-base-pt: its pytorch_model.bin holds safetensors bytes
			}
			ckpt, err := OpenCheckpoint(got)
			if err != nil {
				t.Errorf("Resolve(%s): %v", c, err)
				continue
			}
			ckpt.Close()
		}
	}
}

// TestResolveOffline checks that with HF_HUB_OFFLINE=1 Resolve finds a hub id's snapshot in a
// cache laid out as huggingface_hub or go-huggingface lay it out under $HF_HOME/hub, and names
// the id and the cache when the snapshot is missing or incomplete.
func TestResolveOffline(t *testing.T) {
	cacheDir := hubEnv(t, true)
	t.Setenv("HF_ENDPOINT", "http://hub.invalid") // never asked
	checkResolveCache(t, cacheDir, writeTestCache(t, cacheDir), "HF_HUB_OFFLINE is set")
	if _, err := os.Stat(hubRepoDir(cacheDir, "owner/missing")); !os.IsNotExist(err) {
		t.Errorf("offline Resolve touched the cache: %v", err)
	}
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("TRANSFORMERS_OFFLINE", "yes")
	if _, err := Resolve(context.Background(), "owner/missing"); err == nil || !strings.Contains(err.Error(), "TRANSFORMERS_OFFLINE is set") {
		t.Errorf("TRANSFORMERS_OFFLINE=yes: Resolve(owner/missing): err = %v", err)
	}
}

// TestResolveHubUnreachable checks that Resolve falls back on the cache when the hub refuses the
// connection (a closed local port stands for it), and says so when the cache lacks the model.
func TestResolveHubUnreachable(t *testing.T) {
	cacheDir := hubEnv(t, false)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	t.Setenv("HF_ENDPOINT", closed.URL)
	checkResolveCache(t, cacheDir, writeTestCache(t, cacheDir), "the Hugging Face hub could not be reached")
}

// TestResolveFakeHub serves a model as the hub does from a local server, checks that Resolve
// downloads it through go-huggingface into $HF_HOME/hub, and that the same snapshot is found
// once the hub is gone, offline and unreachable.
func TestResolveFakeHub(t *testing.T) {
	cacheDir := hubEnv(t, false)
	const id, commit = "owner/fake", "f00df00d"
	files := tinyBERTFiles(t, "vocab.txt", "block_records.npy")
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/models/"+id+"/revision/main" {
			var siblings []string
			for name := range files {
				siblings = append(siblings, fmt.Sprintf(`{"rfilename":%q}`, name))
			}
			fmt.Fprintf(w, `{"id":%q,"sha":%q,"siblings":[%s]}`, id, commit, strings.Join(siblings, ","))
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, "/"+id+"/resolve/"+commit+"/")
		data, has := files[name]
		if !ok || !has {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256(data)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		http.ServeContent(w, r, name, time.Time{}, strings.NewReader(string(data)))
	}))
	defer hub.Close()
	t.Setenv("HF_ENDPOINT", hub.URL)

	want := filepath.Join(hubRepoDir(cacheDir, id), "snapshots", commit)
	got, err := Resolve(context.Background(), id, "block_records.npy", "not-in-repo.txt")
	if err != nil || got != want {
		t.Fatalf("Resolve(%s) from the local hub = %q, %v, want %q", id, got, err, want)
	}
	for name, data := range files {
		if b, err := os.ReadFile(filepath.Join(got, name)); err != nil || string(b) != string(data) {
			t.Errorf("downloaded %s: %d bytes, %v; want %d bytes", name, len(b), err, len(data))
		}
	}
	hub.Close()
	for _, offline := range []string{"1", ""} {
		t.Setenv("HF_HUB_OFFLINE", offline)
		if got, err := Resolve(context.Background(), id, "block_records.npy"); err != nil || got != want {
			t.Errorf("HF_HUB_OFFLINE=%q, hub gone: Resolve(%s) = %q, %v, want %q", offline, id, got, err, want)
		}
	}
}
