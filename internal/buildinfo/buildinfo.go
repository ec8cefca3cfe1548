// Package buildinfo describes the build of the running program in one line: realm-go's module
// version and commit, Go's version and those of GoMLX, go-xla and compute. `realm version`
// prints it and run.json records it (the versions that wrote a run).
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Line describes the build in one line, for example
// "realm-go (devel) commit 4c724b8d0e1f+modified, go1.26.0, gomlx v0.28.2, compute v0.1.2".
func Line() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "realm-go (no build information)"
	}
	line := "realm-go " + bi.Main.Version
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		line += " commit " + rev[:min(12, len(rev))]
		if settings["vcs.modified"] == "true" {
			line += "+modified"
		}
	}
	line += ", " + bi.GoVersion
	for _, d := range bi.Deps {
		switch d.Path {
		case "github.com/gomlx/gomlx", "github.com/gomlx/go-xla", "github.com/gomlx/compute":
			line += ", " + strings.TrimPrefix(d.Path, "github.com/gomlx/") + " " + d.Version
		}
	}
	return line
}
