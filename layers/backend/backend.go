// Package backend opens the GoMLX compute backend that realm-go runs on.
//
// The pure-Go backend (github.com/gomlx/compute/gobackend) is the default: it needs no
// native library and runs anywhere Go runs. Its default executor can deadlock when every
// worker-pool slot is held by an op waiting for a slot (see the project's STACK-NOTES), so
// unless $GOMLX_BACKEND says otherwise we ask for "go:parallelism=32", which was hang-free in
// every measured run and is the fastest setting on a 2-core machine. Training loops still put
// a timeout on every step. Set GOMLX_BACKEND=go:ops_sequential for a configuration that is
// deadlock-free by construction (about 25% slower).
//
// For amd64 builds, compile with GOEXPERIMENT=simd to get the backend's AVX2 matmul kernels
// (2-7x faster matmuls); the project's scripts do this by default.
package backend

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers the "go" backend.
)

// DefaultConfig is the backend configuration used when $GOMLX_BACKEND is not set.
const DefaultConfig = "go:parallelism=32"

// Config returns the backend configuration New would use: $GOMLX_BACKEND when set,
// DefaultConfig otherwise.
func Config() string {
	if c := os.Getenv(compute.ConfigEnvVar); c != "" {
		return c
	}
	return DefaultConfig
}

// opened caches one backend per configuration string: a backend owns a worker pool sized
// for the whole machine, so a process should share it (GoMLX's own GetBackend is a singleton
// too), and the go backend prints a line each time one is configured.
var opened sync.Map // config string → compute.Backend

// New opens the backend named by Config, or returns the one already opened with the same
// configuration in this process.
func New() (compute.Backend, error) {
	cfg := Config()
	if b, ok := opened.Load(cfg); ok {
		return b.(compute.Backend), nil
	}
	b, err := newWithConfig(cfg)
	if err != nil {
		hint := ""
		switch {
		case strings.HasPrefix(cfg, "xla") && !slices.Contains(compute.List(), "xla"):
			hint = "; the xla backend is compiled in with -tags xla"
		case strings.HasPrefix(cfg, "xla:cuda"):
			hint = "; plugins searched in " + pluginPaths() + "; for the CUDA PJRT plugin that jax installs, export PJRT_PLUGIN_LIBRARY_PATH=\"$(scripts/find-xla-cuda.sh)\""
		case strings.HasPrefix(cfg, "xla:cpu"):
			hint = "; plugins searched in " + pluginPaths() + "; for XLA's CPU PJRT plugin, export PJRT_PLUGIN_LIBRARY_PATH=\"$(scripts/fetch-xla-cpu.sh)\""
		}
		return nil, fmt.Errorf("backend: opening %q (set $%s to choose another; registered: %v%s): %w",
			cfg, compute.ConfigEnvVar, compute.List(), hint, err)
	}
	actual, _ := opened.LoadOrStore(cfg, b)
	return actual.(compute.Backend), nil
}

// pluginPaths says where go-xla looks for PJRT plugins: $PJRT_PLUGIN_LIBRARY_PATH, read once
// when the program starts, or else its default library paths.
func pluginPaths() string {
	if p, ok := os.LookupEnv("PJRT_PLUGIN_LIBRARY_PATH"); ok {
		return fmt.Sprintf("$PJRT_PLUGIN_LIBRARY_PATH=%q", p)
	}
	return "go-xla's default paths ($PJRT_PLUGIN_LIBRARY_PATH unset: ~/.local/lib/go-xla, /usr/local/lib/go-xla, $LD_LIBRARY_PATH, /etc/ld.so.conf)"
}

// newWithConfig is compute.NewWithConfig with its panics (an unknown backend name) returned
// as errors.
func newWithConfig(cfg string) (b compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	if strings.HasPrefix(cfg, "go:") && strings.Contains(cfg, "parallelism=") {
		// compute v0.1.2's go backend prints "Go backend: parallelism set to N" to standard
		// output when configured so, and offers no other way to set it; a library must not
		// write to its caller's output (an Example's, a notebook's, a piped CLI's), so the line
		// is discarded: standard output is swapped out for the construction, once per process.
		if null, nerr := os.Open(os.DevNull); nerr == nil {
			stdout := os.Stdout
			os.Stdout = null
			defer func() { os.Stdout = stdout; _ = null.Close() }()
		}
	}
	return compute.NewWithConfig(cfg)
}

// MustNew is New that panics on error, for tests, examples and notebooks.
func MustNew() compute.Backend {
	b, err := New()
	if err != nil {
		panic(err)
	}
	return b
}
