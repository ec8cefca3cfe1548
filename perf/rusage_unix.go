//go:build unix

package perf

import (
	"os"
	"runtime"
	"syscall"
	"time"
)

// CPUTime is the user+sys CPU time of this process so far (0 where unavailable).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSS is the peak resident set size of this process in bytes (getrusage ru_maxrss): the
// peak since the process started or since the last successful ResetPeakRSS.
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) // bytes there; kilobytes elsewhere.
	}
	return int64(ru.Maxrss) * 1024
}

// ResetPeakRSS resets the process's peak RSS to its current RSS, where the system allows it
// (Linux ≥ 4.0: writing 5 to /proc/self/clear_refs), and reports whether it did.
func ResetPeakRSS() bool {
	if runtime.GOOS != "linux" {
		return false
	}
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}
