//go:build !unix

package training

import "os"

// Without flock the lock is advisory only: LockDir records the holder but does not exclude.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) error { return nil }
