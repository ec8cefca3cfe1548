// Package mips holds REALM's maximum inner product search (MIPS) over cached document
// embeddings: exact and approximate indexes behind one Index interface, a checksummed file
// format, and a Refresher that rebuilds the index in the background while training runs.
//
// REALM retrieves the top-k documents z for a query x by the inner product
// Embed_input(x)·Embed_doc(z) and refreshes the document embeddings every few hundred
// training steps with a snapshot θ′ of the document encoder (Guu et al. 2020, §3.4).
//
// # Indexes
//
//   - Exact: brute force. Documents are stored in 16-document panels and scored by a
//     cache-blocked SIMD matrix product (an AVX2/FMA 6×16 assembly micro-kernel for batches,
//     an 8-chain archsimd kernel for single queries) on GOMAXPROCS goroutines, each keeping
//     a bounded heap per query. This is REALM's default: exact, fast enough at the sizes
//     realm-go trains on (100k×128: ~350 single queries/s, ~3,500 queries/s in batches of 256
//     on 2 otherwise idle AMD EPYC cores, vs FAISS 1.7.3 IndexFlatIP's ~92 and ~3,100 there).
//   - GraphExact: the same search as a GoMLX graph (MatMul + TopK) on a compute backend,
//     the fast path on an accelerator; it agrees with Exact (tested).
//   - HNSW: the package's own hierarchical navigable small world graph, from Malkov &
//     Yashunin (2018), on the MIPS→NN reduction, built concurrently, renumbered for memory
//     locality, saved with its graph. It is the default approximate index, chosen on the
//     measured recall/QPS curve (RunBenchmark, clustered 100k×128, M=16, efConstruction=200):
//     recall@10 0.75 / 0.88 / 0.97 / 0.99 / 0.997 at efSearch 16 / 32 / 64 / 128 / 256,
//     the same curve as FAISS IndexHNSWFlat with the same parameters on the same data
//     (0.75 / 0.89 / 0.96 / 0.99 / 0.997, bench/mips_faiss.py), at a comparable few
//     thousand single queries/s; coder/hnsw stays at 0.05 whatever efSearch is. The default
//     efSearch is 128, the smallest sweep value above 0.98. On i.i.d. Gaussian 128-d data
//     every HNSW does badly for MIPS (ours 0.22, FAISS 0.16 at efSearch=256): use Exact
//     there, and check recall on real embeddings before switching REALM to HNSW.
//   - CoderHNSW: github.com/coder/hnsw v0.6.1 behind the same interface, kept as a measured
//     baseline only: its search bounds the result list by k instead of ef, so recall@10 stays
//     at 0.05–0.3 whatever efSearch is (upstream bug, not fixed here).
//
// All indexes return results sorted by descending score with ties broken by ascending
// block id, so searches are deterministic; k > Len returns Len results.
//
// # Persistence
//
// Index.Save and Load use a versioned binary format (magic, version, kind, dimension,
// count, kind parameters, CRC32C over header and payload), written to a temporary file
// and renamed. Truncated or corrupted files fail with an error naming the file and the
// problem (wrapping ErrCorrupt).
//
// # Refresh
//
// Refresher embeds all documents with a snapshot and builds a new index in a background
// goroutine, swapping it in atomically; Search never blocks and never sees a half-built
// index. Overlap measures how stale an index is against a fresh exact one.
//
// Build and test with GOEXPERIMENT=simd on amd64 for the SIMD kernels; other builds use
// portable Go loops with the same results up to float rounding.
package mips
