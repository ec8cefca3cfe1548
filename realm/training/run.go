package training

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// RunConfig holds what every training loop (Phase) shares.
type RunConfig struct {
	// Dir is the run directory where checkpoints go; "" trains without checkpoints.
	Dir string `json:"dir"`
	// Steps is the total number of optimisation steps of the phase.
	Steps int `json:"steps"`
	// BatchSize is the number of examples per step.
	BatchSize int `json:"batch_size"`
	// LR is the peak learning rate (linear warm-up and decay, see Optimizer).
	LR float64 `json:"lr"`
	// WarmupSteps is the length of the linear warm-up; 0 takes ORQA's and REALM's rule
	// (DefaultOptimizer: min(10000, max(100, Steps/10)), at most half the run). That rule was
	// written for runs of thousands of steps: a fine-tuning run of a few hundred spends half of
	// it warming up, where BERT's fine-tuning recipe warms up for a tenth.
	WarmupSteps int `json:"warmup_steps,omitempty"`
	// LRScale multiplies the learning rate of the variables under some scopes (Optimizer.LRScale):
	// open-QA fine-tuning can train the pre-trained query tower (realm.Config.QueryTowerScope) more
	// gently than the fresh span reader.
	LRScale map[string]float64 `json:"lr_scale,omitempty"`
	// Seed fixes the data order (and masking): batch i depends only on (Seed, i).
	Seed uint64 `json:"seed"`
	// CheckpointEvery saves a checkpoint every that many steps (0: only at the end).
	CheckpointEvery int `json:"checkpoint_every"`
	// KeepCheckpoints is how many checkpoints to keep (0: 2).
	KeepCheckpoints int `json:"keep_checkpoints"`
	// Attach, when set, is called with the training loop before it runs, to follow its progress:
	// the command line attaches GoMLX's progress bar (ui/commandline) when it writes to a
	// terminal, a notebook its own display. The library imports no user interface.
	Attach func(loop *train.Loop) `json:"-"`
	// Log, when set, gets one line of metrics every LogEvery steps (0: 50).
	Log      io.Writer `json:"-"`
	LogEvery int       `json:"log_every"`
	// MicroBatches > 1 splits each step's batch into that many equal parts whose gradients are
	// accumulated before the one update of the step (GoMLX's Trainer.AccumulateGradients): the
	// same data, learning-rate schedule and number of updates with 1/MicroBatches of the
	// activation memory, at the price of smaller matrix products. The update is the mean of the
	// parts' gradients, which equals the whole batch's when the parts weigh alike (the REALM and
	// QA losses average over each part's own masked tokens or questions); the per-step metrics
	// are those of the step's last part. BatchSize must be a multiple of it. Phases whose loss
	// couples the examples of a batch (ICT's in-batch negatives) refuse it. 0 or 1: off.
	MicroBatches int `json:"micro_batches,omitempty"`
}

func (rc RunConfig) validate() error {
	switch {
	case rc.Steps <= 0:
		return fmt.Errorf("realm: steps must be > 0, got %d", rc.Steps)
	case rc.BatchSize <= 0:
		return fmt.Errorf("realm: batch size must be > 0, got %d", rc.BatchSize)
	case rc.LR <= 0 || math.IsNaN(rc.LR):
		return fmt.Errorf("realm: learning rate must be > 0, got %g", rc.LR)
	case rc.CheckpointEvery < 0:
		return fmt.Errorf("realm: checkpoint interval must be ≥ 0, got %d", rc.CheckpointEvery)
	case rc.MicroBatches < 0 || rc.MicroBatches > 1 && rc.BatchSize%rc.MicroBatches != 0:
		return fmt.Errorf("realm: the batch size %d is not a multiple of %d micro-batches", rc.BatchSize, rc.MicroBatches)
	}
	return nil
}

// Parts is the number of micro-batches per step (at least 1).
func (rc RunConfig) Parts() int { return max(rc.MicroBatches, 1) }

// SplitBatch cuts the inputs of one step into n micro-batches along their first axis, which must
// be the batch axis of size B for every input of rank ≥ 1; scalars are repeated in each part.
// The inputs are left as they are.
func SplitBatch(in []*tensors.Tensor, B, n int) ([][]*tensors.Tensor, error) {
	parts := make([][]*tensors.Tensor, n)
	for _, t := range in {
		sh := t.Shape()
		if sh.Rank() == 0 {
			for i := range parts {
				c, err := tensors.FromAnyValue(t.Value())
				if err != nil {
					return nil, fmt.Errorf("realm: micro-batches: %w", err)
				}
				parts[i] = append(parts[i], c)
			}
			continue
		}
		if sh.Dim(0) != B {
			return nil, fmt.Errorf("realm: micro-batches: an input of shape %s has no batch axis of size %d", sh, B)
		}
		dims := sh.Clone().Dimensions
		dims[0] = B / n
		per := sh.Size() / n
		var err error
		t.MustConstFlatData(func(flat any) {
			for i := range parts {
				var part *tensors.Tensor
				switch f := flat.(type) {
				case []float32:
					part = tensors.FromFlatDataAndDimensions(slices.Clone(f[i*per:(i+1)*per]), dims...)
				case []int32:
					part = tensors.FromFlatDataAndDimensions(slices.Clone(f[i*per:(i+1)*per]), dims...)
				case []int64:
					part = tensors.FromFlatDataAndDimensions(slices.Clone(f[i*per:(i+1)*per]), dims...)
				case []bool:
					part = tensors.FromFlatDataAndDimensions(slices.Clone(f[i*per:(i+1)*per]), dims...)
				default:
					err = fmt.Errorf("realm: micro-batches: inputs of type %T are not supported", flat)
					return
				}
				parts[i] = append(parts[i], part)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// Record is one row of a training history: the metrics after a step.
type Record struct {
	Step    int64              `json:"step"`
	Time    time.Duration      `json:"time_ns"`
	Metrics map[string]float64 `json:"metrics"`
}

// History is the sequence of metrics of a run, safe to read while training goes on (notebooks
// plot it live).
type History struct {
	mu      sync.Mutex
	records []Record
}

// Add appends a record.
func (h *History) Add(r Record) {
	h.mu.Lock()
	h.records = append(h.records, r)
	h.mu.Unlock()
}

// Records returns a copy of the records so far.
func (h *History) Records() []Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Record(nil), h.records...)
}

// Series returns the (step, value) pairs of one metric.
func (h *History) Series(name string) (steps []int64, values []float64) {
	for _, r := range h.Records() {
		if v, ok := r.Metrics[name]; ok {
			steps = append(steps, r.Step)
			values = append(values, v)
		}
	}
	return
}

// Last returns the newest record (ok false when empty).
func (h *History) Last() (Record, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.records) == 0 {
		return Record{}, false
	}
	return h.records[len(h.records)-1], true
}

// ErrNonFinite is wrapped by the error that stops training on a NaN or infinite loss.
var ErrNonFinite = errors.New("non-finite loss")

// Phase is one training loop on a train.Trainer: the model graph, its per-step metrics, a
// deterministic batch source and hooks. MLM, ICT and REALM pre-training (package pretrain) and
// open-QA fine-tuning (package openqa) are phases.
type Phase struct {
	// Task names the loop ("mlm", "ict", "realm", "qa"): its checkpoints' TrainState.Task.
	Task string
	// Run holds the loop's steps, batch size, learning rate, seed and run directory.
	Run RunConfig
	// Backend runs the graphs.
	Backend compute.Backend
	// Store holds the variables being trained.
	Store *model.Store
	// Config is saved in checkpoints (TrainState.Config), as JSON; nil saves none.
	Config any
	// ModelFn builds the step's graph: it must call train.AddMainLoss and return one scalar
	// prediction per name in MetricNames (their moving averages are the phase's metrics).
	ModelFn func(scope *model.Scope, inputs []*Node) []*Node
	// MetricNames names the predictions ModelFn returns.
	MetricNames []string
	// Batch returns the inputs of global step `step`; it must be a function of (seed, step).
	Batch func(step int64) ([]*tensors.Tensor, error)
	// AfterStep runs after every step with the step just taken (optional).
	AfterStep func(step int64, rec *Record) error
	// State adds phase-specific fields to a checkpoint's state (optional).
	State func(st *TrainState)
	// History gets one Record per step.
	History *History
	// Unsplittable phases refuse RunConfig.MicroBatches (their loss couples a batch's examples).
	Unsplittable bool
}

// stepDataset adapts a per-step batch function to train.Dataset, yielding each step's batch in
// parts micro-batches of batchSize/parts examples (parts ≤ 1: whole).
type stepDataset struct {
	name             string
	next             int64
	batch            func(step int64) ([]*tensors.Tensor, error)
	batchSize, parts int
}

func (d *stepDataset) Name() string { return d.name }

func (d *stepDataset) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for {
			in, err := d.batch(d.next)
			if err != nil {
				yield(train.Batch{}, fmt.Errorf("batch of step %d: %w", d.next, err))
				return
			}
			d.next++
			if d.parts <= 1 {
				if !yield(train.Batch{Inputs: in}, nil) {
					return
				}
				continue
			}
			parts, err := SplitBatch(in, d.batchSize, d.parts)
			for _, t := range in { // the trainer finalizes the parts it is given.
				t.MustFinalizeAll()
			}
			if err != nil {
				yield(train.Batch{}, fmt.Errorf("batch of step %d: %w", d.next-1, err))
				return
			}
			for _, part := range parts {
				if !yield(train.Batch{Inputs: part}, nil) {
					return
				}
			}
		}
	}
}

// Execute restores the phase's newest checkpoint if any, trains to Run.Steps and saves a final
// checkpoint. A phase already complete in its directory is only restored.
func (p *Phase) Execute(ctx context.Context) error {
	if err := p.Run.validate(); err != nil {
		return err
	}
	ckpt := Checkpoints{Dir: p.Run.Dir, Keep: p.Run.KeepCheckpoints}
	if ckpt.Keep == 0 {
		ckpt.Keep = 2
	}
	start := int64(0)
	if p.Run.Dir != "" {
		st, ok, err := ckpt.Restore(p.Store)
		if err != nil {
			return fmt.Errorf("realm: %s: resuming from %s: %w", p.Task, p.Run.Dir, err)
		}
		if ok {
			if st.Recovered != "" && p.Run.Log != nil {
				fmt.Fprintf(p.Run.Log, "realm: %s: %s\n", p.Task, st.Recovered)
			}
			if st.Task != p.Task {
				return fmt.Errorf("realm: %s: %s holds a %q checkpoint", p.Task, p.Run.Dir, st.Task)
			}
			if st.Seed != p.Run.Seed {
				return fmt.Errorf("realm: %s: %s was trained with seed %d, not %d: the data order would differ", p.Task, p.Run.Dir, st.Seed, p.Run.Seed)
			}
			start = st.Step
		}
	}
	if start >= int64(p.Run.Steps) {
		return nil
	}
	// Each phase has its own optimizer state, step counter and metrics, kept in its own checkpoints.
	if start == 0 {
		if err := resetOptimizer(p.Store); err != nil {
			return err
		}
		if err := p.Store.Scope(metric.Scope).DeleteVariablesInScope(); err != nil {
			return fmt.Errorf("realm: %s: clearing the previous phase's metrics: %w", p.Task, err)
		}
	}

	opt := DefaultOptimizer(p.Run.LR, p.Run.Steps)
	if p.Run.WarmupSteps != 0 { // Optimizer.Validate refuses a negative count or one past the run.
		opt.WarmupSteps = p.Run.WarmupSteps
	}
	opt.LRScale = p.Run.LRScale
	if err := opt.Validate(); err != nil {
		return fmt.Errorf("realm: %s: %w", p.Task, err)
	}
	var metrics []metric.Interface
	for i, name := range p.MetricNames {
		metrics = append(metrics, metric.NewExponentialMovingAverageMetric(name, name, "realm",
			func(_ *model.Scope, _, predictions []*Node) *Node { return predictions[i] }, nil, 0.05))
	}
	trainer := train.NewTrainer(p.Backend, p.Store, func(scope *model.Scope, _ any, inputs []*Node) []*Node {
		return p.ModelFn(scope, inputs)
	}, nil, opt, metrics, nil)
	if p.Run.Parts() > 1 {
		if p.Unsplittable {
			return fmt.Errorf("realm: %s: its loss couples the examples of a batch, so it cannot be split into micro-batches", p.Task)
		}
		if err := trainer.AccumulateGradients(p.Run.Parts()); err != nil {
			return fmt.Errorf("realm: %s: %w", p.Task, err)
		}
	}
	loop := train.NewLoop(trainer)
	if p.Run.Attach != nil {
		p.Run.Attach(loop)
	}
	logEvery := p.Run.LogEvery
	if logEvery <= 0 {
		logEvery = 50
	}
	t0 := time.Now()
	save := func(step int64) error {
		if p.Run.Dir == "" {
			return nil
		}
		st := TrainState{Task: p.Task, Step: step, Seed: p.Run.Seed}
		if p.Config != nil {
			st.Config, _ = json.Marshal(p.Config)
		}
		if p.State != nil {
			p.State(&st)
		}
		_, err := ckpt.Save(p.Store, st)
		return err
	}
	lastStep := start
	train.EveryNSteps(loop, 1, "realm-"+p.Task, 0, func(l *train.Loop, m []*tensors.Tensor) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		step := optimizer.GetGlobalStep(p.Store)
		if step == lastStep { // a micro-batch that only accumulated gradients.
			return nil
		}
		lastStep = step
		loss := float64(m[0].Value().(float32))
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("realm: %s: step %d: %w (%v); training stopped, the last good checkpoint in %q is kept",
				p.Task, step, ErrNonFinite, loss, p.Run.Dir)
		}
		rec := Record{Step: step, Time: time.Since(t0), Metrics: map[string]float64{"loss": loss, "loss_ema": ScalarFloat64(m[1])}}
		for i, name := range p.MetricNames {
			rec.Metrics[name] = ScalarFloat64(m[2+i])
		}
		for _, name := range []string{MetricLearningRate, MetricGradNorm} {
			if v := p.Store.GetVariable("/" + MetricsScope + "/" + name); v != nil {
				rec.Metrics[name] = ScalarFloat64(v.MustValue())
			}
		}
		if p.AfterStep != nil {
			if err := p.AfterStep(step, &rec); err != nil {
				return err
			}
		}
		p.History.Add(rec)
		if p.Run.Log != nil && (step%int64(logEvery) == 0 || step == int64(p.Run.Steps)) {
			fmt.Fprintf(p.Run.Log, "%s step %d/%d %s\n", p.Task, step, p.Run.Steps, formatMetrics(rec.Metrics))
		}
		if p.Run.CheckpointEvery > 0 && step%int64(p.Run.CheckpointEvery) == 0 && step < int64(p.Run.Steps) {
			return save(step)
		}
		return nil
	})
	ds := &stepDataset{name: p.Task, next: start, batch: p.Batch, batchSize: p.Run.BatchSize, parts: p.Run.Parts()}
	if _, err := loop.RunSteps(ds, (p.Run.Steps-int(start))*p.Run.Parts()); err != nil {
		return fmt.Errorf("realm: %s: %w", p.Task, err)
	}
	return save(optimizer.GetGlobalStep(p.Store))
}

// resetOptimizer deletes Adam's moments and the global step, so a new phase starts fresh.
func resetOptimizer(store *model.Store) error {
	if err := optimizer.Adam().Done().Clear(store.RootScope()); err != nil {
		return fmt.Errorf("realm: resetting the optimizer: %w", err)
	}
	if err := optimizer.DeleteGlobalStep(store); err != nil {
		return fmt.Errorf("realm: resetting the global step: %w", err)
	}
	return nil
}

// ScalarFloat64 returns the value of a scalar tensor of type float32, float64, int64 or int32 as
// a float64 (NaN for any other type).
func ScalarFloat64(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	case int64:
		return float64(v)
	case int32:
		return float64(v)
	}
	return math.NaN()
}

func formatMetrics(m map[string]float64) string {
	s := ""
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s += fmt.Sprintf(" %s=%.4g", k, m[k])
	}
	return s
}
