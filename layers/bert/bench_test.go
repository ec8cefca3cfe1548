package bert_test

import (
	"testing"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/perf"
)

// BenchmarkTrainStep times one MLM training step (forward, backward, AdamW) on a batch of
// 16 × 128 tokens with 20 masked positions per sequence and the 30522-word vocabulary,
// dropout on (perf.NewBERTStep, which `realm bench` runs too). The first call (graph build,
// compilation, initialisation) is not timed.
//
//	GOEXPERIMENT=simd go test -run '^$' -bench TrainStep -benchtime=3x ./layers/bert
//
// Besides ns/op it reports cpu-s/op (user+sys CPU seconds of the process per step: the
// machine's cores are shared, so wall times are noisy) and cpu-util = CPU / wall time (2 means
// both cores busy). bench/torch_bert.py times the same step in PyTorch.
func BenchmarkTrainStep(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  bert.Config
	}{{"L2_H128_A2", bert.Tiny()}, {"L4_H256_A4", bert.Small()}} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := perf.NewBERTStep(backend.MustNew(), perf.DefaultBERTStep(bc.cfg))
			if err != nil {
				b.Fatal(err)
			}
			w.Benchmark(b)
		})
	}
}
