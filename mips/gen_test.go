package mips

import (
	"slices"
	"testing"
)

func TestGeneratorsAreSeededAndClustered(t *testing.T) {
	a, qa := Clustered(5, 500, 10, 16, 4)
	b, qb := Clustered(5, 500, 10, 16, 4)
	if !slices.Equal(a, b) || !slices.Equal(qa, qb) {
		t.Fatal("same seed gave different data")
	}
	c, _ := Clustered(6, 500, 10, 16, 4)
	if slices.Equal(a, c) {
		t.Fatal("different seeds gave the same data")
	}
	// Clustered points lie near one of few centres: the mean distance to the nearest other
	// point is far below that of i.i.d. Gaussian points of the same dimension.
	r, _ := Random(5, 500, 0, 16)
	if nn(a, 16) >= 0.6*nn(r, 16) {
		t.Errorf("clustered nearest-neighbour distance %.2f not well below random %.2f", nn(a, 16), nn(r, 16))
	}
}

// nn returns the mean squared distance from each point to its nearest other point.
func nn(x []float32, d int) float64 {
	n := len(x) / d
	var sum float64
	for i := 0; i < n; i++ {
		best := -1.0
		for j := 0; j < n; j++ {
			if i == j {
				continue
			}
			var s float64
			for k := 0; k < d; k++ {
				diff := float64(x[i*d+k] - x[j*d+k])
				s += diff * diff
			}
			if best < 0 || s < best {
				best = s
			}
		}
		sum += best
	}
	return sum / float64(n)
}
