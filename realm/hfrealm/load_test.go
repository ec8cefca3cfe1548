package hfrealm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/ml/model"
)

// copyDir copies the fixture directory src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// editConfig rewrites dir/config.json through edit.
func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadBadInput checks that each kind of bad checkpoint gets an error naming the file and the
// tensor, and that nothing is written to the scope.
func TestLoadBadInput(t *testing.T) {
	fixture := func(class string) string { return filepath.Join("testdata", "gelu_new", class) }
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		want []string
	}{
		{"wrong model_type", func(t *testing.T) string {
			d := copyDir(t, fixture("embedder"))
			editConfig(t, d, func(m map[string]any) { m["model_type"] = "bert" })
			return d
		}, []string{"config.json", `model_type "bert" is not "realm"`}},
		{"unsupported class", func(t *testing.T) string {
			d := copyDir(t, fixture("embedder"))
			editConfig(t, d, func(m map[string]any) { m["architectures"] = []string{"RealmForMaskedLM"} })
			return d
		}, []string{"config.json", `class "RealmForMaskedLM"`}},
		{"shape not implied by config.json", func(t *testing.T) string {
			d := copyDir(t, fixture("embedder"))
			editConfig(t, d, func(m map[string]any) { m["retriever_proj_size"] = 8 })
			return d
		}, []string{"model.safetensors", `tensor "cls.dense.weight"`, "checkpoint has [16 32], config.json implies [8 32]"}},
		{"missing tensor", func(t *testing.T) string {
			d := copyDir(t, fixture("encoder"))
			editConfig(t, d, func(m map[string]any) { m["architectures"] = []string{ClassEmbedder} })
			return d
		}, []string{"model.safetensors", `missing tensor "cls.dense.weight"`}},
		{"unexpected tensor", func(t *testing.T) string {
			d := copyDir(t, fixture("embedder"))
			editConfig(t, d, func(m map[string]any) { m["architectures"] = []string{ClassEncoder} })
			return d
		}, []string{"model.safetensors", `unexpected tensor "cls.LayerNorm.bias"`}},
		{"truncated weights", func(t *testing.T) string {
			d := copyDir(t, fixture("embedder"))
			path := filepath.Join(d, "model.safetensors")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
				t.Fatal(err)
			}
			return d
		}, []string{"model.safetensors"}},
		{"truncated pytorch_model.bin", func(t *testing.T) string {
			d := copyDir(t, fixture("encoder-bin"))
			path := filepath.Join(d, "pytorch_model.bin")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data[:len(data)*2/3], 0o644); err != nil {
				t.Fatal(err)
			}
			return d
		}, []string{"pytorch_model.bin"}},
		{"separate query tower", func(t *testing.T) string { return fixture("scorer-separate-bin") },
			[]string{"pytorch_model.bin", `"query_embedder.`, "a query tower apart from the document tower is not supported"}},
		{"no weights", func(t *testing.T) string {
			d := copyDir(t, fixture("embedder"))
			if err := os.Remove(filepath.Join(d, "model.safetensors")); err != nil {
				t.Fatal(err)
			}
			return d
		}, []string{"model.safetensors"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := model.NewStore()
			_, err := Load(tc.dir(t), store.RootScope())
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			n := 0
			for range store.IterVariables() {
				n++
			}
			if n != 0 {
				t.Errorf("%d variables written despite the error", n)
			}
		})
	}
}

// TestLoadBlockRecords reads the fixture's block_records.npy (np.save of an object array of byte
// strings, as RealmRetriever keeps its blocks) and refuses a truncated copy and other arrays.
func TestLoadBlockRecords(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Records []string `json:"block_records"`
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", BlockRecordsFile)
	got, err := LoadBlockRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Records) == 0 || !slices.Equal(got, want.Records) {
		t.Errorf("records %q, want %q", got, want.Records)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated record", raw[:len(raw)-20], "record 5 is cut short"},
		{"truncated pickle", raw[:len(raw)-2], "truncated pickle after 6 of 6 records"},
		{"short header", raw[:9], "truncated .npy header"},
		{"not npy", []byte("hello world, not numpy"), "not a .npy file"},
		{"float array", append([]byte("\x93NUMPY\x01\x00\x36\x00"), []byte("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }  \n")...), "not object"},
	} {
		p := filepath.Join(t.TempDir(), BlockRecordsFile)
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadBlockRecords(p); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v, want one naming %s and containing %q", tc.name, err, p, tc.want)
		}
	}
}

// TestBlockRecordsRoundTrip writes records with WriteBlockRecords and reads them back, one by
// one and whole: long records (BINBYTES), empty and non-ASCII ones, more than one APPENDS batch.
func TestBlockRecordsRoundTrip(t *testing.T) {
	want := []string{"", "café", strings.Repeat("long ", 100)}
	for i := range 2500 {
		want = append(want, fmt.Sprintf("block %d", i))
	}
	path := filepath.Join(t.TempDir(), BlockRecordsFile)
	if err := WriteBlockRecords(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadBlockRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("read back %d records, first %q; want %d, first %q", len(got), got[:3], len(want), want[:3])
	}
	b, err := OpenBlockRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if r, err := b.Record(2); err != nil || r != want[2] {
		t.Errorf("Record(2) = %q, %v", r, err)
	}
	if _, err := b.Record(len(want)); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Record past the end: err = %v", err)
	}
}

// TestBlockRecordsMemo reads pickles in which a record is the same bytes object as an earlier
// one (BINGET of its memo entry, as pickle writes a repeated object), with explicit memo puts
// (protocol 3) and implicit ones inside a frame (protocol 4's FRAME and MEMOIZE).
func TestBlockRecordsMemo(t *testing.T) {
	path := filepath.Join(t.TempDir(), BlockRecordsFile)
	if err := WriteBlockRecords(path, []string{"a", "bb", "a"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	items := "(C\x01aC\x02bbC\x01ae"
	if !strings.Contains(string(raw), items) {
		t.Fatalf("WriteBlockRecords wrote no %q", items)
	}
	for name, repl := range map[string]string{
		"binput":  "(C\x01aq\x0eC\x02bbq\x0fh\x0ee",
		"memoize": "(\x95\x08\x00\x00\x00\x00\x00\x00\x00C\x01a\x94C\x02bb\x94h\x00e",
	} {
		p := filepath.Join(t.TempDir(), BlockRecordsFile)
		if err := os.WriteFile(p, []byte(strings.Replace(string(raw), items, repl, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := LoadBlockRecords(p)
		if err != nil || !slices.Equal(got, []string{"a", "bb", "a"}) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
}

// TestLoadIndex pairs the fixture open-QA model's block_emb with its block records, and refuses
// records of another length.
func TestLoadIndex(t *testing.T) {
	dir := filepath.Join("testdata", "gelu_new", "openqa")
	emb, d, records, err := LoadIndex(dir, filepath.Join("testdata", BlockRecordsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer records.Close()
	if len(emb) != records.Len()*d || d != 16 {
		t.Errorf("%d values of dimension %d for %d records", len(emb), d, records.Len())
	}
	if _, _, _, err := LoadIndex(dir, filepath.Join("testdata", "block_records-short.npy")); err == nil || !strings.Contains(err.Error(), "holds 5 blocks, the block_emb") {
		t.Errorf("5 records for 6 rows of block_emb: err = %v", err)
	}
	other := copyDir(t, dir)
	editConfig(t, other, func(m map[string]any) { m["num_block_records"] = 5 })
	if _, _, _, err := LoadIndex(other, filepath.Join("testdata", BlockRecordsFile)); err == nil || !strings.Contains(err.Error(), `"block_emb"`) {
		t.Errorf("block_emb of 6 rows with num_block_records 5: err = %v", err)
	}
}
