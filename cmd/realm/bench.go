package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/mips"
	"github.com/realm-go/realm/perf"
)

func runBench(ctx context.Context, args []string) error {
	return bench(ctx, args, os.Stdout, os.Stderr)
}

// bench is `realm bench`: the model workloads of package perf and the MIPS benchmark, each
// beside its peer (PyTorch, FAISS) when the peer can run here.
func bench(ctx context.Context, args []string, out, progress io.Writer) error {
	fs := newFlags("bench", "Benchmarks realm-go against its peers on this machine:\n"+
		"  models: one REALM pre-training step (8 queries × 64 tokens, k = 8 documents × 128, BERT L2/H128/A2,\n"+
		"          d = 128), BERT MLM steps L2/H128/A2 and L4/H256/A4 (16 × 128 tokens), document embedding\n"+
		"          (32 blocks × 288 tokens): wall and CPU seconds per step, CPU utilisation, peak RSS;\n"+
		"  MIPS:   exact and HNSW (ours and coder/hnsw) on clustered and random 128-d vectors, recall@10 and\n"+
		"          queries/s over efSearch.\n"+
		"With -peer (the default), bench/torch_bert.py (PyTorch) and bench/mips_faiss.py (FAISS) of the\n"+
		"repository (found from the working directory) run the same workloads when -python imports torch,\n"+
		"or faiss and numpy, and the ratios ours/peer are printed; otherwise a line says why they were\n"+
		"skipped. Figures depend on the load of the machine.")
	models := fs.Bool("models", true, "run the model workloads")
	mipsOn := fs.Bool("mips", true, "run the MIPS benchmark")
	steps := fs.Int("steps", 3, "timed steps per model workload, after one untimed call (embedding: 3× as many)")
	n := fs.Int("n", 100000, "MIPS: documents")
	large := fs.Bool("large", false, "MIPS: also N = 1,000,000 (512 MB of vectors; minutes per index)")
	queries := fs.Int("queries", 1000, "MIPS: queries per data set")
	skipCoder := fs.Bool("skip-coder", false, "MIPS: leave out coder/hnsw (its build is single-threaded)")
	dump := fs.String("dump", "", "MIPS: write the data sets as .fvecs files here (for bench/mips_faiss.py; -peer uses a temporary directory otherwise)")
	peerOn := fs.Bool("peer", true, "run the peers (PyTorch, FAISS) when they can run here, and print ratios")
	python := fs.String("python", os.Getenv("REALM_PYTHON"), "peer: Python interpreter ($REALM_PYTHON sets the default; empty: the first of python3,\n"+
		"/usr/bin/python3 that imports torch, and of the repository's .venv/bin/python, python3, /usr/bin/python3 that imports faiss)")
	torchThreads := fs.String("torch-threads", "1,2", "peer: the torch.set_num_threads settings to try; each workload is compared with the faster")
	minRecall := fs.Float64("min-recall", 0.98, "MIPS peer: compare HNSW at the fastest efSearch reaching this recall@10")
	tiny := fs.Bool("tiny", false, "toy model shapes and short MIPS timings (a smoke test: seconds; no PyTorch peer)")
	timeout := fs.Duration("timeout", 2*time.Hour, "give up (with a goroutine dump) after this long; 0: never")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *n <= 0 || *queries <= 0:
		return fmt.Errorf("-n and -queries must be > 0")
	case *steps <= 0:
		return fmt.Errorf("-steps must be > 0")
	case *minRecall <= 0 || *minRecall > 1:
		return fmt.Errorf("-min-recall must be in (0, 1]")
	case !*models && !*mipsOn:
		return fmt.Errorf("nothing to run: -models=false and -mips=false")
	}
	var threads []int
	for _, f := range strings.Split(*torchThreads, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || t <= 0 {
			return fmt.Errorf("-torch-threads %q: want positive integers separated by commas", *torchThreads)
		}
		threads = append(threads, t)
	}
	defer watchdog(*timeout)()
	var torchPeer, faissPeer perf.Peer
	if *peerOn {
		peer := perf.Peer{Python: *python, Stderr: progress}
		wd, _ := os.Getwd()
		peer.Root, _ = perf.RepoRoot(wd) // "" when not found: the peers report it.
		torchPeer = peer.Choose(ctx, []string{"torch"}, "python3", "/usr/bin/python3")
		faissPeer = peer.Choose(ctx, []string{"faiss", "numpy"}, filepath.Join(peer.Root, ".venv", "bin", "python"), "python3", "/usr/bin/python3")
	}
	// peerFailed reports a peer that did not run (our figures stand without it); only an
	// interruption stops the command.
	peerFailed := func(what string, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s, ok := perf.IsSkipped(err); ok {
			fmt.Fprintf(out, "%s peer skipped: %s\n", what, s.Reason)
		} else {
			fmt.Fprintf(out, "%s peer failed: %v\n", what, err)
		}
		return nil
	}

	if *models {
		be, err := backend.New()
		if err != nil {
			return err
		}
		cases := perf.Standard(be)
		if *tiny {
			cases = perf.Tiny(be)
		}
		fmt.Fprintf(out, "== models: %d timed steps each, backend %s, GOMAXPROCS=%d ==\n", *steps, backend.Config(), runtime.GOMAXPROCS(0))
		var ours []perf.Result
		for _, c := range cases {
			if err := ctx.Err(); err != nil {
				return err
			}
			fmt.Fprintf(progress, "bench: %s\n", c.Label)
			r, err := c.Run(*steps)
			if err != nil {
				return err
			}
			ours = append(ours, r)
		}
		var torch []perf.TorchResult
		switch {
		case !*peerOn:
		case *tiny:
			fmt.Fprintln(out, "PyTorch peer skipped: -tiny shapes have no peer")
		default:
			err := torchPeer.CheckTorch(ctx)
			if err == nil {
				fmt.Fprintf(progress, "bench: PyTorch peer (%s bench/torch_bert.py --threads %s, the faster kept)\n", torchPeer.Python, *torchThreads)
				torch, err = torchPeer.TorchBest(ctx, *steps, threads)
			}
			if err != nil {
				torch = nil
				if err := peerFailed("PyTorch", err); err != nil {
					return err
				}
			}
		}
		if err := perf.WriteModelTable(out, ours, torch); err != nil {
			return err
		}
	}

	if *mipsOn {
		cfg := mips.BenchConfig{Sizes: []int{*n}, Large: *large, Queries: *queries, SkipCoder: *skipCoder, DumpDir: *dump}
		if *tiny {
			cfg.MinTime = 50 * time.Millisecond
		}
		faiss := false
		if *peerOn {
			if err := faissPeer.CheckFAISS(ctx); err != nil {
				fmt.Fprintln(out)
				if err := peerFailed("FAISS", err); err != nil {
					return err
				}
			} else {
				faiss = true
				if cfg.DumpDir == "" {
					dir, err := os.MkdirTemp("", "realm-bench-mips-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(dir)
					cfg.DumpDir = dir
				}
			}
		}
		ours, err := mips.Benchmark(ctx, out, cfg)
		if err != nil {
			return err
		}
		if faiss {
			fmt.Fprintf(progress, "bench: FAISS peer (%s bench/mips_faiss.py --dir %s)\n", faissPeer.Python, cfg.DumpDir)
			o := perf.FAISSOptions{EfSearch: []int{16, 32, 64, 128, 256}}
			if *tiny {
				o.MinTime = 0.05
			}
			peerRes, err := faissPeer.FAISS(ctx, cfg.DumpDir, o)
			if err != nil {
				fmt.Fprintln(out)
				return peerFailed("FAISS", err)
			}
			fmt.Fprintf(out, "\n== MIPS, ours vs FAISS (queries/s) ==\n")
			return perf.WriteMIPSTable(out, ours, peerRes, *minRecall)
		}
	}
	return nil
}
