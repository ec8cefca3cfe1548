// Command mipsbench prints the mips package's benchmark table (mips.RunBenchmark) and can
// dump the data sets as .fvecs for bench/mips_faiss.py.
//
//	GOEXPERIMENT=simd go run ./mips/cmd/mipsbench -n 100000 -dump /tmp/mipsdata
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/realm-go/realm/mips"
)

func main() {
	n := flag.String("n", "100000", "comma-separated document counts")
	large := flag.Bool("large", false, "also run N=1,000,000 (512 MB of vectors at d=128)")
	datasets := flag.String("data", "clustered,random", "comma-separated data sets")
	queries := flag.Int("queries", 1000, "queries per data set")
	dump := flag.String("dump", "", "directory to write the data sets as .fvecs")
	skipCoder := flag.Bool("skip-coder", false, "leave out coder/hnsw")
	m := flag.Int("m", 16, "HNSW M")
	efc := flag.Int("efc", 200, "HNSW efConstruction")
	flag.Parse()
	var sizes []int
	for _, s := range strings.Split(*n, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fmt.Fprintf(os.Stderr, "mipsbench: bad -n %q: %v\n", s, err)
			os.Exit(2)
		}
		sizes = append(sizes, v)
	}
	cfg := mips.BenchConfig{Sizes: sizes, Large: *large, Datasets: strings.Split(*datasets, ","), Queries: *queries,
		DumpDir: *dump, SkipCoder: *skipCoder,
		HNSW:  mips.HNSWConfig{M: *m, EfConstruction: *efc},
		Coder: mips.CoderConfig{M: *m, EfConstruction: *efc}}
	if err := mips.RunBenchmark(context.Background(), os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "mipsbench:", err)
		os.Exit(1)
	}
}
