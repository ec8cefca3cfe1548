package mips

import (
	"fmt"
	"slices"
)

// Result is one search hit: the block id of a document and its inner product with the query.
type Result struct {
	ID    int64
	Score float32
}

// Kind names an index implementation; it is stored in the file header so Load can rebuild
// the right type.
type Kind uint32

// The index kinds this package implements.
const (
	KindExact Kind = 1 // brute-force blocked inner products (Exact).
	KindHNSW  Kind = 2 // the package's own HNSW graph (HNSW).
	KindCoder Kind = 3 // github.com/coder/hnsw behind the MIPS→NN reduction (CoderHNSW).
)

// String returns the kind's name as used in benchmark tables.
func (k Kind) String() string {
	switch k {
	case KindExact:
		return "exact"
	case KindHNSW:
		return "hnsw"
	case KindCoder:
		return "coder-hnsw"
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}

// Index is a maximum-inner-product index over N documents of dimension Dim, each known by
// an int64 block id.
//
// Search takes a batch of queries, row-major (len(queries) = nq·Dim), and returns for each
// query up to k results sorted by descending score, ties broken by ascending id, so results
// are deterministic. k larger than Len returns Len results. Implementations are safe for
// concurrent Search calls.
type Index interface {
	Search(queries []float32, k int) ([][]Result, error)
	Len() int
	Dim() int
	Kind() Kind
	// Save writes the index to path in the package's versioned, checksummed format
	// (see Load), through a temporary file in the same directory that is then renamed.
	Save(path string) error
}

// better reports whether (s1, id1) ranks before (s2, id2): higher score, then lower id.
func better(s1 float32, id1 int64, s2 float32, id2 int64) bool {
	return s1 > s2 || (s1 == s2 && id1 < id2)
}

// sortResults sorts rs into the package's canonical order.
func sortResults(rs []Result) {
	slices.SortFunc(rs, func(a, b Result) int {
		switch {
		case better(a.Score, a.ID, b.Score, b.ID):
			return -1
		case better(b.Score, b.ID, a.Score, a.ID):
			return 1
		}
		return 0
	})
}

// checkQueries validates a query batch against dim and returns the number of queries.
func checkQueries(queries []float32, dim, k int) (int, error) {
	if dim <= 0 {
		return 0, fmt.Errorf("mips: index has invalid dimension %d", dim)
	}
	if len(queries)%dim != 0 {
		return 0, fmt.Errorf("mips: query batch has %d floats, not a multiple of the dimension %d", len(queries), dim)
	}
	if k < 0 {
		return 0, fmt.Errorf("mips: negative k=%d", k)
	}
	return len(queries) / dim, nil
}

// checkVectors validates an embedding matrix and its ids; nil ids mean 0…n-1.
func checkVectors(vectors []float32, ids []int64, dim int) (n int, outIDs []int64, err error) {
	if dim <= 0 {
		return 0, nil, fmt.Errorf("mips: invalid dimension %d", dim)
	}
	if len(vectors)%dim != 0 {
		return 0, nil, fmt.Errorf("mips: embedding matrix has %d floats, not a multiple of the dimension %d", len(vectors), dim)
	}
	n = len(vectors) / dim
	if ids == nil {
		ids = make([]int64, n)
		for i := range ids {
			ids[i] = int64(i)
		}
	} else {
		if len(ids) != n {
			return 0, nil, fmt.Errorf("mips: %d ids for %d vectors", len(ids), n)
		}
		ids = slices.Clone(ids)
	}
	return n, ids, nil
}
