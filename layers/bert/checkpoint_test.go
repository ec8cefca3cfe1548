package bert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// variableValues returns every variable under scope as float32 data, keyed by path relative to it.
func variableValues(t testing.TB, scope *model.Scope) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for v := range scope.IterVariables() {
		if strings.Contains(v.Path(), "#") { // RNG state.
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(v.Path(), scope.Scope()), "/")
		out[rel] = tensors.MustCopyFlatData[float32](v.MustValue())
	}
	return out
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestSaveLoadRoundTripIsBitIdentical(t *testing.T) {
	// Load the fixture under a sub-scope, as a REALM model would hold it.
	store := model.NewStore()
	scope := store.RootScope().In("reader")
	res, err := Load(tinyDir, scope)
	if err != nil {
		t.Fatal(err)
	}
	orig := variableValues(t, scope)
	if len(orig) != len(Mapping(res.Config))-2 { // all but the pooler.
		t.Fatalf("loaded %d variables, want %d", len(orig), len(Mapping(res.Config))-2)
	}
	dir := filepath.Join(t.TempDir(), "saved")
	if err := Save(dir, scope, res.Config); err != nil {
		t.Fatal(err)
	}
	store2 := model.NewStore()
	res2, err := Load(dir, store2.RootScope())
	if err != nil {
		t.Fatal(err)
	}
	if res2.Config.HiddenSize != res.Config.HiddenSize || res2.Config.LayerNormEps != res.Config.LayerNormEps {
		t.Errorf("config changed: %+v vs %+v", res2.Config, res.Config)
	}
	got := variableValues(t, store2.RootScope())
	if len(got) != len(orig) {
		t.Fatalf("reloaded %d variables, want %d", len(got), len(orig))
	}
	for p, v := range orig {
		if g, ok := got[p]; !ok || !bitsEqual(v, g) {
			t.Errorf("variable %s changed on save+load (reloaded: %v)", p, ok)
		}
	}
	// The weights also equal the fixture's bytes (the file PyTorch wrote).
	ours, theirs := readRaw(t, filepath.Join(dir, WeightsFile)), readRaw(t, filepath.Join(tinyDir, WeightsFile))
	for name, r := range ours {
		if !bytes.Equal(r.Data, theirs[name].Data) || !slices.Equal(r.Shape, theirs[name].Shape) {
			t.Errorf("tensor %s differs from the PyTorch-written checkpoint", name)
		}
	}
	// Saving again gives the same bytes, and no temp files are left behind.
	first, _ := os.ReadFile(filepath.Join(dir, WeightsFile))
	if err := Save(dir, scope, res.Config); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(dir, WeightsFile))
	if !bytes.Equal(first, second) {
		t.Error("saving twice gave different bytes")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("checkpoint dir holds %d entries, want config.json and model.safetensors", len(entries))
	}
}

// TestLoadIntoExistingVariables checks that Load overwrites variables a graph already created.
func TestLoadIntoExistingVariables(t *testing.T) {
	var want tinyExpected
	readJSON(t, filepath.Join("testdata", "tiny-bert-expected.json"), &want)
	cfg, err := LoadConfig(filepath.Join(tinyDir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	exec := model.MustNewExec(testBackend(), store, func(scope *model.Scope, ids, types, mask *graph.Node) *graph.Node {
		return Encode(scope, cfg, ids, types, mask)
	})
	args := []any{tensor2(want.IDs), tensor2(want.TypeIDs), tensor2(want.Mask)}
	random := tensors.MustCopyFlatData[float32](exec.MustCall1(args...))
	if _, err := Load(tinyDir, store.RootScope()); err != nil {
		t.Fatal(err)
	}
	loaded := tensors.MustCopyFlatData[float32](exec.MustCall1(args...))
	if slices.Equal(random, loaded) {
		t.Fatal("outputs did not change after Load")
	}
	assertClose(t, "hidden after Load", loaded, want.Hidden.Shape, want.Hidden, 1e-4)
}

func TestLoadSharded(t *testing.T) {
	dir, raw := copyTiny(t)
	if err := os.Remove(filepath.Join(dir, WeightsFile)); err != nil {
		t.Fatal(err)
	}
	shards := []map[string]rawTensor{{}, {}}
	weightMap := map[string]string{}
	for name, r := range raw {
		i := 0
		if strings.HasPrefix(name, "cls.") || strings.Contains(name, "layer.1.") {
			i = 1
		}
		shards[i][name] = r
		weightMap[name] = []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[i]
	}
	writeRaw(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), shards[0])
	writeRaw(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), shards[1])
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	if err := os.WriteFile(filepath.Join(dir, WeightsIndexFile), idx, 0o644); err != nil {
		t.Fatal(err)
	}
	s1, s2 := model.NewStore(), model.NewStore()
	if _, err := Load(tinyDir, s1.RootScope()); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, s2.RootScope()); err != nil {
		t.Fatal(err)
	}
	a, b := variableValues(t, s1.RootScope()), variableValues(t, s2.RootScope())
	if len(a) != len(b) {
		t.Fatalf("sharded load gave %d variables, single file %d", len(b), len(a))
	}
	for p := range a {
		if !bitsEqual(a[p], b[p]) {
			t.Errorf("variable %s differs between sharded and single-file loads", p)
		}
	}
}

// TestLoadHalfPrecision converts the fixture to F16 and BF16 and checks the loaded values
// are exactly the half-precision numbers widened to float32.
func TestLoadHalfPrecision(t *testing.T) {
	for _, dt := range []string{"F16", "BF16"} {
		t.Run(dt, func(t *testing.T) {
			dir, raw := copyTiny(t)
			wantHalf := map[string][]float32{}
			for name, r := range raw {
				if r.DType != "F32" {
					continue
				}
				n := len(r.Data) / 4
				half := make([]byte, 2*n)
				vals := make([]float32, n)
				for i := range n {
					x := math.Float32frombits(binary.LittleEndian.Uint32(r.Data[4*i:]))
					var bits uint16
					if dt == "F16" {
						h := float16.From(x)
						bits, vals[i] = uint16(h), h.Float32()
					} else {
						h := bfloat16.FromFloat32(x)
						bits, vals[i] = h.Bits(), h.Float32()
					}
					binary.LittleEndian.PutUint16(half[2*i:], bits)
				}
				raw[name] = rawTensor{dt, r.Shape, half}
				wantHalf[name] = vals
			}
			writeRaw(t, filepath.Join(dir, WeightsFile), raw)
			store := model.NewStore()
			res, err := Load(dir, store.RootScope())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range Mapping(res.Config) {
				want, ok := wantHalf[m.HF]
				if !ok {
					continue
				}
				v := store.GetVariable("/" + m.Path)
				got := tensors.MustCopyFlatData[float32](v.MustValue())
				if m.Transpose {
					got, _ = Transpose2D(got, v.Shape().Dimensions)
				}
				if !bitsEqual(got, want) {
					t.Errorf("%s: %s tensor not converted exactly", m.HF, dt)
				}
			}
		})
	}
}

// TestBadCheckpoints checks that each kind of broken checkpoint fails with an error naming
// the tensor and the file.
func TestBadCheckpoints(t *testing.T) {
	const victim = "bert.encoder.layer.1.attention.self.key.weight"
	weights := func(dir string) string { return filepath.Join(dir, WeightsFile) }
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, dir string, raw map[string]rawTensor)
		opts   []LoadOption
		tensor string // must appear in the error; "" for none.
		want   string // more text the error must contain.
	}{
		{"missing", func(t *testing.T, dir string, raw map[string]rawTensor) {
			delete(raw, victim)
			writeRaw(t, weights(dir), raw)
		}, nil, victim, "missing tensor"},
		{"missing MLM head", func(t *testing.T, dir string, raw map[string]rawTensor) {
			delete(raw, "cls.predictions.transform.dense.weight")
			writeRaw(t, weights(dir), raw)
		}, nil, "cls.predictions.transform.dense.weight", "AllowMissingMLMHead"},
		{"partial MLM head", func(t *testing.T, dir string, raw map[string]rawTensor) {
			delete(raw, "cls.predictions.bias")
			writeRaw(t, weights(dir), raw)
		}, []LoadOption{AllowMissingMLMHead()}, "cls.predictions.bias", "missing tensor"},
		{"extra", func(t *testing.T, dir string, raw map[string]rawTensor) {
			raw["cls.seq_relationship.weight"] = rawTensor{"F32", []int{2, 32}, make([]byte, 256)}
			writeRaw(t, weights(dir), raw)
		}, nil, "cls.seq_relationship.weight", "unexpected tensor"},
		{"extra layer", func(t *testing.T, dir string, raw map[string]rawTensor) {
			raw["bert.encoder.layer.2.output.dense.bias"] = rawTensor{"F32", []int{32}, make([]byte, 128)}
			writeRaw(t, weights(dir), raw)
		}, []LoadOption{IgnoreKnownExtras()}, "bert.encoder.layer.2.output.dense.bias", "unexpected tensor"},
		{"shape", func(t *testing.T, dir string, raw map[string]rawTensor) {
			r := raw[victim]
			raw[victim] = rawTensor{"F32", []int{16, 64}, r.Data}
			writeRaw(t, weights(dir), raw)
		}, nil, victim, "shape mismatch"},
		{"dtype", func(t *testing.T, dir string, raw map[string]rawTensor) {
			r := raw[victim]
			raw[victim] = rawTensor{"I32", r.Shape, r.Data}
			writeRaw(t, weights(dir), raw)
		}, nil, victim, "dtype mismatch"},
		{"truncated", func(t *testing.T, dir string, raw map[string]rawTensor) {
			data, _ := os.ReadFile(weights(dir))
			if err := os.WriteFile(weights(dir), data[:len(data)-100], 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "cls.predictions.transform.dense.weight", "truncated"}, // the last tensor in the file.
		{"header length beyond file", func(t *testing.T, dir string, raw map[string]rawTensor) {
			data, _ := os.ReadFile(weights(dir))
			binary.LittleEndian.PutUint64(data, uint64(len(data)))
			if err := os.WriteFile(weights(dir), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "", "header length"},
		{"shorter than 8 bytes", func(t *testing.T, dir string, raw map[string]rawTensor) {
			if err := os.WriteFile(weights(dir), []byte{1, 2, 3}, 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "", "truncated"},
		{"no weights", func(t *testing.T, dir string, raw map[string]rawTensor) {
			if err := os.Remove(weights(dir)); err != nil {
				t.Fatal(err)
			}
		}, nil, "", "model.safetensors"},
		{"bad config", func(t *testing.T, dir string, raw map[string]rawTensor) {
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"model_type":"bert","vocab_size":100,"hidden_size":30,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":64}`), 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "", "not divisible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, raw := copyTiny(t)
			tc.break_(t, dir, raw)
			store := model.NewStore()
			_, err := Load(dir, store.RootScope(), tc.opts...)
			if err == nil {
				t.Fatal("Load succeeded on a broken checkpoint")
			}
			msg := err.Error()
			wantFile := weights(dir)
			if tc.name == "bad config" {
				wantFile = filepath.Join(dir, ConfigFile)
			} else if tc.name == "no weights" {
				wantFile = dir
			}
			for _, s := range []string{tc.tensor, tc.want, wantFile} {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not mention %q", msg, s)
				}
			}
			if store.NumVariables() != 0 {
				t.Errorf("a failed Load left %d variables in the store", store.NumVariables())
			}
		})
	}
}

func TestLoadWithoutMLMHead(t *testing.T) {
	dir, raw := copyTiny(t)
	// A BertModel-style checkpoint: no "bert." prefix, no MLM head, a pooler and the NSP head.
	stripped := map[string]rawTensor{}
	for name, r := range raw {
		if strings.HasPrefix(name, "cls.") {
			continue
		}
		stripped[strings.TrimPrefix(name, "bert.")] = r
	}
	stripped["pooler.dense.weight"] = raw["bert.encoder.layer.0.attention.self.query.weight"]
	stripped["pooler.dense.bias"] = raw["bert.encoder.layer.0.attention.self.query.bias"]
	stripped["cls.seq_relationship.bias"] = rawTensor{"F32", []int{2}, make([]byte, 8)}
	writeRaw(t, filepath.Join(dir, WeightsFile), stripped)

	store := model.NewStore()
	res, err := Load(dir, store.RootScope(), AllowMissingMLMHead(), IgnoreKnownExtras())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Fresh) != 5 || !res.HasPooler || !slices.Contains(res.Ignored, "cls.seq_relationship.bias") {
		t.Fatalf("Fresh=%v HasPooler=%v Ignored=%v", res.Fresh, res.HasPooler, res.Ignored)
	}
	// The fresh head is created on first use, with BERT's initialisation.
	var want tinyExpected
	readJSON(t, filepath.Join("testdata", "tiny-bert-expected.json"), &want)
	outs, err := model.CallOnceN(testBackend(), store, func(scope *model.Scope, ids, types, mask, positions *graph.Node) []*graph.Node {
		h := Encode(scope, res.Config, ids, types, mask)
		return []*graph.Node{h, MLMLogits(scope, res.Config, h, positions), Pooler(scope, res.Config, h)}
	}, tensor2(want.IDs), tensor2(want.TypeIDs), tensor2(want.Mask), tensor2(want.Positions))
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "hidden", tensors.MustCopyFlatData[float32](outs[0]), outs[0].Shape().Dimensions, want.Hidden, 1e-4)
	if d := outs[1].Shape().Dimensions; !slices.Equal(d, []int{3, 3, 100}) {
		t.Errorf("logits shape %v", d)
	}
	gain := tensors.MustCopyFlatData[float32](store.GetVariable("/mlm/layer_norm/layer_normalization/gain").MustValue())
	bias := tensors.MustCopyFlatData[float32](store.GetVariable("/mlm/bias").MustValue())
	w := tensors.MustCopyFlatData[float32](store.GetVariable("/mlm/transform/dense/weights").MustValue())
	var sq float64
	for _, x := range w {
		sq += float64(x) * float64(x)
	}
	std := math.Sqrt(sq / float64(len(w)))
	if r := res.Config.InitializerRange; gain[0] != 1 || bias[0] != 0 || std < r/2 || std > 1.5*r {
		t.Errorf("fresh head: gain[0]=%g bias[0]=%g weight std=%g, want 1, 0, ~%g", gain[0], bias[0], std, r)
	}
	// The pooler loaded from the checkpoint and round-trips through Save.
	out := filepath.Join(t.TempDir(), "with-pooler")
	if err := Save(out, store.RootScope(), res.Config); err != nil {
		t.Fatal(err)
	}
	saved := readRaw(t, filepath.Join(out, WeightsFile))
	if !bytes.Equal(saved["bert.pooler.dense.bias"].Data, stripped["pooler.dense.bias"].Data) {
		t.Error("pooler bias did not round-trip")
	}
	if _, ok := saved["cls.predictions.bias"]; !ok {
		t.Error("saved checkpoint lacks the (fresh) MLM head")
	}
}

func TestSaveRequiresEncoder(t *testing.T) {
	store := model.NewStore()
	err := Save(t.TempDir(), store.RootScope().In("empty"), Tiny())
	if err == nil || !strings.Contains(err.Error(), "embeddings/word/embeddings") {
		t.Errorf("Save of an empty scope: err = %v, want one naming the missing variable", err)
	}
}
