package bert

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/realm-go/realm/layers/backend"
)

const tinyDir = "testdata/tiny-bert"

var testBackend = sync.OnceValue(func() compute.Backend { return backend.MustNew() })

// jsonTensor is a tensor in the fixture JSON files.
type jsonTensor struct {
	Shape []int     `json:"shape"`
	Data  []float32 `json:"data"`
}

// tinyExpected mirrors testdata/tiny-bert-expected.json.
type tinyExpected struct {
	IDs       [][]int32             `json:"ids"`
	TypeIDs   [][]int32             `json:"type_ids"`
	Mask      [][]bool              `json:"mask"`
	Positions [][]int32             `json:"positions"`
	Labels    [][]int32             `json:"labels"`
	Hidden    jsonTensor            `json:"hidden"`
	Logits    jsonTensor            `json:"logits"`
	Loss      float64               `json:"loss"`
	Grads     map[string]jsonTensor `json:"grads"`
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func flat2[T any](rows [][]T) ([]T, int, int) {
	var out []T
	for _, r := range rows {
		out = append(out, r...)
	}
	return out, len(rows), len(rows[0])
}

func tensor2[T int32 | bool](rows [][]T) *tensors.Tensor {
	data, r, c := flat2(rows)
	return tensors.FromFlatDataAndDimensions(data, r, c)
}

// assertClose checks got against want element-wise with an absolute+relative tolerance.
func assertClose(t testing.TB, what string, got []float32, gotShape []int, want jsonTensor, tol float64) {
	t.Helper()
	if len(gotShape) != len(want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, gotShape, want.Shape)
	}
	for i := range gotShape {
		if gotShape[i] != want.Shape[i] {
			t.Fatalf("%s: shape %v, want %v", what, gotShape, want.Shape)
		}
	}
	maxDiff, worst := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i] - want.Data[i]))
		if d > tol*(1+math.Abs(float64(want.Data[i]))) && d > maxDiff {
			maxDiff, worst = d, i
		}
	}
	if worst >= 0 {
		t.Errorf("%s: element %d = %g, want %g (|diff| %.3g > tol %g)", what, worst, got[worst], want.Data[worst], maxDiff, tol)
	}
}

// rawTensor is one tensor of a safetensors file, undecoded, for building bad checkpoints.
type rawTensor struct {
	DType string
	Shape []int
	Data  []byte
}

func readRaw(t testing.TB, path string) map[string]rawTensor {
	t.Helper()
	f, err := openSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]rawTensor{}
	for name, e := range f.tensors {
		buf := make([]byte, e.Offsets[1]-e.Offsets[0])
		if _, err := f.f.ReadAt(buf, f.dataOff+int64(e.Offsets[0])); err != nil {
			t.Fatal(err)
		}
		out[name] = rawTensor{e.DType, e.Shape, buf}
	}
	return out
}

func writeRaw(t testing.TB, path string, ts map[string]rawTensor) {
	t.Helper()
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	hdr := map[string]any{}
	var data []byte
	for _, n := range names {
		r := ts[n]
		hdr[n] = stEntry{DType: r.DType, Shape: r.Shape, Offsets: [2]int{len(data), len(data) + len(r.Data)}}
		data = append(data, r.Data...)
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	out = append(append(out, hb...), data...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyTiny copies the tiny checkpoint into a temp dir and returns the dir and its raw tensors.
func copyTiny(t testing.TB) (string, map[string]rawTensor) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(tinyDir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	raw := readRaw(t, filepath.Join(tinyDir, WeightsFile))
	writeRaw(t, filepath.Join(dir, WeightsFile), raw)
	return dir, raw
}
