package perf

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/realm-go/realm/mips"
)

const mib = 1 << 20

// WriteModelTable prints ours beside the PyTorch peer's results for the same workloads
// (matched by Bench and Config; peer may be nil), with the ratios ours / PyTorch of wall and
// CPU seconds per step (below 1: ours is faster).
func WriteModelTable(w io.Writer, ours []Result, peer []TorchResult) error {
	byKey := map[[2]string]TorchResult{}
	for _, r := range peer {
		byKey[[2]string{r.Bench, r.Config}] = r
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "workload\tours wall s\tours CPU s\tutil\tpeak RSS MiB\tfirst call s"
	if len(peer) > 0 {
		head += "\ttorch wall s\ttorch CPU s\ttorch RSS MiB\twall ours/torch\tCPU ours/torch"
	}
	fmt.Fprintln(tw, head+"\t")
	var notes []string
	for _, r := range ours {
		rss := fmt.Sprintf("%.0f", float64(r.PeakRSS)/mib)
		if !r.PeakRSSOwn {
			rss += "*"
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.2f\t%s\t%.1f", r.Label, r.Wall.Seconds(), r.CPU.Seconds(), r.Util, rss, r.Setup.Seconds())
		if len(peer) > 0 {
			if t, ok := byKey[[2]string{r.Bench, r.Config}]; ok {
				fmt.Fprintf(tw, "\t%.3f\t%.3f\t%.0f\t%s\t%s", t.SecPerOp, t.CPUSecPerOp, t.PeakRSSMB,
					ratio(r.Wall.Seconds(), t.SecPerOp), ratio(r.CPU.Seconds(), t.CPUSecPerOp))
				if r.UnitsPerSec > 0 && t.BlocksPerSec > 0 {
					notes = append(notes, fmt.Sprintf("%s: ours %.1f %s/s, PyTorch %.1f", r.Label, r.UnitsPerSec, r.UnitName, t.BlocksPerSec))
				}
			} else {
				fmt.Fprint(tw, "\t–\t–\t–\t–\t–")
			}
		}
		if r.UnitsPerSec > 0 && len(peer) == 0 {
			notes = append(notes, fmt.Sprintf("%s: %.1f %s/s", r.Label, r.UnitsPerSec, r.UnitName))
		}
		fmt.Fprintln(tw, "\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	fmt.Fprintln(w, "wall: median seconds per step; CPU: user+sys seconds of the whole process per step; util = CPU/wall (2 = two cores busy);\n"+
		"first call: graph build, compilation and initialisation (not timed in the steps).")
	own := true
	for _, r := range ours {
		own = own && r.PeakRSSOwn
	}
	if own {
		fmt.Fprintln(w, "peak RSS: each workload's own (reset before it was built; compilation included).")
	} else {
		fmt.Fprintln(w, "peak RSS: * = the process's peak so far (could not be reset here; workloads run in ascending memory order).")
	}
	if len(peer) > 0 {
		var settings []string
		for _, r := range ours {
			if t, ok := byKey[[2]string{r.Bench, r.Config}]; ok {
				settings = append(settings, fmt.Sprintf("%s %d", r.Label, t.Threads))
			}
		}
		fmt.Fprintf(w, "PyTorch (%s; torch.set_num_threads per workload, the faster setting tried: %s): peak RSS is its process's peak so far; ratios below 1 mean ours is faster.\n",
			peer[0].Impl, strings.Join(settings, ", "))
	}
	return nil
}

// WriteMIPSTable prints, for each of our MIPS benchmark results with a FAISS result for the
// same data set and size, the queries per second of both and the ratios ours / FAISS (above 1:
// ours is faster): exact search single-query and batch, and HNSW at matched recall (the
// fastest efSearch of each side with recall@k ≥ minRecall), one query at a time and using
// every core (ours: parallel goroutines; FAISS: one batch call on its OpenMP threads).
func WriteMIPSTable(w io.Writer, ours []mips.BenchResult, peer []FAISSResult, minRecall float64) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "data set\tmeasure\tours QPS\tFAISS QPS\tours/FAISS\t")
	matched := 0
	for _, o := range ours {
		var f *FAISSResult
		for i := range peer {
			if peer[i].Dataset == o.Dataset && peer[i].N == o.N && peer[i].Dim == o.Dim && peer[i].K == o.K {
				f = &peer[i]
			}
		}
		if f == nil {
			continue
		}
		matched++
		name := fmt.Sprintf("%s N=%d", o.Dataset, o.N)
		fmt.Fprintf(tw, "%s\texact, single query\t%.0f\t%.0f\t%s\t\n", name, o.ExactSingleQPS, f.FlatSingleQPS, ratio(o.ExactSingleQPS, f.FlatSingleQPS))
		fmt.Fprintf(tw, "%s\texact, batch of %d / %d\t%.0f\t%.0f\t%s\t\n", name, o.ExactBatch, f.FlatBatch, o.ExactBatchQPS, f.FlatBatchQPS, ratio(o.ExactBatchQPS, f.FlatBatchQPS))
		oRecall := func(r mips.EfResult) float64 { return r.Recall }
		fRecall := func(r FAISSEfRow) float64 { return r.Recall }
		for _, m := range []struct {
			what string
			ours func(mips.EfResult) float64
			peer func(FAISSEfRow) float64
		}{
			{"HNSW single query", func(r mips.EfResult) float64 { return r.QPS }, func(r FAISSEfRow) float64 { return r.QPSSingle }},
			{"HNSW all cores", func(r mips.EfResult) float64 { return r.ParallelQPS }, func(r FAISSEfRow) float64 { return r.QPSBatch }},
		} {
			ob, oOK := best(o.HNSW, minRecall, oRecall, m.ours)
			fb, fOK := best(f.HNSW, minRecall, fRecall, m.peer)
			fmt.Fprintf(tw, "%s\t%s, recall@%d ≥ %.2f\t%s\t%s\t%s\t\n", name, m.what, o.K, minRecall,
				efCell(oOK, m.ours(ob), ob.EfSearch, ob.Recall), efCell(fOK, m.peer(fb), fb.Ef, fb.Recall),
				matchedRatio(m.ours(ob), m.peer(fb), oOK && fOK))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if matched == 0 {
		_, err := fmt.Fprintln(w, "(no FAISS result for the same data sets)")
		return err
	}
	_, err := fmt.Fprintf(w, "QPS ratios above 1 mean ours is faster. HNSW rows compare each side's fastest efSearch reaching the recall; "+
		"'all cores' is ours on parallel goroutines vs FAISS batch search on %d threads (%s).\n", peer[0].Threads, peer[0].Impl)
	return err
}

// best returns the row with the highest QPS among those with recall ≥ minRecall, and true; or,
// when no row reaches minRecall, the row with the best recall, and false.
func best[R any](rows []R, minRecall float64, recall, qps func(R) float64) (R, bool) {
	var b R
	ok := false
	for _, r := range rows {
		if recall(r) >= minRecall && (!ok || qps(r) > qps(b)) {
			b, ok = r, true
		}
	}
	if !ok {
		for i, r := range rows {
			if i == 0 || recall(r) > recall(b) {
				b = r
			}
		}
	}
	return b, ok
}

// efCell formats a matched-recall cell: QPS, efSearch and recall, or the best recall reached.
func efCell(ok bool, qps float64, ef int, recall float64) string {
	if !ok {
		return fmt.Sprintf("– (best recall %.3f)", recall)
	}
	return fmt.Sprintf("%.0f (ef=%d, r=%.3f)", qps, ef, recall)
}

func matchedRatio(a, b float64, ok bool) string {
	if !ok {
		return "–"
	}
	return ratio(a, b)
}

func ratio(a, b float64) string {
	if b <= 0 || a <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}
