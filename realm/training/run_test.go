package training

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"

	"github.com/realm-go/realm/internal/realmtest"
	"github.com/realm-go/realm/layers/backend"
)

// TestNaNStopsTraining injects a NaN loss at step 3: training must stop with an error naming the
// step, and the last checkpoint must be the good one of step 2.
func TestNaNStopsTraining(t *testing.T) {
	dir := t.TempDir()
	store := realmtest.NewStore()
	p := &Phase{Task: "toy", Backend: backend.MustNew(), Store: store, History: &History{},
		Run: RunConfig{Dir: dir, Steps: 5, BatchSize: 1, LR: 0.1, CheckpointEvery: 2},
		ModelFn: func(scope *model.Scope, in []*Node) []*Node {
			w := scope.VariableWithValue("w", []float32{1, 2})
			loss := Mul(ReduceAllSum(Square(w.NodeValue(in[0].Graph()))), in[0])
			train.AddMainLoss(loss)
			return nil
		},
		Batch: func(step int64) ([]*tensors.Tensor, error) {
			x := float32(1)
			if step == 2 { // the third step (steps are counted from 1 after they run).
				x = float32(math.NaN())
			}
			return []*tensors.Tensor{tensors.FromValue(x)}, nil
		},
	}
	err := p.Execute(context.Background())
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("execute = %v, want ErrNonFinite", err)
	}
	if want := "step 3"; !containsStr(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
	_, st, ok, err := Checkpoints{Dir: dir}.Latest()
	if err != nil || !ok || st.Step != 2 {
		t.Errorf("latest checkpoint = step %d (ok %v, err %v), want the good step 2", st.Step, ok, err)
	}
}

// TestMicroBatches trains a toy regression with batches of 4 whole and split into 2 or 4
// micro-batches: the loss is a mean over equal parts, so the accumulated gradient, and hence every
// update, is the whole batch's; the history has one record per step either way.
func TestMicroBatches(t *testing.T) {
	const steps, B = 4, 4
	train1 := func(micro int, unsplittable bool) ([]float32, *History, error) {
		store := realmtest.NewStore()
		h := &History{}
		p := &Phase{Task: "toy", Backend: backend.MustNew(), Store: store, History: h, Unsplittable: unsplittable,
			Run: RunConfig{Steps: steps, BatchSize: B, LR: 0.05, MicroBatches: micro},
			ModelFn: func(scope *model.Scope, in []*Node) []*Node {
				w := scope.VariableWithValue("w", []float32{0.5, -0.5, 0.25})
				pred := ReduceSum(Mul(in[0], InsertAxes(w.NodeValue(in[0].Graph()), 0)), -1) // [b]
				train.AddMainLoss(Mul(ReduceAllMean(Square(Sub(pred, in[1]))), in[2]))
				return nil
			},
			Batch: func(step int64) ([]*tensors.Tensor, error) {
				x, y := make([]float32, B*3), make([]float32, B)
				for i := range x {
					x[i] = float32(math.Sin(float64(int(step)*100 + i)))
				}
				for i := range y {
					y[i] = float32(i) - float32(step)
				}
				return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, B, 3), tensors.FromFlatDataAndDimensions(y, B), tensors.FromValue(float32(1))}, nil
			},
		}
		if err := p.Execute(context.Background()); err != nil {
			return nil, h, err
		}
		return store.GetVariable("/w").MustValue().Value().([]float32), h, nil
	}
	whole, h1, err := train1(1, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, micro := range []int{2, 4} {
		split, h, err := train1(micro, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := range whole {
			if math.Abs(float64(whole[i]-split[i])) > 1e-5 {
				t.Errorf("%d micro-batches: w = %v, whole batches %v", micro, split, whole)
				break
			}
		}
		steps1, _ := h1.Series("loss")
		stepsN, _ := h.Series("loss")
		if !slices.Equal(steps1, stepsN) || len(stepsN) != steps {
			t.Errorf("%d micro-batches: history steps %v, whole batches %v", micro, stepsN, steps1)
		}
	}
	if whole[0] == 0.5 {
		t.Error("the toy model did not train")
	}
	if _, _, err := train1(3, false); err == nil || !strings.Contains(err.Error(), "not a multiple") {
		t.Errorf("batch 4 in 3 micro-batches: err = %v", err)
	}
	if _, _, err := train1(2, true); err == nil || !strings.Contains(err.Error(), "cannot be split") {
		t.Errorf("an unsplittable phase: err = %v", err)
	}
	if _, err := SplitBatch([]*tensors.Tensor{tensors.FromFlatDataAndDimensions(make([]float32, 6), 3, 2)}, 4, 2); err == nil {
		t.Error("splitBatch accepted an input without the batch axis")
	}
}

func containsStr(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
