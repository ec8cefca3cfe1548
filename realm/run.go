package realm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
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

// RunConfig holds what every training loop of the package shares.
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
	// open-QA fine-tuning can train the pre-trained query tower (Config.QueryTowerScope) more
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

// parts is the number of micro-batches per step (at least 1).
func (rc RunConfig) parts() int { return max(rc.MicroBatches, 1) }

// splitBatch cuts the inputs of one step into n micro-batches along their first axis, which must
// be the batch axis of size B for every input of rank ≥ 1; scalars are repeated in each part.
// The inputs are left as they are.
func splitBatch(in []*tensors.Tensor, B, n int) ([][]*tensors.Tensor, error) {
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

// phase is one training loop on a train.Trainer: the model graph, its per-step metrics, a
// deterministic batch source and hooks. MLM, ICT and REALM pre-training are phases.
type phase struct {
	task    string
	run     RunConfig
	backend compute.Backend
	store   *model.Store
	config  any // saved in checkpoints.
	// modelFn builds the step's graph: it must call train.AddMainLoss and return one scalar
	// prediction per name in metricNames (their moving averages are the phase's metrics).
	modelFn     func(scope *model.Scope, inputs []*Node) []*Node
	metricNames []string
	// batch returns the inputs of global step `step`; it must be a function of (seed, step).
	batch func(step int64) ([]*tensors.Tensor, error)
	// afterStep runs after every step with the step just taken (optional).
	afterStep func(step int64, rec *Record) error
	// state adds phase-specific fields to a checkpoint's state (optional).
	state   func(st *TrainState)
	history *History
	// unsplittable phases refuse RunConfig.MicroBatches (their loss couples a batch's examples).
	unsplittable bool
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
			parts, err := splitBatch(in, d.batchSize, d.parts)
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

// execute restores the phase's newest checkpoint if any, trains to run.Steps and saves a final
// checkpoint. A phase already complete in its directory is only restored.
func (p *phase) execute(ctx context.Context) error {
	if err := p.run.validate(); err != nil {
		return err
	}
	ckpt := Checkpoints{Dir: p.run.Dir, Keep: p.run.KeepCheckpoints}
	if ckpt.Keep == 0 {
		ckpt.Keep = 2
	}
	start := int64(0)
	if p.run.Dir != "" {
		st, ok, err := ckpt.Restore(p.store)
		if err != nil {
			return fmt.Errorf("realm: %s: resuming from %s: %w", p.task, p.run.Dir, err)
		}
		if ok {
			if st.Recovered != "" && p.run.Log != nil {
				fmt.Fprintf(p.run.Log, "realm: %s: %s\n", p.task, st.Recovered)
			}
			if st.Task != p.task {
				return fmt.Errorf("realm: %s: %s holds a %q checkpoint", p.task, p.run.Dir, st.Task)
			}
			if st.Seed != p.run.Seed {
				return fmt.Errorf("realm: %s: %s was trained with seed %d, not %d: the data order would differ", p.task, p.run.Dir, st.Seed, p.run.Seed)
			}
			start = st.Step
		}
	}
	if start >= int64(p.run.Steps) {
		return nil
	}
	// Each phase has its own optimizer state, step counter and metrics, kept in its own checkpoints.
	if start == 0 {
		if err := resetOptimizer(p.store); err != nil {
			return err
		}
		if err := p.store.Scope(metric.Scope).DeleteVariablesInScope(); err != nil {
			return fmt.Errorf("realm: %s: clearing the previous phase's metrics: %w", p.task, err)
		}
	}

	opt := DefaultOptimizer(p.run.LR, p.run.Steps)
	if p.run.WarmupSteps != 0 { // Optimizer.Validate refuses a negative count or one past the run.
		opt.WarmupSteps = p.run.WarmupSteps
	}
	opt.LRScale = p.run.LRScale
	if err := opt.Validate(); err != nil {
		return fmt.Errorf("realm: %s: %w", p.task, err)
	}
	var metrics []metric.Interface
	for i, name := range p.metricNames {
		metrics = append(metrics, metric.NewExponentialMovingAverageMetric(name, name, "realm",
			func(_ *model.Scope, _, predictions []*Node) *Node { return predictions[i] }, nil, 0.05))
	}
	trainer := train.NewTrainer(p.backend, p.store, func(scope *model.Scope, _ any, inputs []*Node) []*Node {
		return p.modelFn(scope, inputs)
	}, nil, opt, metrics, nil)
	if p.run.parts() > 1 {
		if p.unsplittable {
			return fmt.Errorf("realm: %s: its loss couples the examples of a batch, so it cannot be split into micro-batches", p.task)
		}
		if err := trainer.AccumulateGradients(p.run.parts()); err != nil {
			return fmt.Errorf("realm: %s: %w", p.task, err)
		}
	}
	loop := train.NewLoop(trainer)
	if p.run.Attach != nil {
		p.run.Attach(loop)
	}
	logEvery := p.run.LogEvery
	if logEvery <= 0 {
		logEvery = 50
	}
	t0 := time.Now()
	save := func(step int64) error {
		if p.run.Dir == "" {
			return nil
		}
		st := TrainState{Task: p.task, Step: step, Seed: p.run.Seed}
		if p.config != nil {
			st.Config, _ = json.Marshal(p.config)
		}
		if p.state != nil {
			p.state(&st)
		}
		_, err := ckpt.Save(p.store, st)
		return err
	}
	lastStep := start
	train.EveryNSteps(loop, 1, "realm-"+p.task, 0, func(l *train.Loop, m []*tensors.Tensor) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		step := optimizer.GetGlobalStep(p.store)
		if step == lastStep { // a micro-batch that only accumulated gradients.
			return nil
		}
		lastStep = step
		loss := float64(m[0].Value().(float32))
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("realm: %s: step %d: %w (%v); training stopped, the last good checkpoint in %q is kept",
				p.task, step, ErrNonFinite, loss, p.run.Dir)
		}
		rec := Record{Step: step, Time: time.Since(t0), Metrics: map[string]float64{"loss": loss, "loss_ema": scalar(m[1])}}
		for i, name := range p.metricNames {
			rec.Metrics[name] = scalar(m[2+i])
		}
		for _, name := range []string{MetricLearningRate, MetricGradNorm} {
			if v := p.store.GetVariable("/" + MetricsScope + "/" + name); v != nil {
				rec.Metrics[name] = scalar(v.MustValue())
			}
		}
		if p.afterStep != nil {
			if err := p.afterStep(step, &rec); err != nil {
				return err
			}
		}
		p.history.Add(rec)
		if p.run.Log != nil && (step%int64(logEvery) == 0 || step == int64(p.run.Steps)) {
			fmt.Fprintf(p.run.Log, "%s step %d/%d %s\n", p.task, step, p.run.Steps, formatMetrics(rec.Metrics))
		}
		if p.run.CheckpointEvery > 0 && step%int64(p.run.CheckpointEvery) == 0 && step < int64(p.run.Steps) {
			return save(step)
		}
		return nil
	})
	ds := &stepDataset{name: p.task, next: start, batch: p.batch, batchSize: p.run.BatchSize, parts: p.run.parts()}
	if _, err := loop.RunSteps(ds, (p.run.Steps-int(start))*p.run.parts()); err != nil {
		return fmt.Errorf("realm: %s: %w", p.task, err)
	}
	return save(optimizer.GetGlobalStep(p.store))
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

func scalar(t *tensors.Tensor) float64 {
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
	for _, k := range sortedKeys(m) {
		s += fmt.Sprintf(" %s=%.4g", k, m[k])
	}
	return s
}
