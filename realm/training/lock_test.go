package training

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockDir: a second lock on a held run directory fails with ErrLocked and names the
// holder; once released, the directory can be locked again.
func TestLockDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	release, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockDir(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second lock: err = %v, want ErrLocked naming the holder", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	again, err := LockDir(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	defer again()
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err != nil {
		t.Error(err)
	}
}
