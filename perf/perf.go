// Package perf holds realm-go's performance workloads as library code, so that the
// Go benchmarks (go test -bench in layers/bert and realm) and the realm bench command time
// exactly the same graphs, and compares them with their peers: PyTorch (bench/torch_bert.py)
// for the models and FAISS (bench/mips_faiss.py) for maximum inner product search.
//
// A Workload is built by one of the New functions (graph build, compilation and variable
// initialisation happen in an untimed first call), then Run times a number of steps and
// returns a Result: median wall seconds per step, CPU seconds per step (getrusage, the whole
// process), CPU utilisation and the peak resident set size.
//
// The standard workloads (Standard) are those of bench/MEASUREMENTS.md:
//
//   - one REALM pre-training step: 8 masked sentences of 64 tokens, k = 8 candidate documents
//     of 128 tokens (∅ included), joint reader sequences of 192, retriever (shared towers) and
//     encoder BERT L2/H128/A2, d = 128, AdamW with clipping, dropout on;
//   - one BERT masked-LM training step, L2/H128/A2 and L4/H256/A4, batch 16 × 128 tokens with
//     20 masked positions per sequence;
//   - document embedding throughput: batches of 32 blocks of 288 tokens, inference.
package perf

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"time"
)

// Workload is one benchmark, built and ready to run: every call of Step runs one timed unit
// (a training step, or one batch of embeddings).
type Workload struct {
	// Bench and Config name the workload as bench/torch_bert.py names its peer (the "bench"
	// and "config" fields of its JSON lines), e.g. "bert_train_step" and "L2_H128_A2".
	Bench, Config string
	// Label describes the workload for people.
	Label string
	// Units is the number of items one step processes when throughput is reported (blocks
	// for document embedding), 0 otherwise; UnitName names them.
	Units    int
	UnitName string
	// Setup is how long the first, untimed call took: graph build, compilation, initialisation.
	Setup time.Duration

	step func() error
}

// Step runs one timed unit of the workload.
func (w *Workload) Step() error { return w.step() }

// Result is what Run measured of a workload.
type Result struct {
	// Bench, Config and Label are the workload's.
	Bench  string `json:"bench"`
	Config string `json:"config"`
	Label  string `json:"label"`
	// Steps is the number of timed steps.
	Steps int `json:"steps"`
	// Setup is the time of the untimed first call (build, compile, initialise).
	Setup time.Duration `json:"setup_ns"`
	// Wall is the median wall time per step; MeanWall the mean.
	Wall     time.Duration `json:"wall_ns"`
	MeanWall time.Duration `json:"mean_wall_ns"`
	// CPU is the user+sys CPU time of the whole process per step (mean over the timed steps).
	CPU time.Duration `json:"cpu_ns"`
	// Util is CPU / wall time over the timed steps (2 = two cores busy).
	Util float64 `json:"cpu_util"`
	// PeakRSS is the peak resident set size in bytes (getrusage ru_maxrss) when the workload
	// ended. PeakRSSOwn tells whether the peak was reset before the workload was built (Linux,
	// /proc/self/clear_refs), so that it is the workload's own peak (the process's baseline
	// included); otherwise it is the process's peak so far, earlier workloads included.
	PeakRSS    int64 `json:"peak_rss_bytes"`
	PeakRSSOwn bool  `json:"peak_rss_own"`
	// Units and UnitsPerSec are the throughput (Units per step / median wall), when reported.
	Units       int     `json:"units,omitempty"`
	UnitName    string  `json:"unit_name,omitempty"`
	UnitsPerSec float64 `json:"units_per_sec,omitempty"`
}

// Run times steps calls of w.Step and summarises them.
func (w *Workload) Run(steps int) (Result, error) {
	if steps <= 0 {
		return Result{}, fmt.Errorf("perf: %s: steps must be > 0, got %d", w.Label, steps)
	}
	walls := make([]time.Duration, steps)
	c0, t0 := CPUTime(), time.Now()
	for i := range walls {
		s := time.Now()
		if err := w.step(); err != nil {
			return Result{}, fmt.Errorf("perf: %s: step %d: %w", w.Label, i+1, err)
		}
		walls[i] = time.Since(s)
	}
	cpu, total := CPUTime()-c0, time.Since(t0)
	r := Result{Bench: w.Bench, Config: w.Config, Label: w.Label, Steps: steps, Setup: w.Setup,
		Wall: median(walls), MeanWall: total / time.Duration(steps), CPU: cpu / time.Duration(steps),
		PeakRSS: PeakRSS(), Units: w.Units, UnitName: w.UnitName}
	if total > 0 {
		r.Util = cpu.Seconds() / total.Seconds()
	}
	if w.Units > 0 && r.Wall > 0 {
		r.UnitsPerSec = float64(w.Units) / r.Wall.Seconds()
	}
	return r, nil
}

// Bencher is the part of *testing.B that Workload.Benchmark uses (this package does not import
// testing).
type Bencher interface {
	Loop() bool
	ReportMetric(n float64, unit string)
	Fatal(args ...any)
}

// Benchmark runs w under a Go benchmark (b.Loop) and reports, besides ns/op, cpu-s/op (CPU
// seconds of the process per step), cpu-util (CPU / wall time) and, for workloads with
// units, their rate (e.g. blocks/s). The untimed first call was made when w was built.
func (w *Workload) Benchmark(b Bencher) {
	n := 0
	var c0 time.Duration
	var t0 time.Time
	for b.Loop() {
		if n == 0 { // b.Loop resets the timer on its first call.
			c0, t0 = CPUTime(), time.Now()
		}
		if err := w.step(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if n == 0 {
		return
	}
	cpu, wall := CPUTime()-c0, time.Since(t0)
	b.ReportMetric(cpu.Seconds()/float64(n), "cpu-s/op")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-util")
	if w.Units > 0 {
		b.ReportMetric(float64(w.Units*n)/wall.Seconds(), w.UnitName+"/s")
	}
}

// Case is a workload not yet built: Run builds and measures it.
type Case struct {
	// Bench, Config and Label are those of the workload New builds.
	Bench, Config, Label string
	// Steps scales the number of timed steps Run takes: Steps × the steps asked for (0: 1).
	Steps int
	// New builds the workload (and makes its untimed first call).
	New func() (*Workload, error)
}

// Run builds c's workload and times steps × c.Steps steps. Before building, it collects
// garbage, returns freed memory to the system and, where it can (Linux), resets the
// process's peak RSS, so that Result.PeakRSS is this workload's own peak (PeakRSSOwn).
func (c Case) Run(steps int) (Result, error) {
	runtime.GC()
	debug.FreeOSMemory()
	own := ResetPeakRSS()
	w, err := c.New()
	if err != nil {
		return Result{}, fmt.Errorf("perf: %s: %w", c.Label, err)
	}
	r, err := w.Run(steps * max(c.Steps, 1))
	r.PeakRSSOwn = own
	return r, err
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
