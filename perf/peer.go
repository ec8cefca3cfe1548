package perf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Peer runs the peer benchmarks, the Python scripts in the repository's bench/ directory:
// bench/torch_bert.py (PyTorch) and bench/mips_faiss.py (FAISS).
type Peer struct {
	// Python is the interpreter (e.g. "python3", or a virtual environment's bin/python).
	Python string
	// Root is the repository root (RepoRoot finds it): the scripts are Root/bench/*.py.
	Root string
	// Stderr receives the scripts' progress messages (nil: discarded).
	Stderr io.Writer
}

// Skipped is the error of a peer that cannot run here (interpreter, module or script
// missing): Reason says why, in a few words.
type Skipped struct{ Reason string }

// Error returns "peer skipped: " and the reason.
func (s *Skipped) Error() string { return "peer skipped: " + s.Reason }

// IsSkipped reports whether err is (or wraps) a *Skipped, and returns it.
func IsSkipped(err error) (*Skipped, bool) {
	var s *Skipped
	ok := errors.As(err, &s)
	return s, ok
}

// RepoRoot walks up from dir to the directory whose go.mod declares this module
// (github.com/realm-go/realm), where the bench/ scripts are.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == "github.com/realm-go/realm" {
					return d, nil
				}
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of module github.com/realm-go/realm in %s or above", dir)
		}
	}
}

// script returns the path of bench/name, or a *Skipped when it is not there.
func (p Peer) script(name string) (string, error) {
	if p.Root == "" {
		return "", &Skipped{"bench/" + name + " not found (run within the realm-go repository)"}
	}
	s := filepath.Join(p.Root, "bench", name)
	if _, err := os.Stat(s); err != nil {
		return "", &Skipped{"bench/" + name + " not found under " + p.Root}
	}
	return s, nil
}

// Choose returns p with Python set to the first interpreter that imports every module: p.Python
// when set (and only it), otherwise the first of candidates. PyTorch and FAISS often live in
// different interpreters (Debian's python3-torch in /usr/bin/python3, a pip-installed faiss-cpu
// in a virtual environment). When none imports them, p is returned unchanged and its Check
// method reports the skip.
func (p Peer) Choose(ctx context.Context, modules []string, candidates ...string) Peer {
	if p.Python != "" {
		return p
	}
	for _, py := range candidates {
		q := p
		q.Python = py
		if q.importable(ctx, modules...) == nil {
			return q
		}
	}
	return p
}

// importable returns a *Skipped unless p.Python can import every module.
func (p Peer) importable(ctx context.Context, modules ...string) error {
	py := p.Python
	if py == "" {
		py = "python3"
	}
	cmd := exec.CommandContext(ctx, py, "-c", "import "+strings.Join(modules, ", "))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, ok := err.(*exec.ExitError); !ok {
			return &Skipped{fmt.Sprintf("%s cannot run (%v)", py, err)}
		}
		return &Skipped{fmt.Sprintf("%s not importable by %s", strings.Join(modules, " or "), py)}
	}
	return nil
}

// run runs p.Python with args and returns its standard output's JSON lines.
func (p Peer) run(ctx context.Context, args ...string) ([]json.RawMessage, error) {
	py := p.Python
	if py == "" {
		py = "python3"
	}
	cmd := exec.CommandContext(ctx, py, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if p.Stderr != nil {
		cmd.Stderr = io.MultiWriter(&stderr, p.Stderr)
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, fmt.Errorf("perf: %s %s: %w (%s)", py, strings.Join(args, " "), err, msg)
	}
	var out []json.RawMessage
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) > 0 && line[0] == '{' {
			out = append(out, json.RawMessage(bytes.Clone(line)))
		}
	}
	return out, sc.Err()
}

// TorchResult is one result line of bench/torch_bert.py.
type TorchResult struct {
	// Bench and Config name the workload (as Result.Bench and Result.Config).
	Bench  string `json:"bench"`
	Config string `json:"config"`
	// Impl is e.g. "torch-1.13.0+openblas"; Threads torch.get_num_threads().
	Impl    string `json:"impl"`
	Threads int    `json:"threads"`
	// SecPerOp is the median wall seconds per step; CPUSecPerOp user+sys CPU seconds per step.
	SecPerOp    float64 `json:"sec_per_op"`
	CPUSecPerOp float64 `json:"cpu_sec_per_op"`
	CPUUtil     float64 `json:"cpu_util"`
	// PeakRSSMB is the process's peak RSS so far in MiB (the workloads run in one process).
	PeakRSSMB float64 `json:"peak_rss_mb"`
	// BlocksPerSec is set for embed_docs.
	BlocksPerSec float64 `json:"blocks_per_sec"`
	Skipped      string  `json:"skipped"`
}

// CheckTorch returns nil when Torch can run here: bench/torch_bert.py is found and p.Python
// imports torch; otherwise a *Skipped (or ctx's error).
func (p Peer) CheckTorch(ctx context.Context) error {
	if _, err := p.script("torch_bert.py"); err != nil {
		return err
	}
	return p.importable(ctx, "torch")
}

// Torch runs bench/torch_bert.py with torch.set_num_threads(threads) and steps timed steps
// per workload (its shapes are those of Standard), and returns its results. It returns a
// *Skipped when the script is missing or reports that it was skipped (see CheckTorch).
func (p Peer) Torch(ctx context.Context, steps, threads int) ([]TorchResult, error) {
	s, err := p.script("torch_bert.py")
	if err != nil {
		return nil, err
	}
	lines, err := p.run(ctx, s, "--steps", strconv.Itoa(steps), "--threads", strconv.Itoa(threads))
	if err != nil {
		return nil, err
	}
	return decodeResults(lines, "torch_bert.py", func(r TorchResult) string { return r.Skipped })
}

// TorchBest runs Torch once per thread setting of threads and keeps, for each workload, the
// result of the faster setting (its Threads says which): PyTorch at its best here. On a 2-core
// machine set_num_threads(1) was the faster (OpenBLAS keeps its own 2 threads), by about a
// quarter on the BERT step, so comparing against set_num_threads(2) alone flattered us.
func (p Peer) TorchBest(ctx context.Context, steps int, threads []int) ([]TorchResult, error) {
	var best []TorchResult
	at := map[[2]string]int{}
	for _, n := range threads {
		rs, err := p.Torch(ctx, steps, n)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			key := [2]string{r.Bench, r.Config}
			i, ok := at[key]
			switch {
			case !ok:
				at[key] = len(best)
				best = append(best, r)
			case r.SecPerOp < best[i].SecPerOp:
				best[i] = r
			}
		}
	}
	return best, nil
}

// decodeResults decodes the JSON lines of the peer script name, each a T; a line whose
// skipped field (read by skipped) is set turns into a *Skipped.
func decodeResults[T any](lines []json.RawMessage, name string, skipped func(T) string) ([]T, error) {
	var out []T
	for _, l := range lines {
		var r T
		if err := json.Unmarshal(l, &r); err != nil {
			return nil, fmt.Errorf("perf: %s output %s: %w", name, l, err)
		}
		if why := skipped(r); why != "" {
			return nil, &Skipped{name + ": " + why}
		}
		out = append(out, r)
	}
	return out, nil
}

// FAISSResult is bench/mips_faiss.py --json's result for one data set.
type FAISSResult struct {
	// Dataset, N, Dim, K, Queries identify the data set (as mips.BenchResult's).
	Dataset string `json:"dataset"`
	N       int    `json:"n"`
	Dim     int    `json:"dim"`
	K       int    `json:"k"`
	Queries int    `json:"queries"`
	// Impl is e.g. "faiss-1.7.3"; Threads FAISS's OpenMP threads.
	Impl    string `json:"impl"`
	Threads int    `json:"threads"`
	// FlatSingleQPS and FlatBatchQPS are IndexFlatIP's single-query and FlatBatch-query QPS.
	FlatSingleQPS float64 `json:"flat_single_qps"`
	FlatBatch     int     `json:"flat_batch"`
	FlatBatchQPS  float64 `json:"flat_batch_qps"`
	// HNSWLabel names the IndexHNSWFlat configuration; HNSW is its efSearch sweep.
	HNSWLabel    string       `json:"hnsw_label"`
	HNSWBuildSec float64      `json:"hnsw_build_sec"`
	HNSW         []FAISSEfRow `json:"hnsw"`
	Skipped      string       `json:"skipped"`
}

// FAISSEfRow is one efSearch of FAISS's HNSW sweep.
type FAISSEfRow struct {
	// Ef is efSearch; Recall recall@k against IndexFlatIP.
	Ef     int     `json:"ef"`
	Recall float64 `json:"recall"`
	// QPSSingle is one query per call; QPSBatch all queries in one call (OpenMP threads).
	QPSSingle float64 `json:"qps_single"`
	QPSBatch  float64 `json:"qps_batch"`
}

// FAISSOptions are bench/mips_faiss.py's settings; zero values take its defaults.
type FAISSOptions struct {
	// K is the number of results per query; M and EfConstruction configure HNSW.
	K, M, EfConstruction int
	// EfSearch is the sweep; MinTime the seconds per QPS figure.
	EfSearch []int
	MinTime  float64
	// Threads is FAISS's OpenMP threads (0: its default).
	Threads int
}

// CheckFAISS returns nil when FAISS can run here: bench/mips_faiss.py is found and p.Python
// imports faiss and numpy; otherwise a *Skipped (or ctx's error).
func (p Peer) CheckFAISS(ctx context.Context) error {
	if _, err := p.script("mips_faiss.py"); err != nil {
		return err
	}
	return p.importable(ctx, "faiss", "numpy")
}

// FAISS runs bench/mips_faiss.py --json on the .fvecs data sets in dir (written by
// mips.BenchConfig.DumpDir) and returns its results. It returns a *Skipped when the script
// is missing or reports that it was skipped (see CheckFAISS).
func (p Peer) FAISS(ctx context.Context, dir string, o FAISSOptions) ([]FAISSResult, error) {
	s, err := p.script("mips_faiss.py")
	if err != nil {
		return nil, err
	}
	args := []string{s, "--dir", dir, "--json"}
	for _, a := range []struct {
		flag string
		v    int
	}{{"--k", o.K}, {"--m", o.M}, {"--efc", o.EfConstruction}, {"--threads", o.Threads}} {
		if a.v > 0 {
			args = append(args, a.flag, strconv.Itoa(a.v))
		}
	}
	if o.MinTime > 0 {
		args = append(args, "--min-time", strconv.FormatFloat(o.MinTime, 'g', -1, 64))
	}
	if len(o.EfSearch) > 0 {
		args = append(args, "--ef")
		for _, e := range o.EfSearch {
			args = append(args, strconv.Itoa(e))
		}
	}
	lines, err := p.run(ctx, args...)
	if err != nil {
		return nil, err
	}
	return decodeResults(lines, "mips_faiss.py", func(r FAISSResult) string { return r.Skipped })
}
