package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	for _, content := range []string{"old", "new content"} {
		if err := WriteFile(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files left in the directory, want 1 (no temporary files)", len(entries))
	}
	// A write that cannot happen leaves the old content.
	if err := WriteFile(filepath.Join(dir, "missing", "f.json"), []byte("x")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	if got, _ := os.ReadFile(path); string(got) != "new content" {
		t.Errorf("content %q after a failed write elsewhere", got)
	}
}
