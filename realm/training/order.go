package training

import (
	"math/rand/v2"
	"sync"
)

// Order maps a global example counter to an example index: a fresh seeded permutation of the
// N examples every epoch, so batch i of a run depends only on (Seed, i) and a resumed run sees
// exactly the data an uninterrupted one would. It is safe for concurrent use.
type Order struct {
	// N is the number of examples.
	N int
	// Seed drives the permutations.
	Seed  uint64
	mu    sync.Mutex
	epoch int
	perm  []int
}

// At returns the index of example i of the run: position i mod N of epoch i/N's permutation.
func (o *Order) At(i int64) int {
	e := int(i / int64(o.N))
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.perm == nil || e != o.epoch {
		o.perm = rand.New(rand.NewPCG(o.Seed, uint64(e)+1)).Perm(o.N)
		o.epoch = e
	}
	return o.perm[i%int64(o.N)]
}
