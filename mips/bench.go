package mips

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"text/tabwriter"
	"time"
)

// BenchConfig configures RunBenchmark. Zero values take the defaults in brackets.
type BenchConfig struct {
	Sizes     []int    // document counts [100000].
	Large     bool     // also run N=1,000,000 (512 MB of vectors at d=128, minutes per index).
	Dim       int      // embedding dimension [128].
	K         int      // results per query [10].
	Queries   int      // queries per data set for recall and HNSW QPS [1000].
	Clusters  int      // Gaussian-mixture components of the clustered data [100].
	Seed      uint64   // data seed [1].
	Datasets  []string // "clustered" and/or "random" [both].
	EfSearch  []int    // efSearch sweep [16 32 64 128 256].
	HNSW      HNSWConfig
	Coder     CoderConfig
	SkipCoder bool          // leave out coder/hnsw (single-threaded build: ~35 s per 100k).
	MinTime   time.Duration // minimum measuring time per QPS figure [1s].
	// DumpDir, if set, receives each data set as <name>-<N>-base.fvecs / -query.fvecs
	// (int32 dimension, then float32 components, per vector) for bench/mips_faiss.py.
	DumpDir string
}

func (c BenchConfig) withDefaults() BenchConfig {
	if len(c.Sizes) == 0 {
		c.Sizes = []int{100_000}
	}
	if c.Large && !slices.Contains(c.Sizes, 1_000_000) {
		c.Sizes = append(c.Sizes, 1_000_000)
	}
	if c.Dim <= 0 {
		c.Dim = 128
	}
	if c.K <= 0 {
		c.K = 10
	}
	if c.Queries <= 0 {
		c.Queries = 1000
	}
	if c.Clusters <= 0 {
		c.Clusters = 100
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if len(c.Datasets) == 0 {
		c.Datasets = []string{"clustered", "random"}
	}
	if len(c.EfSearch) == 0 {
		c.EfSearch = []int{16, 32, 64, 128, 256}
	}
	if c.MinTime <= 0 {
		c.MinTime = time.Second
	}
	return c
}

// BenchData generates the named data set ("clustered" or "random") exactly as RunBenchmark
// does, so other tools can reproduce the figures.
func BenchData(name string, seed uint64, n, nq, dim, clusters int) (docs, queries []float32, err error) {
	switch name {
	case "clustered":
		docs, queries = Clustered(seed, n, nq, dim, clusters)
	case "random":
		docs, queries = Random(seed, n, nq, dim)
	default:
		return nil, nil, fmt.Errorf("mips: unknown benchmark data set %q (want clustered or random)", name)
	}
	return docs, queries, nil
}

// BenchResult holds the figures RunBenchmark prints for one data set and size.
type BenchResult struct {
	// Dataset is "clustered" or "random"; N the number of documents; Dim, K and Queries as in
	// BenchConfig.
	Dataset            string
	N, Dim, K, Queries int
	// ExactBuild is the exact index's build time.
	ExactBuild time.Duration
	// ExactSingleQPS is exact search with one query per call on one goroutine; ExactBatchQPS
	// with ExactBatch queries per call (256, or Queries when fewer).
	ExactSingleQPS, ExactBatchQPS float64
	ExactBatch                    int
	// HNSW and Coder are the efSearch sweeps of HNSW and coder/hnsw (nil when skipped), with
	// their labels, e.g. "hnsw M=16 efC=200".
	HNSW, Coder           []EfResult
	HNSWLabel, CoderLabel string
}

// EfResult is one row of an efSearch sweep.
type EfResult struct {
	// EfSearch is the size of the candidate list while searching.
	EfSearch int
	// Recall is recall@K against exact search.
	Recall float64
	// QPS is single-query throughput on one goroutine; ParallelQPS on GOMAXPROCS goroutines.
	QPS, ParallelQPS float64
	// Build is the index's build time; Memory the heap growth it caused, in bytes.
	Build  time.Duration
	Memory float64
}

// RunBenchmark measures the package's indexes and prints one table per data set and size:
// exact search single-query and batch-256 QPS, then for HNSW and coder/hnsw the build time,
// heap memory and recall@k / single-query QPS over the efSearch sweep (QPS on one
// goroutine, and on GOMAXPROCS goroutines in parallel). Figures depend on machine load.
func RunBenchmark(ctx context.Context, w io.Writer, cfg BenchConfig) error {
	_, err := Benchmark(ctx, w, cfg)
	return err
}

// Benchmark is RunBenchmark that also returns the figures it printed, one BenchResult per
// size and data set, in the order printed.
func Benchmark(ctx context.Context, w io.Writer, cfg BenchConfig) ([]BenchResult, error) {
	cfg = cfg.withDefaults()
	var out []BenchResult
	for _, n := range cfg.Sizes {
		for _, name := range cfg.Datasets {
			r, err := benchOne(ctx, w, cfg, name, n)
			if err != nil {
				return out, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func benchOne(ctx context.Context, w io.Writer, cfg BenchConfig, name string, n int) (res BenchResult, err error) {
	d, k := cfg.Dim, cfg.K
	res = BenchResult{Dataset: name, N: n, Dim: d, K: k, Queries: cfg.Queries}
	docs, qs, err := BenchData(name, cfg.Seed, n, cfg.Queries, d, cfg.Clusters)
	if err != nil {
		return res, err
	}
	if cfg.DumpDir != "" {
		base := filepath.Join(cfg.DumpDir, fmt.Sprintf("%s-%d", name, n))
		if err := WriteFvecs(base+"-base.fvecs", docs, d); err != nil {
			return res, err
		}
		if err := WriteFvecs(base+"-query.fvecs", qs, d); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(w, "\n== %s N=%d d=%d k=%d queries=%d GOMAXPROCS=%d SIMD=%v ==\n", name, n, d, k, cfg.Queries, runtime.GOMAXPROCS(0), useSIMD)
	var ex *Exact
	mem, buildTime := measureBuild(func() { ex, err = NewExact(docs, nil, d) })
	if err != nil {
		return res, err
	}
	truth, err := ex.Search(qs, k)
	if err != nil {
		return res, err
	}
	single := qpsSingle(cfg.MinTime, qs, d, func(q []float32) { ex.Search(q, k) })
	nb := min(256, cfg.Queries)
	batch := qps(cfg.MinTime, nb, func() { ex.Search(qs[:nb*d], k) })
	res.ExactBuild, res.ExactSingleQPS, res.ExactBatch, res.ExactBatchQPS = buildTime, single, nb, batch
	fmt.Fprintf(w, "exact: build %v, memory %.1f MB, single-query %.0f QPS, batch-%d %.0f QPS\n",
		buildTime.Round(time.Millisecond), mem/1e6, single, nb, batch)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "index\tbuild\tmemory MB\tefSearch\trecall@k\tQPS 1 goroutine\tQPS parallel\t")
	ef := func(setEf func(int), search func([]float32) ([][]Result, error), label string, build time.Duration, mem float64, rows *[]EfResult) error {
		for _, e := range cfg.EfSearch {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			setEf(e)
			got, err := search(qs)
			if err != nil {
				return err
			}
			r := Recall(got, truth)
			q1 := qpsSingle(cfg.MinTime, qs, d, func(q []float32) { search(q) })
			qp := qpsParallel(cfg.MinTime, qs, d, func(q []float32) { search(q) })
			fmt.Fprintf(tw, "%s\t%.1fs\t%.1f\t%d\t%.4f\t%.0f\t%.0f\t\n", label, build.Seconds(), mem/1e6, e, r, q1, qp)
			*rows = append(*rows, EfResult{EfSearch: e, Recall: r, QPS: q1, ParallelQPS: qp, Build: build, Memory: mem})
		}
		return nil
	}
	var h *HNSW
	mem, buildTime = measureBuild(func() { h, err = NewHNSW(ctx, docs, nil, d, cfg.HNSW) })
	if err != nil {
		return res, err
	}
	hc := h.Config()
	res.HNSWLabel = fmt.Sprintf("hnsw M=%d efC=%d", hc.M, hc.EfConstruction)
	if err := ef(h.SetEfSearch, func(q []float32) ([][]Result, error) { return h.Search(q, k) },
		res.HNSWLabel, buildTime, mem, &res.HNSW); err != nil {
		return res, err
	}
	h = nil
	if !cfg.SkipCoder {
		var c *CoderHNSW
		mem, buildTime = measureBuild(func() { c, err = NewCoderHNSW(ctx, docs, nil, d, cfg.Coder) })
		if err != nil {
			return res, err
		}
		cc := c.cfg
		res.CoderLabel = fmt.Sprintf("coder/hnsw M=%d efC=%d", cc.M, cc.EfConstruction)
		if err := ef(c.SetEfSearch, func(q []float32) ([][]Result, error) { return c.Search(q, k) },
			res.CoderLabel, buildTime, mem, &res.Coder); err != nil {
			return res, err
		}
	}
	return res, tw.Flush()
}

// measureBuild runs build and returns the heap growth it caused and its duration.
func measureBuild(build func()) (float64, time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	build()
	dt := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	return math.Max(0, float64(after.HeapAlloc)-float64(before.HeapAlloc)), dt
}

// qps runs fn (serving perCall queries) repeatedly for at least minTime.
func qps(minTime time.Duration, perCall int, fn func()) float64 {
	fn() // warm up.
	start, calls := time.Now(), 0
	for time.Since(start) < minTime {
		fn()
		calls++
	}
	return float64(calls*perCall) / time.Since(start).Seconds()
}

// qpsSingle cycles through the queries one at a time on one goroutine.
func qpsSingle(minTime time.Duration, qs []float32, d int, fn func([]float32)) float64 {
	nq, i := len(qs)/d, 0
	return qps(minTime, 1, func() {
		fn(qs[(i%nq)*d : (i%nq+1)*d])
		i++
	})
}

// qpsParallel runs single queries on GOMAXPROCS goroutines at once.
func qpsParallel(minTime time.Duration, qs []float32, d int, fn func([]float32)) float64 {
	p := runtime.GOMAXPROCS(0)
	nq := len(qs) / d
	var wg sync.WaitGroup
	counts := make([]int, p)
	start := time.Now()
	for g := 0; g < p; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; time.Since(start) < minTime; i += p {
				fn(qs[(i%nq)*d : (i%nq+1)*d])
				counts[g]++
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, c := range counts {
		total += c
	}
	return float64(total) / time.Since(start).Seconds()
}

// WriteFvecs writes vectors (row-major, n×dim) in the .fvecs format used by ANN benchmarks
// and FAISS tools (per vector: int32 dimension, then dim float32, little-endian), through a
// temporary file that is renamed.
func WriteFvecs(path string, vectors []float32, dim int) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("mips: writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("mips: writing %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	var b [4]byte
	for i := 0; i+dim <= len(vectors); i += dim {
		binary.LittleEndian.PutUint32(b[:], uint32(dim))
		bw.Write(b[:])
		for _, v := range vectors[i : i+dim] {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			bw.Write(b[:])
		}
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
