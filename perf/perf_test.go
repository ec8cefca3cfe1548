package perf

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/mips"
)

// TestTinyWorkloads builds and runs every workload once at toy size, through Case.Run and
// through Workload.Benchmark.
func TestTinyWorkloads(t *testing.T) {
	cases := Tiny(backend.MustNew())
	if len(cases) != 3 {
		t.Fatalf("%d tiny cases", len(cases))
	}
	for _, c := range cases {
		r, err := c.Run(1)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", r)
		if r.Bench != c.Bench || r.Config != c.Config || r.Label != c.Label {
			t.Errorf("result names %q %q %q, case %q %q %q", r.Bench, r.Config, r.Label, c.Bench, c.Config, c.Label)
		}
		if r.Steps != max(c.Steps, 1) || r.Wall <= 0 || r.MeanWall <= 0 || r.Setup <= 0 || r.PeakRSS <= 0 {
			t.Errorf("%s: implausible result %+v", c.Label, r)
		}
		if (r.Units > 0) != (r.UnitsPerSec > 0) || (c.Bench == "embed_docs") != (r.Units > 0) {
			t.Errorf("%s: units %d, %v/s", c.Label, r.Units, r.UnitsPerSec)
		}
	}
	w, err := cases[0].New()
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeB{n: 2, metrics: map[string]float64{}}
	w.Benchmark(fb)
	for _, m := range []string{"cpu-s/op", "cpu-util", "blocks/s"} {
		if _, ok := fb.metrics[m]; !ok {
			t.Errorf("Benchmark did not report %s: %v", m, fb.metrics)
		}
	}
}

type fakeB struct {
	n       int
	metrics map[string]float64
}

func (b *fakeB) Loop() bool                          { b.n--; return b.n >= 0 }
func (b *fakeB) ReportMetric(v float64, unit string) { b.metrics[unit] = v }
func (b *fakeB) Fatal(args ...any)                   { panic(args) }

func TestWriteModelTable(t *testing.T) {
	ours := []Result{
		{Bench: "bert_train_step", Config: "L2_H128_A2", Label: "BERT L2", Wall: 2 * time.Second, CPU: 3 * time.Second, Util: 1.5, PeakRSS: 100 << 20, PeakRSSOwn: true},
		{Bench: "embed_docs", Config: "S288", Label: "embed", Wall: time.Second, CPU: time.Second, PeakRSS: 50 << 20, PeakRSSOwn: true, Units: 32, UnitName: "blocks", UnitsPerSec: 32},
		{Bench: "realm_train_step", Config: "other", Label: "REALM", Wall: time.Second, PeakRSSOwn: true},
	}
	peer := []TorchResult{
		{Bench: "bert_train_step", Config: "L2_H128_A2", Impl: "torch-x", Threads: 2, SecPerOp: 0.5, CPUSecPerOp: 1.5, PeakRSSMB: 500},
		{Bench: "embed_docs", Config: "S288", SecPerOp: 0.25, CPUSecPerOp: 0.5, BlocksPerSec: 128},
	}
	var b bytes.Buffer
	if err := WriteModelTable(&b, ours, peer); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{"ours wall s", "peak RSS MiB", "wall ours/torch", "4.00", "2.00", "embed: ours 32.0 blocks/s, PyTorch 128.0", "torch-x; torch.set_num_threads per workload, the faster setting tried: BERT L2 2, embed 0", "each workload's own"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if line := lineWith(out, "REALM"); strings.Count(line, "–") != 5 {
		t.Errorf("unmatched workload row %q: want 5 dashes", line)
	}
	b.Reset()
	if err := WriteModelTable(&b, ours[:1], nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "torch") {
		t.Errorf("table without peer mentions torch:\n%s", b.String())
	}
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestWriteMIPSTable checks matching by data set and the matched-recall choice: the fastest
// efSearch with recall ≥ the threshold on each side, or a dash when a side never reaches it.
func TestWriteMIPSTable(t *testing.T) {
	ours := []mips.BenchResult{{Dataset: "clustered", N: 1000, Dim: 8, K: 10, ExactSingleQPS: 300, ExactBatch: 256, ExactBatchQPS: 1000,
		HNSW: []mips.EfResult{{EfSearch: 16, Recall: 0.9, QPS: 9000, ParallelQPS: 18000}, {EfSearch: 32, Recall: 0.985, QPS: 4000, ParallelQPS: 8000}, {EfSearch: 64, Recall: 0.99, QPS: 2000, ParallelQPS: 4000}}},
		{Dataset: "random", N: 1000, Dim: 8, K: 10, HNSW: []mips.EfResult{{EfSearch: 16, Recall: 0.5, QPS: 1}}},
		{Dataset: "random", N: 5, Dim: 8, K: 10}}
	peer := []FAISSResult{{Dataset: "clustered", N: 1000, Dim: 8, K: 10, Impl: "faiss-x", Threads: 2, FlatSingleQPS: 100, FlatBatch: 256, FlatBatchQPS: 2000,
		HNSW: []FAISSEfRow{{Ef: 16, Recall: 0.99, QPSSingle: 2000, QPSBatch: 16000}, {Ef: 32, Recall: 1, QPSSingle: 1000, QPSBatch: 8000}}},
		{Dataset: "random", N: 1000, Dim: 8, K: 10, HNSW: []FAISSEfRow{{Ef: 16, Recall: 0.99, QPSSingle: 5}}}}
	var b bytes.Buffer
	if err := WriteMIPSTable(&b, ours, peer, 0.98); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for sub, want := range map[string][]string{
		"clustered N=1000  exact, single query": {"300", "100", "3.00"},
		"clustered N=1000  exact, batch":        {"1000", "2000", "0.50"},
		"clustered N=1000  HNSW single query":   {"4000 (ef=32, r=0.985)", "2000 (ef=16, r=0.990)", "2.00"},
		"clustered N=1000  HNSW all cores":      {"8000 (ef=32", "16000 (ef=16", "0.50"},
		"random N=1000     HNSW single query":   {"– (best recall 0.500)", "5 (ef=16"},
	} {
		line := lineWith(out, sub)
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("row %q lacks %q: %q", sub, w, line)
			}
		}
	}
	if strings.Contains(out, "N=5") {
		t.Error("a result without FAISS peer was printed")
	}
}

// TestPeer runs the peer machinery with a fake interpreter: a shell script that imports
// anything and prints the JSON lines the real scripts print.
func TestPeer(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bench", "torch_bert.py")); err != nil {
		t.Fatalf("RepoRoot = %s: %v", root, err)
	}
	if _, err := RepoRoot(t.TempDir()); err == nil {
		t.Error("RepoRoot found a module above a temporary directory")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "python")
	script := `#!/bin/sh
case "$1" in
-c) exit 0 ;;
*torch_bert.py) echo 'not json'; echo "{\"bench\": \"bert_train_step\", \"config\": \"L2_H128_A2\", \"impl\": \"torch-fake\", \"threads\": $5, \"sec_per_op\": 0.$((3 + $5))}" ;;
*mips_faiss.py) echo '{"dataset": "clustered", "n": 100, "dim": 8, "k": 10, "flat_single_qps": 7, "hnsw": [{"ef": 16, "recall": 1, "qps_single": 3, "qps_batch": 4}]}' ;;
esac
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := Peer{Python: fake, Root: root}
	if err := p.CheckTorch(ctx); err != nil {
		t.Fatal(err)
	}
	tr, err := p.Torch(ctx, 1, 2)
	if err != nil || len(tr) != 1 || tr[0].SecPerOp != 0.5 || tr[0].Config != "L2_H128_A2" {
		t.Fatalf("Torch = %+v, %v", tr, err)
	}
	// The fake is faster with fewer threads (0.3 + threads/10 s): TorchBest keeps 1 thread's.
	tr, err = p.TorchBest(ctx, 1, []int{2, 1, 3})
	if err != nil || len(tr) != 1 || tr[0].Threads != 1 || tr[0].SecPerOp != 0.4 {
		t.Fatalf("TorchBest = %+v, %v", tr, err)
	}
	fr, err := p.FAISS(ctx, dir, FAISSOptions{MinTime: 0.01, EfSearch: []int{16}})
	if err != nil || len(fr) != 1 || fr[0].N != 100 || len(fr[0].HNSW) != 1 || fr[0].HNSW[0].QPSBatch != 4 {
		t.Fatalf("FAISS = %+v, %v", fr, err)
	}
	// Skips: a missing interpreter, a module that does not import, no repository.
	for _, tc := range []struct {
		p    Peer
		want string
	}{
		{Peer{Python: filepath.Join(dir, "no-python"), Root: root}, "cannot run"},
		{Peer{Python: "/bin/false", Root: root}, "torch not importable by /bin/false"},
		{Peer{Python: fake}, "not found"},
	} {
		err := tc.p.CheckTorch(ctx)
		s, ok := IsSkipped(err)
		if !ok || !strings.Contains(s.Reason, tc.want) {
			t.Errorf("CheckTorch with %+v = %v, want a skip with %q", tc.p, err, tc.want)
		}
	}
}

// TestPeerChoose checks that Choose takes the first interpreter that imports the modules,
// keeps an interpreter given explicitly, and leaves the peer unchanged when none does.
func TestPeerChoose(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fake := filepath.Join(dir, "python")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	if got := (Peer{}).Choose(ctx, []string{"faiss"}, missing, "/bin/false", fake).Python; got != fake {
		t.Errorf("Choose picked %q, want %q", got, fake)
	}
	if got := (Peer{Python: "/bin/false"}).Choose(ctx, []string{"faiss"}, fake).Python; got != "/bin/false" {
		t.Errorf("Choose replaced the explicit interpreter with %q", got)
	}
	if got := (Peer{}).Choose(ctx, []string{"faiss"}, missing, "/bin/false").Python; got != "" {
		t.Errorf("Choose with no working interpreter = %q, want the peer unchanged", got)
	}
}
