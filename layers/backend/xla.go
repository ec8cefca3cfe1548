//go:build xla

package backend

// Built with -tags xla, the package also registers GoMLX's XLA backend (go-xla v0.4.1, the
// version gomlx v0.28.2 pins), so GOMLX_BACKEND=xla:cpu selects XLA's CPU PJRT plugin. The
// default build does not compile go-xla: it needs cgo (a C compiler; the PJRT C headers come
// with the module) and, at run time, the plugin itself, a ~200 MB .so that no Go module ships.
// scripts/fetch-xla-cpu.sh unpacks it from PyPI and prints the directory to put in
// $PJRT_PLUGIN_LIBRARY_PATH, which go-xla reads once at start-up:
//
//	export PJRT_PLUGIN_LIBRARY_PATH="$(scripts/fetch-xla-cpu.sh)"
//	GOMLX_BACKEND=xla:cpu go test -tags xla ./...
//
// go-xla's auto-install (a download from GitHub on every New) is switched off: this project's
// machines reach no host outside the package registries, and the plugin comes from the script.

import "github.com/gomlx/go-xla/compute/xla" // registers the "xla" backend.

func init() { xla.EnableAutoInstall(false) }
