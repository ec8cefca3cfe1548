package realm_test

import (
	"testing"

	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/perf"
)

// Benchmarks of the training steps, with PyTorch peers in bench/torch_bert.py. The workloads are
// package perf's, which `realm bench` runs too (it also prints the peer's figures and the
// ratios); scripts/bench.sh runs these and writes bench/RESULTS.md:
//
//	GOEXPERIMENT=simd go test -run '^$' -bench 'REALMStep|EmbedDocs' -benchtime 3x ./realm
//
// Besides ns/op they report cpu-s/op, the user+sys CPU seconds of the process per op (the
// machine's 2 cores are shared, so wall times are noisy), and cpu-util = CPU / wall time
// (2 = both cores busy).

// BenchmarkREALMStep times one REALM pre-training step (perf.DefaultREALMStep: realm.Config.Forward
// on DefaultConfig, batch 8, its gradient and training.DefaultOptimizer, dropout on; see
// perf.NewREALMStep). The graph returns the loss only (the pre-training loop measures the
// masked-token accuracies with ForwardWithMetrics on some steps only).
func BenchmarkREALMStep(b *testing.B) {
	w, err := perf.NewREALMStep(backend.MustNew(), perf.DefaultREALMStep())
	if err != nil {
		b.Fatal(err)
	}
	w.Benchmark(b)
}

// BenchmarkEmbedDocs times the document tower (DefaultConfig's retriever, BERT L2/H128/A2 +
// projection to d = 128) embedding batches of 32 blocks of 288 wordpieces for the index, in
// inference mode, and reports blocks/s (perf.DefaultEmbedDocs).
func BenchmarkEmbedDocs(b *testing.B) {
	w, err := perf.NewEmbedDocs(backend.MustNew(), perf.DefaultEmbedDocs())
	if err != nil {
		b.Fatal(err)
	}
	w.Benchmark(b)
}
