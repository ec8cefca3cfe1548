package training

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/realm-go/realm/layers/backend"
)

func TestOptimizerScheduleDecayAndNorm(t *testing.T) {
	o := Optimizer{PeakLR: 0.1, WarmupSteps: 2, TotalSteps: 6, WeightDecay: 0.5, ClipNorm: 1}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	exec := model.MustNewExec(backend.MustNew(), store, func(scope *model.Scope, g *Graph) []*Node {
		s := scope.WithInitializer(initializer.One)
		w := s.VariableWithShape("w", shapes.Make(dtypes.Float32, 2, 2)).NodeValue(g)
		b := s.VariableWithShape("b", shapes.Make(dtypes.Float32, 2)).NodeValue(g)
		// Zero gradient for w and b (Adam's step is 0), gradient 3 and 4 for u: ‖∇‖ = 5.
		u := s.VariableWithShape("u", shapes.Make(dtypes.Float32, 2)).NodeValue(g)
		loss := Add(MulScalar(Add(ReduceAllSum(w), ReduceAllSum(b)), 0),
			ReduceAllSum(Mul(u, Const(g, []float32{3, 4}))))
		lr, norm := o.Update(scope, loss)
		return []*Node{lr, norm}
	})
	wantLR := []float64{0.05, 0.1, 0.1, 0.075, 0.05, 0.025}
	w := 1.0
	for step, want := range wantLR {
		out := exec.MustCall()
		lr := float64(out[0].Value().(float32))
		if math.Abs(lr-want) > 1e-6 {
			t.Errorf("step %d: lr = %v, want %v", step, lr, want)
		}
		if n := out[1].Value().(float32); math.Abs(float64(n)-5) > 1e-5 {
			t.Errorf("step %d: gradient norm = %v, want 5", step, n)
		}
		w -= lr * 0.5 * w
	}
	gotW := store.GetVariable("/w").MustValue().Value().([][]float32)[0][0]
	gotB := store.GetVariable("/b").MustValue().Value().([]float32)[0]
	if math.Abs(float64(gotW)-w) > 1e-5 {
		t.Errorf("matrix after decay = %v, want %v", gotW, w)
	}
	if gotB != 1 {
		t.Errorf("bias changed to %v: biases must not be decayed", gotB)
	}
	if u := store.GetVariable("/u").MustValue().Value().([]float32); !(u[0] < 1 && u[1] < 1) {
		t.Errorf("u = %v: the variable with a gradient did not move against it", u)
	}
}

func TestOptimizerValidate(t *testing.T) {
	for _, o := range []Optimizer{{}, {PeakLR: 1, TotalSteps: 10, WarmupSteps: 11}, {PeakLR: 1, TotalSteps: 10, WeightDecay: -1}} {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", o)
		}
	}
	if d := DefaultOptimizer(1e-4, 1000); d.WarmupSteps != 100 || d.Validate() != nil {
		t.Errorf("DefaultOptimizer(1e-4, 1000) = %+v: want 100 warm-up steps (REALM's max(100, total/10))", d)
	}
}

// TestOptimizerLRScale trains three copies of a variable with the same gradient under scopes
// with learning-rate factors 1, 0.25 and 0 (the deepest key wins): their moves must be in that
// ratio, since Adam's step is the same for all three (no weight decay, which depends on θ).
func TestOptimizerLRScale(t *testing.T) {
	o := Optimizer{PeakLR: 0.1, WarmupSteps: 1, TotalSteps: 4, ClipNorm: 1,
		LRScale: map[string]float64{"/slow/": 0.25, "/slow/frozen": 0}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	paths := []string{"/full/w", "/slow/w", "/slow/frozen/w"}
	exec := model.MustNewExec(backend.MustNew(), store, func(scope *model.Scope, g *Graph) *Node {
		var loss *Node
		slow := scope.In("slow")
		for _, sc := range []*model.Scope{scope.In("full"), slow, slow.In("frozen")} {
			w := sc.WithInitializer(initializer.One).VariableWithShape("w", shapes.Make(dtypes.Float32, 2, 2)).NodeValue(g)
			term := ReduceAllSum(Mul(w, Const(g, [][]float32{{1, -2}, {3, 0.5}})))
			if loss == nil {
				loss = term
			} else {
				loss = Add(loss, term)
			}
		}
		lr, _ := o.Update(scope, loss)
		return lr
	})
	for range 3 {
		exec.MustCall()
	}
	moved := make([]float64, len(paths))
	for i, p := range paths {
		w := store.GetVariable(p).MustValue().Value().([][]float32)
		moved[i] = 1 - float64(w[0][0])
	}
	if moved[0] <= 0 {
		t.Fatalf("the unscaled variable did not move against its gradient: %v", moved)
	}
	if math.Abs(moved[1]-0.25*moved[0]) > 1e-5 || moved[2] != 0 {
		t.Errorf("moves %v, want ratios 1 : 0.25 : 0", moved)
	}
	if err := (Optimizer{PeakLR: 1, TotalSteps: 1, LRScale: map[string]float64{"/x": -1}}).Validate(); err == nil {
		t.Error("a negative learning-rate scale was accepted")
	}
}
