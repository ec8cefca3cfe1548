package realm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/realm-go/realm/layers/backend"
)

// bruteForce computes, in float64 with explicit loops, what the graph functions compute:
// log p(y_j|x) for every (b, j), utility per example and r(z) per (b, z).
func bruteForce(B, K, M, V int, scores, logits []float32, targets []int32, mask []bool) (marg [][]float64, util []float64, r [][]float64, loss float64) {
	marg = make([][]float64, B)
	util = make([]float64, B)
	r = make([][]float64, B)
	var total, count float64
	for b := range B {
		// p(z|x)
		pz := make([]float64, K)
		var zsum float64
		for k := range K {
			pz[k] = math.Exp(float64(scores[b*K+k]))
			zsum += pz[k]
		}
		for k := range K {
			pz[k] /= zsum
		}
		// p(y_j|z,x)
		py := make([][]float64, K)
		for k := range K {
			py[k] = make([]float64, M)
			for j := range M {
				row := logits[((b*K+k)*M+j)*V : ((b*K+k)*M+j+1)*V]
				var s float64
				for _, l := range row {
					s += math.Exp(float64(l))
				}
				py[k][j] = math.Exp(float64(row[targets[b*M+j]])) / s
			}
		}
		marg[b] = make([]float64, M)
		r[b] = make([]float64, K)
		var n, u float64
		for j := range M {
			var p float64
			for k := range K {
				p += pz[k] * py[k][j]
			}
			marg[b][j] = math.Log(p)
			if mask[b*M+j] {
				n++
				u += math.Log(p) - math.Log(py[0][j])
				total += math.Log(p)
				count++
				for k := range K {
					r[b][k] += py[k][j]/p - 1
				}
			}
		}
		if n > 0 {
			util[b] = u / n
			for k := range K {
				r[b][k] /= n
			}
		}
	}
	if count > 0 {
		loss = -total / count
	}
	return
}

func TestMarginalMatchesBruteForce(t *testing.T) {
	const B, K, M, V = 3, 4, 5, 7
	rng := rand.New(rand.NewPCG(1, 2))
	scores := make([]float32, B*K)
	for i := range scores {
		scores[i] = float32(rng.NormFloat64() * 3)
	}
	logits := make([]float32, B*K*M*V)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 2)
	}
	targets := make([]int32, B*M)
	mask := make([]bool, B*M)
	for i := range targets {
		targets[i] = int32(rng.IntN(V))
		mask[i] = rng.IntN(4) != 0
	}
	mask[0] = true
	for j := range M { // example 2 has no target at all: contributes nothing, utility 0.
		mask[2*M+j] = false
	}
	wantMarg, wantUtil, wantR, wantLoss := bruteForce(B, K, M, V, scores, logits, targets, mask)

	outs := graph.MustExecOnceN(backend.MustNew(), func(s, l, y, m *graph.Node) []*graph.Node {
		gold := GoldLogProbs(l, y)
		marg := MarginalLogLikelihood(RetrievalLogProbs(s), gold)
		return []*graph.Node{marg, RetrievalUtility(marg, gold, m), RMultiplier(marg, gold, m), MaskedMeanNLL(marg, m)}
	}, tensors.FromFlatDataAndDimensions(scores, B, K), tensors.FromFlatDataAndDimensions(logits, B, K, M, V),
		tensors.FromFlatDataAndDimensions(targets, B, M), tensors.FromFlatDataAndDimensions(mask, B, M))

	gotMarg := outs[0].Value().([][]float32)
	gotUtil := outs[1].Value().([]float32)
	gotR := outs[2].Value().([][]float32)
	gotLoss := outs[3].Value().(float32)
	const tol = 1e-4
	for b := range B {
		for j := range M {
			if d := math.Abs(float64(gotMarg[b][j]) - wantMarg[b][j]); d > tol {
				t.Errorf("log p(y_%d|x)[%d] = %v, brute force %v", j, b, gotMarg[b][j], wantMarg[b][j])
			}
		}
		if d := math.Abs(float64(gotUtil[b]) - wantUtil[b]); d > tol {
			t.Errorf("utility[%d] = %v, brute force %v", b, gotUtil[b], wantUtil[b])
		}
		for k := range K {
			if d := math.Abs(float64(gotR[b][k]) - wantR[b][k]); d > tol*10 {
				t.Errorf("r(z=%d)[%d] = %v, brute force %v", k, b, gotR[b][k], wantR[b][k])
			}
		}
	}
	if d := math.Abs(float64(gotLoss) - wantLoss); d > tol {
		t.Errorf("loss = %v, brute force %v", gotLoss, wantLoss)
	}
	if wantUtil[2] != 0 || gotUtil[2] != 0 {
		t.Errorf("an example without targets has utility %v (brute force %v), want 0", gotUtil[2], wantUtil[2])
	}
}

// TestRetrieverGradientSign builds the paper's constructed case: of two documents, the one that
// predicts the masked token better must have its retrieval score pushed up by the gradient of
// log p(y|x), and by exactly p(z|x)·r(z) (eq. 3 of the paper).
func TestRetrieverGradientSign(t *testing.T) {
	const V = 5
	scores := [][]float32{{0.3, 0.1, -0.2}} // ∅, helpful, unhelpful
	logits := make([]float32, 3*V)
	target := int32(2)
	for k := range 3 {
		for v := range V {
			logits[k*V+v] = 0
		}
	}
	logits[1*V+int(target)] = 4  // document 1 makes the target likely
	logits[2*V+int(target)] = -4 // document 2 makes it unlikely
	outs := graph.MustExecOnceN(backend.MustNew(), func(s, l, y, m *graph.Node) []*graph.Node {
		gold := GoldLogProbs(l, y)
		marg := MarginalLogLikelihood(RetrievalLogProbs(s), gold)
		ll := graph.Neg(MaskedMeanNLL(marg, m))
		grad := graph.Gradient(ll, s)[0]
		return []*graph.Node{grad, graph.Mul(graph.Exp(RetrievalLogProbs(s)), RMultiplier(marg, gold, m))}
	}, scores, tensors.FromFlatDataAndDimensions(logits, 1, 3, 1, V), [][]int32{{target}}, [][]bool{{true}})
	grad := outs[0].Value().([][]float32)[0]
	want := outs[1].Value().([][]float32)[0]
	if !(grad[1] > 0) || !(grad[2] < 0) {
		t.Fatalf("∂ log p(y|x)/∂f = %v: want > 0 for the helpful document and < 0 for the unhelpful one", grad)
	}
	for k := range grad {
		if math.Abs(float64(grad[k]-want[k])) > 1e-5 {
			t.Errorf("∂ log p(y|x)/∂f(x,z_%d) = %v, but p(z|x)·r(z) = %v", k, grad[k], want[k])
		}
	}
}
