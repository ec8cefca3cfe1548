//go:build !unix

package perf

import "time"

// CPUTime is the user+sys CPU time of this process so far (0 where unavailable).
func CPUTime() time.Duration { return 0 }

// PeakRSS is the peak resident set size of this process in bytes (0 where unavailable).
func PeakRSS() int64 { return 0 }

// ResetPeakRSS resets the process's peak RSS where the system allows it; here it cannot.
func ResetPeakRSS() bool { return false }
