package training

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"

	"github.com/realm-go/realm/internal/atomicfile"
	"github.com/realm-go/realm/internal/filehash"
)

// TrainState is what a trainer needs besides the variables to resume exactly where it stopped.
type TrainState struct {
	// Task names the training loop ("mlm", "ict", "realm", "qa").
	Task string `json:"task"`
	// Step is the number of optimisation steps taken (the global step).
	Step int64 `json:"step"`
	// Seed drives the data order: batch i of the run depends only on (Seed, i), so a resumed
	// run sees the same data as an uninterrupted one.
	Seed uint64 `json:"seed"`
	// IndexGeneration is the generation of the MIPS index in use when the checkpoint was taken.
	IndexGeneration int64 `json:"index_generation,omitempty"`
	// IndexStep is the training step of the parameter snapshot θ' the index was built from.
	IndexStep int64 `json:"index_step,omitempty"`
	// Config is the model configuration, so a checkpoint directory is self-describing.
	Config json.RawMessage `json:"config,omitempty"`
	// Files maps each file of the checkpoint to its SHA-256, checked on restore.
	Files map[string]string `json:"files"`
	// NotTrainable lists the variables that are not model parameters (optimizer moments,
	// counters, random-number state, metrics): GoMLX's checkpoint format does not record the
	// flag, and a restored variable would otherwise be trained.
	NotTrainable []string `json:"not_trainable,omitempty"`
	// Recovered, set by Latest and Restore (not saved), says which newer checkpoint failed its
	// checksums and was skipped for this one; empty when the latest one was intact.
	Recovered string `json:"-"`
}

// Checkpoints manages the checkpoints of a training run in one directory. Each checkpoint is a
// sub-directory "step-<N>" with every variable of the store (model, optimizer moments, global
// step) in GoMLX's checkpoint format and a state.json; it is written under a temporary name and
// renamed into place, then LATEST is replaced atomically, so a run killed at any instant leaves
// the previous checkpoint intact and never a half-written one in its place.
type Checkpoints struct {
	// Dir is the run directory.
	Dir string
	// Keep is how many checkpoints to keep (older ones are deleted); ≤ 0 keeps all.
	Keep int
}

const (
	latestFile = "LATEST"
	stateFile  = "state.json"
)

// Save writes a checkpoint of every variable of store with st, and returns its directory.
func (c Checkpoints) Save(store *model.Store, st TrainState) (string, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	name := fmt.Sprintf("step-%09d", st.Step)
	tmp, err := os.MkdirTemp(c.Dir, ".tmp-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op once renamed.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	h, err := checkpoint.Build(store).Dir(tmp).Keep(1).Done()
	if err != nil {
		return "", fmt.Errorf("checkpoint: preparing %s: %w", tmp, err)
	}
	if err := h.Save(); err != nil {
		return "", fmt.Errorf("checkpoint: saving variables to %s: %w", tmp, err)
	}
	if st.Files, err = hashFiles(tmp); err != nil {
		return "", err
	}
	st.NotTrainable = nil
	for v := range store.IterVariables() {
		if !v.Trainable {
			st.NotTrainable = append(st.NotTrainable, v.Path())
		}
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", fmt.Errorf("checkpoint: encoding state: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, stateFile), data, 0o644); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	final := filepath.Join(c.Dir, name)
	if err := os.RemoveAll(final); err != nil { // a re-save of the same step replaces it.
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(c.Dir, latestFile), []byte(name+"\n")); err != nil {
		return "", err
	}
	return final, c.prune(name)
}

// prune deletes the oldest checkpoints beyond Keep, never the one named latest.
func (c Checkpoints) prune(latest string) error {
	if c.Keep <= 0 {
		return nil
	}
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "step-") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for len(names) > c.Keep {
		if names[0] != latest {
			if err := os.RemoveAll(filepath.Join(c.Dir, names[0])); err != nil {
				return fmt.Errorf("checkpoint: pruning: %w", err)
			}
		}
		names = names[1:]
	}
	return nil
}

// Latest returns the directory and state of the newest checkpoint, or ok=false when the run
// directory has none yet. When the checkpoint LATEST names fails its checksums (a disk error,
// a file edited), it falls back to the newest older one that holds, and says so in
// st.Recovered. It also removes the temporary directories of saves that a killed process left
// (".tmp-step-*" untouched for a minute).
func (c Checkpoints) Latest() (dir string, st TrainState, ok bool, err error) {
	c.removeStaleTemps(time.Minute)
	data, err := os.ReadFile(filepath.Join(c.Dir, latestFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", st, false, nil
	}
	if err != nil {
		return "", st, false, fmt.Errorf("checkpoint: %w", err)
	}
	name := strings.TrimSpace(string(data))
	if !strings.HasPrefix(name, "step-") || strings.ContainsAny(name, `/\`) {
		return "", st, false, fmt.Errorf("checkpoint: %s names %q, not a checkpoint", filepath.Join(c.Dir, latestFile), name)
	}
	dir = filepath.Join(c.Dir, name)
	st, err = readState(dir)
	if err == nil {
		return dir, st, true, nil
	}
	entries, _ := os.ReadDir(c.Dir)
	for i := len(entries) - 1; i >= 0; i-- { // ReadDir sorts by name: step-<9 digits>, oldest first.
		e := entries[i]
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "step-") || e.Name() >= name {
			continue
		}
		prev := filepath.Join(c.Dir, e.Name())
		if pst, perr := readState(prev); perr == nil {
			pst.Recovered = fmt.Sprintf("the latest checkpoint %s is unusable (%v); using %s", dir, err, prev)
			return prev, pst, true, nil
		}
	}
	return "", st, false, err
}

// removeStaleTemps deletes the temporary directories of saves older than age.
func (c Checkpoints) removeStaleTemps(age time.Duration) {
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), ".tmp-step-") {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			_ = os.RemoveAll(filepath.Join(c.Dir, e.Name()))
		}
	}
}

// readState reads dir's state.json and checks every file against its recorded hash.
func readState(dir string) (TrainState, error) {
	var st TrainState
	path := filepath.Join(dir, stateFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return st, fmt.Errorf("checkpoint: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	if len(st.Files) == 0 {
		return st, fmt.Errorf("checkpoint: %s lists no files", path)
	}
	got, err := hashFiles(dir)
	if err != nil {
		return st, err
	}
	for name, want := range st.Files {
		if got[name] != want {
			return st, fmt.Errorf("checkpoint: %s is missing or corrupted (SHA-256 %q, state.json recorded %q)",
				filepath.Join(dir, name), got[name], want)
		}
	}
	return st, nil
}

// Restore loads the newest checkpoint into store (creating or overwriting its variables) and
// returns its state; ok is false, and store untouched, when there is none.
func (c Checkpoints) Restore(store *model.Store) (st TrainState, ok bool, err error) {
	dir, st, ok, err := c.Latest()
	if err != nil || !ok {
		return st, ok, err
	}
	// GoMLX v0.28.2's Immediate load never overwrites a variable that already exists in the
	// store (it looks the variable up by its checkpoint key, misses, and CreateVariable returns
	// the existing variable untouched), so a later phase restored into the store of an earlier
	// one kept the earlier phase's values. Load into an empty store, then copy every value over.
	loaded := model.NewStore()
	if _, err := checkpoint.Load(loaded).Dir(dir).Immediate().Done(); err != nil {
		return st, false, fmt.Errorf("checkpoint: loading %s: %w", dir, err)
	}
	for v := range loaded.IterVariables() {
		val, err := v.Value()
		if err != nil {
			return st, false, fmt.Errorf("checkpoint: %s: variable %s: %w", dir, v.Path(), err)
		}
		if old := store.GetVariable(v.Path()); old != nil {
			if !old.Shape().Equal(val.Shape()) {
				return st, false, fmt.Errorf("checkpoint: %s: variable %s has shape %s, the model's has %s", dir, v.Path(), val.Shape(), old.Shape())
			}
			if err := old.SetValue(val); err != nil {
				return st, false, fmt.Errorf("checkpoint: %s: setting %s: %w", dir, v.Path(), err)
			}
			old.SetTrainable(true) // NotTrainable below says otherwise.
			continue
		}
		if _, err := store.CreateVariable(v.Path(), val); err != nil {
			return st, false, fmt.Errorf("checkpoint: %s: creating %s: %w", dir, v.Path(), err)
		}
	}
	for path, value := range loaded.IterParams() {
		store.SetParam(path, value)
	}
	for _, path := range st.NotTrainable {
		if v := store.GetVariable(path); v != nil {
			v.SetTrainable(false)
		}
	}
	return st, true, nil
}

// hashFiles returns the SHA-256 of every regular file directly in dir but state.json.
func hashFiles(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == stateFile {
			continue
		}
		sum, err := filehash.SHA256(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		out[e.Name()] = sum
	}
	return out, nil
}
