package runs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/realm-go/realm/realm/training"
)

// Summary says what a run directory holds, without opening its corpus or its models.
type Summary struct {
	// Dir is the run directory and Info its run.json.
	Dir  string
	Info Info
	// Phases are the latest checkpoints of its training phases ("mlm", "ict", "realm" and
	// "qa-<retriever>" for each fine-tuned QA model), by directory name; a phase whose
	// checkpoints are all unusable is left out and named in Problems.
	Phases map[string]training.TrainState
	// Problems lists what could not be read, one line each.
	Problems []string
}

// List describes the run directories in root (the directories that hold a run.json), sorted by
// name; root itself is one when it holds a run.json.
func List(root string) ([]Summary, error) {
	dirs := []string{root}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	var out []Summary
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, InfoFile)); err != nil {
			continue
		}
		out = append(out, Describe(dir))
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.Dir, b.Dir) })
	return out, nil
}

// Describe reads the summary of the run in dir: its run.json and the latest intact checkpoint of
// each phase (checked against their checksums, as a resume would).
func Describe(dir string) Summary {
	s := Summary{Dir: dir, Phases: map[string]training.TrainState{}}
	info, err := ReadInfo(dir)
	if err != nil {
		s.Problems = append(s.Problems, err.Error())
	}
	s.Info = info
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !(name == "mlm" || name == "ict" || name == "realm" || strings.HasPrefix(name, "qa-")) {
			continue
		}
		_, st, ok, err := training.Checkpoints{Dir: filepath.Join(dir, name)}.Latest()
		switch {
		case err != nil:
			s.Problems = append(s.Problems, fmt.Sprintf("%s: %v", name, err))
		case ok:
			s.Phases[name] = st
		}
	}
	return s
}
