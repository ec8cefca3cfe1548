package training

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LockFile is the file in a run directory that LockDir holds locked.
const LockFile = ".lock"

// ErrLocked is returned (wrapped) by LockDir when another process holds the directory.
var ErrLocked = errors.New("realm: the run directory is in use")

// LockDir takes an exclusive lock on the run directory dir (created if missing) for as long
// as this process runs or until release is called, so that two training runs cannot write
// into one directory: a second LockDir on it fails with ErrLocked, naming the process that
// holds it (its pid, host, start time and command, recorded in dir/.lock). The lock is the
// operating system's (flock on Unix), so it goes away with a killed process.
func LockDir(dir string) (release func() error, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("realm: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("realm: %w", err)
	}
	if err := lockFile(f); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s is locked by %s", ErrLocked, dir, strings.TrimSpace(string(holder)))
	}
	host, _ := os.Hostname()
	who := fmt.Sprintf("pid %d on %s since %s: %s\n", os.Getpid(), host, time.Now().Format(time.RFC3339), strings.Join(os.Args, " "))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(who), 0)
	}
	return func() error {
		_ = unlockFile(f)
		return f.Close()
	}, nil
}
