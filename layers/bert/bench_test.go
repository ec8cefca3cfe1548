package bert

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// BenchmarkTrainStep times one MLM training step (forward, backward, AdamW) on a batch of
// 16 × 128 tokens with 20 masked positions per sequence and the 30522-word vocabulary,
// dropout on. The first call (graph build, compilation, initialisation) is not timed.
//
//	GOEXPERIMENT=simd go test -run '^$' -bench TrainStep -benchtime=3x ./layers/bert
//
// Besides ns/op it reports cpu-s/op (user+sys CPU seconds of the process per step: the
// machine's cores are shared, so wall times are noisy) and cpu-util = CPU / wall time (2 means
// both cores busy). bench/torch_bert.py times the same step in PyTorch.
func BenchmarkTrainStep(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{{"L2_H128_A2", Tiny()}, {"L4_H256_A4", Small()}} {
		b.Run(bc.name, func(b *testing.B) { benchTrainStep(b, bc.cfg) })
	}
}

func benchTrainStep(b *testing.B, cfg Config) {
	const B, S, M = 16, 128, 20
	rng := rand.New(rand.NewPCG(1, 2))
	ids, types := make([]int32, B*S), make([]int32, B*S)
	mask := make([]bool, B*S)
	for i := range ids {
		ids[i] = rng.Int32N(int32(cfg.VocabSize))
		types[i] = int32(i % S / (S / 2))
		mask[i] = i%S < S-(i/S)%8 // a little padding.
	}
	pos, labels := make([]int32, B*M), make([]int32, B*M)
	for i := range pos {
		pos[i] = rng.Int32N(S - 8)
		labels[i] = rng.Int32N(int32(cfg.VocabSize))
	}
	args := []any{tensors.FromFlatDataAndDimensions(ids, B, S), tensors.FromFlatDataAndDimensions(types, B, S),
		tensors.FromFlatDataAndDimensions(mask, B, S), tensors.FromFlatDataAndDimensions(pos, B, M),
		tensors.FromFlatDataAndDimensions(labels, B, M)}
	opt := optimizer.Adam().LearningRate(1e-4).WeightDecay(0.01).Done()
	store := model.NewStore()
	exec := model.MustNewExec(testBackend(), store, func(scope *model.Scope, in []*graph.Node) *graph.Node {
		g := in[0].Graph()
		scope.Store().SetTraining(g, true)
		h := Encode(scope, cfg, in[0], in[1], in[2])
		l := graph.Neg(graph.ReduceAllMean(MLMLogProbs(scope, cfg, h, in[3], in[4])))
		opt.UpdateGraph(scope, g, l)
		return l
	})
	exec.MustCall1(args...) // build, compile, initialise.
	b.ResetTimer()
	c0, t0 := cpuTime(), time.Now()
	for b.Loop() {
		exec.MustCall1(args...)
	}
	cpu, wall := cpuTime()-c0, time.Since(t0)
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-util")
}

// cpuTime is the user+sys CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
