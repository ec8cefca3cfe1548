package training

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Optimizer is BERT's (and REALM's) optimisation recipe: Adam with decoupled weight decay
// (AdamW) applied only to weight matrices and embedding tables — never to biases or LayerNorm
// parameters —, the gradient clipped to a maximum global norm, and a learning rate that rises
// linearly during warm-up and then decays linearly to zero at TotalSteps.
//
// GoMLX's own Adam decays every trainable variable and has no global-norm clipping, so this
// wraps it: gradients are built here, clipped, handed to Adam without decay, and the decay term
// −lr·λ·θ (with θ the value before the step) is added to every variable of rank ≥ 2.
type Optimizer struct {
	// PeakLR is the learning rate reached at the end of warm-up.
	PeakLR float64
	// WarmupSteps is the number of steps of linear warm-up from 0 to PeakLR.
	WarmupSteps int
	// TotalSteps is the step at which the learning rate reaches 0.
	TotalSteps int
	// WeightDecay is AdamW's λ (BERT uses 0.01).
	WeightDecay float64
	// ClipNorm is the maximum global L2 norm of the gradient (BERT uses 1.0); 0 disables clipping.
	ClipNorm float64
	// LRScale multiplies the learning rate of the variables under some scopes, keyed by scope
	// path ("/embedder" scales every variable under /embedder): their whole step, Adam's and the
	// decay, is scaled. Adam's step does not depend on the gradient's scale, so scaling a loss
	// term cannot do this. Missing scopes keep a factor of 1.
	LRScale map[string]float64
}

// lrScale is the learning-rate factor of a variable under scope (the deepest key of LRScale
// that is the scope or one of its parents; 1 if none).
func (o Optimizer) lrScale(scope string) float64 {
	best, factor := -1, 1.0
	for key, f := range o.LRScale {
		k := strings.TrimSuffix(key, "/")
		if (scope == k || strings.HasPrefix(scope, k+"/")) && len(k) > best {
			best, factor = len(k), f
		}
	}
	return factor
}

// gradientUpdater is the part of GoMLX's Adam that applies gradients computed elsewhere (here:
// clipped ones).
type gradientUpdater interface {
	UpdateGraphWithGradients(scope *model.Scope, grads []*Node, lossDType dtypes.DType)
}

// DefaultOptimizer returns REALM's settings for a run of totalSteps: peak learning rate lr,
// warm-up of min(10000, max(100, totalSteps/10)) steps as in the official trainer, weight decay
// 0.01 and clipping at global norm 1.
func DefaultOptimizer(lr float64, totalSteps int) Optimizer {
	warm := min(10000, max(100, totalSteps/10))
	warm = min(warm, max(1, totalSteps/2)) // very short runs still get a decay phase.
	return Optimizer{PeakLR: lr, WarmupSteps: warm, TotalSteps: totalSteps, WeightDecay: 0.01, ClipNorm: 1}
}

// Validate reports settings that cannot train.
func (o Optimizer) Validate() error {
	switch {
	case o.PeakLR <= 0:
		return fmt.Errorf("optimizer: learning rate must be > 0, got %g", o.PeakLR)
	case o.TotalSteps <= 0:
		return fmt.Errorf("optimizer: total steps must be > 0, got %d", o.TotalSteps)
	case !validScales(o.LRScale):
		return fmt.Errorf("optimizer: learning-rate scales must be finite and ≥ 0, got %v", o.LRScale)
	case o.WarmupSteps < 0 || o.WarmupSteps > o.TotalSteps:
		return fmt.Errorf("optimizer: warm-up steps %d outside [0, total steps %d]", o.WarmupSteps, o.TotalSteps)
	case o.WeightDecay < 0 || o.ClipNorm < 0:
		return fmt.Errorf("optimizer: weight decay %g and clip norm %g must be ≥ 0", o.WeightDecay, o.ClipNorm)
	}
	return nil
}

// LearningRate builds the schedule lr(step) = PeakLR · min((step+1)/warmup, (total−step)/(total−warmup)),
// clipped at 0, from the global step before this step's increment.
func (o Optimizer) LearningRate(scope *model.Scope, g *Graph) *Node {
	step := ConvertDType(optimizer.GetGlobalStepVar(scope).NodeValue(g), dtypes.Float32)
	warm := float64(max(o.WarmupSteps, 1))
	up := DivScalar(AddScalar(step, 1), warm)
	down := DivScalar(AddScalar(Neg(step), float64(o.TotalSteps)), float64(max(o.TotalSteps-o.WarmupSteps, 1)))
	return MulScalar(MaxScalar(Min(up, down), 0), o.PeakLR)
}

// Update adds one optimisation step of loss to the graph, over every trainable variable of
// scope used by the graph. It returns the learning rate used and the global norm of the
// gradient before clipping (a training metric: spikes announce divergence).
func (o Optimizer) Update(scope *model.Scope, loss *Node) (lr, gradNorm *Node) {
	vars, values := trainedVariables(scope, loss.Graph())
	return o.apply(scope, vars, values, Gradient(loss, values...), loss.DType())
}

// trainedVariables returns the trainable variables the graph uses, in the store's order (the
// order of the gradients GoMLX's trainer hands to UpdateGraphWithGradients), and their values.
func trainedVariables(scope *model.Scope, g *Graph) (vars []*model.Variable, values []*Node) {
	for v := range scope.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
			values = append(values, v.NodeValue(g))
		}
	}
	if len(vars) == 0 {
		exceptions.Panicf("realm.Optimizer: no trainable variable is used by the graph")
	}
	return vars, values
}

// UpdateGraphWithGradients is Update with the gradients given (one per trainable variable the
// graph uses, in the store's order): GoMLX's trainer calls it with accumulated gradients
// (RunConfig.MicroBatches, train.Trainer.AccumulateGradients).
func (o Optimizer) UpdateGraphWithGradients(scope *model.Scope, grads []*Node, lossDType dtypes.DType) {
	if len(grads) == 0 {
		exceptions.Panicf("realm.Optimizer: no gradient given")
	}
	vars, values := trainedVariables(scope, grads[0].Graph())
	if len(vars) != len(grads) {
		exceptions.Panicf("realm.Optimizer: %d gradients for %d trainable variables", len(grads), len(vars))
	}
	o.apply(scope, vars, values, grads, lossDType)
}

// apply clips the gradients, runs AdamW and records the learning rate and gradient norm.
func (o Optimizer) apply(scope *model.Scope, vars []*model.Variable, values, grads []*Node, lossDType dtypes.DType) (lr, gradNorm *Node) {
	g := values[0].Graph()
	lr = o.LearningRate(scope, g)
	optimizer.LearningRateVarWithValue(scope, dtypes.Float32, o.PeakLR).SetNodeValue(lr)

	// Global-norm clipping: g ← g · min(1, c/‖g‖).
	var sq *Node
	for _, gr := range grads {
		s := ReduceAllSum(Square(gr))
		if sq == nil {
			sq = s
		} else {
			sq = Add(sq, s)
		}
	}
	gradNorm = Sqrt(sq)
	if o.ClipNorm > 0 {
		scale := Min(OnesLike(gradNorm), Div(Scalar(g, gradNorm.DType(), o.ClipNorm), Max(gradNorm, Scalar(g, gradNorm.DType(), 1e-12))))
		for i := range grads {
			grads[i] = Mul(grads[i], ConvertDType(scale, grads[i].DType()))
		}
	}

	adam, ok := optimizer.Adam().LearningRate(o.PeakLR).Epsilon(1e-6).Done().(gradientUpdater)
	if !ok {
		exceptions.Panicf("realm.Optimizer: GoMLX's Adam no longer accepts precomputed gradients")
	}
	adam.UpdateGraphWithGradients(scope, grads, lossDType)

	// After Adam's step: decoupled weight decay on matrices and embedding tables (rank ≥ 2),
	// θ ← θ − lr·λ·θ_old, then the per-scope learning rates, θ ← θ_old + factor·(θ − θ_old).
	for i, v := range vars {
		decays := o.WeightDecay > 0 && v.Shape().Rank() >= 2
		factor := o.lrScale(v.Scope())
		if !decays && factor == 1 {
			continue
		}
		old, next := values[i], v.NodeValue(g)
		if decays {
			next = Sub(next, Mul(ConvertDType(lr, old.DType()), MulScalar(old, o.WeightDecay)))
		}
		if factor != 1 {
			next = Add(old, MulScalar(Sub(next, old), factor))
		}
		v.SetNodeValue(next)
	}
	for name, x := range map[string]*Node{MetricLearningRate: lr, MetricGradNorm: gradNorm} {
		mv := scope.At(MetricsScope).VariableWithValue(name, float32(0))
		mv.SetTrainable(false)
		mv.SetNodeValue(ConvertDType(x, dtypes.Float32))
	}
	return lr, gradNorm
}

// Names of the non-trainable variables (under MetricsScope) where Update leaves the learning
// rate and the gradient norm of the last step, for training-loop hooks and notebooks.
const (
	MetricsScope       = "train_metrics"
	MetricLearningRate = "learning_rate"
	MetricGradNorm     = "grad_norm"
)

// UpdateGraph implements GoMLX's optimizer.Interface, so an Optimizer can drive a
// train.Trainer.
func (o Optimizer) UpdateGraph(scope *model.Scope, _ *Graph, loss *Node) {
	o.Update(scope, loss)
}

// Clear deletes the optimizer's moment variables (implements optimizer.Interface).
func (o Optimizer) Clear(scope *model.Scope) error {
	return optimizer.Adam().Done().Clear(scope)
}

// validScales reports whether every learning-rate factor is finite and ≥ 0.
func validScales(scales map[string]float64) bool {
	for _, f := range scales {
		if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}
