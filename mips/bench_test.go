package mips

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

func TestRunBenchmarkTableAndDump(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	cfg := BenchConfig{Sizes: []int{2000}, Dim: 16, Queries: 40, Clusters: 10, EfSearch: []int{16, 128},
		MinTime: 5 * time.Millisecond, DumpDir: dir, Datasets: []string{"clustered"},
		HNSW: HNSWConfig{M: 8, EfConstruction: 64}, Coder: CoderConfig{M: 8, EfConstruction: 32}}
	if err := RunBenchmark(context.Background(), &out, cfg); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	// One row per index and efSearch, each with a recall in [0, 1].
	rows := regexp.MustCompile(`(?m)^\s*(hnsw|coder/hnsw) M=8 .*\s(\d+)\s+([01]\.\d{4})\s`).FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 4 {
		t.Fatalf("want 4 index rows, got %d:\n%s", len(rows), out.String())
	}
	for _, r := range rows {
		rec, _ := strconv.ParseFloat(r[3], 64)
		if r[1] == "hnsw" && r[2] == "128" && rec < 0.95 {
			t.Errorf("hnsw recall at ef=128 on 2000 clustered points = %v", rec)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "clustered-2000-base.fvecs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2000*(16+1)*4 {
		t.Fatalf("fvecs size %d, want %d", len(raw), 2000*17*4)
	}
	docs, _, _ := BenchData("clustered", 1, 2000, 40, 16, 10)
	if dim := binary.LittleEndian.Uint32(raw); dim != 16 {
		t.Fatalf("fvecs dimension %d", dim)
	}
	last := raw[len(raw)-16*4:]
	for j := 0; j < 16; j++ {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(last[4*j:])); got != docs[1999*16+j] {
			t.Fatalf("fvecs last vector component %d = %v, want %v", j, got, docs[1999*16+j])
		}
	}
	if _, _, err := BenchData("nope", 1, 1, 1, 1, 1); err == nil {
		t.Error("unknown data set accepted")
	}
}
