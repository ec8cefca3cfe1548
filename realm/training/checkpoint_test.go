package training

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func TestCheckpointsRoundTripAndCorruption(t *testing.T) {
	dir := t.TempDir()
	c := Checkpoints{Dir: dir, Keep: 2}
	store := model.NewStore()
	v, err := store.RootScope().In("m").CreateVariable("w", tensors.FromValue([]float32{1, 2, 3}))
	if err != nil {
		t.Fatal(err)
	}
	counter, err := store.RootScope().In("m").CreateVariable("counter", tensors.FromValue(int64(7)))
	if err != nil {
		t.Fatal(err)
	}
	counter.SetTrainable(false)
	if _, ok, err := c.Restore(model.NewStore()); ok || err != nil {
		t.Fatalf("Restore on an empty run = ok %v, err %v; want nothing", ok, err)
	}
	for step := int64(1); step <= 3; step++ {
		v.MustSetValue(tensors.FromValue([]float32{float32(step), 2, 3}))
		if _, err := c.Save(store, TrainState{Task: "test", Step: step, Seed: 9}); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	var kept []string
	for _, e := range entries {
		kept = append(kept, e.Name())
	}
	if strings.Join(kept, ",") != "LATEST,step-000000002,step-000000003" {
		t.Errorf("run directory holds %v, want LATEST and the 2 newest checkpoints", kept)
	}
	store2 := model.NewStore()
	st, ok, err := c.Restore(store2)
	if err != nil || !ok || st.Step != 3 || st.Seed != 9 || st.Task != "test" {
		t.Fatalf("Restore = %+v, %v, %v", st, ok, err)
	}
	if !store2.GetVariable("/m/w").Trainable || store2.GetVariable("/m/counter").Trainable {
		t.Errorf("restored trainable flags: w %v, counter %v; want true, false",
			store2.GetVariable("/m/w").Trainable, store2.GetVariable("/m/counter").Trainable)
	}
	got := store2.GetVariable("/m/w").MustValue().Value().([]float32)
	if got[0] != 3 || got[1] != 2 {
		t.Errorf("restored w = %v, want [3 2 3]", got)
	}

	// Corrupt one byte of the newest checkpoint's data: restore must fail and name the file.
	latest := filepath.Join(dir, "step-000000003")
	files, _ := os.ReadDir(latest)
	for _, f := range files {
		if f.Name() == stateFile {
			continue
		}
		p := filepath.Join(latest, f.Name())
		data, _ := os.ReadFile(p)
		data[len(data)-1] ^= 0xFF
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// It falls back to the previous checkpoint, saying which file failed.
		st, ok, err := c.Restore(model.NewStore())
		if err != nil || !ok || st.Step != 2 || !strings.Contains(st.Recovered, f.Name()) {
			t.Errorf("Restore after corrupting %s: step %d, recovered %q, err %v; want step 2 and the file named", f.Name(), st.Step, st.Recovered, err)
		}
		data[len(data)-1] ^= 0xFF
		os.WriteFile(p, data[:len(data)/2], 0o644) // truncated
		if st, _, err := c.Restore(model.NewStore()); err != nil || st.Step != 2 {
			t.Errorf("Restore after truncating %s: step %d, err %v; want step 2", f.Name(), st.Step, err)
		}
		// With no intact checkpoint left, the error names the newest one's file.
		prev := filepath.Join(dir, "step-000000002", f.Name())
		pdata, _ := os.ReadFile(prev)
		os.WriteFile(prev, pdata[:len(pdata)/2], 0o644)
		if _, _, err := c.Restore(model.NewStore()); err == nil || !strings.Contains(err.Error(), filepath.Join("step-000000003", f.Name())) {
			t.Errorf("Restore with every checkpoint corrupted: err = %v, want one naming %s", err, f.Name())
		}
		os.WriteFile(prev, pdata, 0o644)
		os.WriteFile(p, data, 0o644)
		break
	}
	// A leftover temporary directory (a kill mid-save) is ignored, and removed once stale.
	os.Mkdir(filepath.Join(dir, ".tmp-step-000000004-x"), 0o755)
	stale := filepath.Join(dir, ".tmp-step-000000005-y")
	os.Mkdir(stale, 0o755)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	if _, st, _, _ := c.Latest(); st.Step != 3 {
		t.Errorf("a half-written checkpoint changed Latest to step %d", st.Step)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a stale temporary directory was kept (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-step-000000004-x")); err != nil {
		t.Errorf("a fresh temporary directory (a save in progress) was removed: %v", err)
	}
}

// TestRestoreOverwritesExistingVariables restores into a store that already holds the
// variables with other values (a later pipeline phase resumed in the store of the earlier
// ones): every value must be the checkpoint's, new variables must appear, and a shape
// mismatch must fail naming the variable. (GoMLX's own Immediate load leaves existing
// variables untouched.)
func TestRestoreOverwritesExistingVariables(t *testing.T) {
	c := Checkpoints{Dir: t.TempDir()}
	saved := model.NewStore()
	if _, err := saved.RootScope().In("m").CreateVariable("w", tensors.FromValue([]float32{1, 2, 3})); err != nil {
		t.Fatal(err)
	}
	if _, err := saved.RootScope().In("m").CreateVariable("extra", tensors.FromValue([]float32{5})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Save(saved, TrainState{Task: "test", Step: 1}); err != nil {
		t.Fatal(err)
	}
	live := model.NewStore()
	w, err := live.RootScope().In("m").CreateVariable("w", tensors.FromValue([]float32{9, 9, 9}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Restore(live); !ok || err != nil {
		t.Fatalf("Restore: ok %v, err %v", ok, err)
	}
	if got := w.MustValue().Value().([]float32); got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Errorf("existing variable after Restore = %v, want [1 2 3]", got)
	}
	if v := live.GetVariable("/m/extra"); v == nil || v.MustValue().Value().([]float32)[0] != 5 {
		t.Errorf("new variable after Restore = %v", v)
	}
	bad := model.NewStore()
	if _, err := bad.RootScope().In("m").CreateVariable("w", tensors.FromValue([]float32{9, 9})); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Restore(bad); err == nil || !strings.Contains(err.Error(), "/m/w") {
		t.Errorf("Restore with a mismatched shape: err = %v, want one naming /m/w", err)
	}
}
