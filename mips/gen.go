package mips

import (
	"math"
	"math/rand/v2"
)

// MixtureConfig describes a seeded Gaussian mixture used to generate clustered embeddings
// for tests and benchmarks: Clusters centres drawn from N(0, 1) per coordinate, each point
// a random centre plus N(0, Spread²) noise. Clusters = 0 gives plain N(0, 1) vectors.
type MixtureConfig struct {
	Seed     uint64
	Dim      int
	Clusters int
	Spread   float64
}

// Mixture generates points of one MixtureConfig; documents and queries drawn from the same
// Mixture share the cluster centres, like real queries and passages share topics.
type Mixture struct {
	cfg     MixtureConfig
	centres []float32
	rng     *rand.Rand
}

// NewMixture draws the cluster centres of cfg.
func NewMixture(cfg MixtureConfig) *Mixture {
	m := &Mixture{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
	m.centres = make([]float32, cfg.Clusters*cfg.Dim)
	for i := range m.centres {
		m.centres[i] = float32(m.rng.NormFloat64())
	}
	return m
}

// Sample returns n new points, row-major n×Dim.
func (m *Mixture) Sample(n int) []float32 {
	d := m.cfg.Dim
	out := make([]float32, n*d)
	for i := 0; i < n; i++ {
		row := out[i*d : (i+1)*d]
		if m.cfg.Clusters == 0 {
			for j := range row {
				row[j] = float32(m.rng.NormFloat64())
			}
			continue
		}
		c := m.rng.IntN(m.cfg.Clusters)
		centre := m.centres[c*d : (c+1)*d]
		for j := range row {
			row[j] = centre[j] + float32(m.cfg.Spread*m.rng.NormFloat64())
		}
	}
	return out
}

// Clustered returns n documents and nq queries from a seeded mixture of clusters Gaussians
// with spread 0.5 (the benchmark's "clustered" data set), deterministic for a seed.
func Clustered(seed uint64, n, nq, dim, clusters int) (docs, queries []float32) {
	m := NewMixture(MixtureConfig{Seed: seed, Dim: dim, Clusters: clusters, Spread: 0.5})
	return m.Sample(n), m.Sample(nq)
}

// Random returns n documents and nq queries with i.i.d. N(0, 1) coordinates.
func Random(seed uint64, n, nq, dim int) (docs, queries []float32) {
	m := NewMixture(MixtureConfig{Seed: seed, Dim: dim})
	return m.Sample(n), m.Sample(nq)
}

// norms returns the Euclidean norm of each row.
func norms(vectors []float32, dim int) []float32 {
	n := len(vectors) / dim
	out := make([]float32, n)
	for i := range out {
		row := vectors[i*dim : (i+1)*dim]
		out[i] = float32(math.Sqrt(float64(dot(row, row))))
	}
	return out
}
