package mips

import "math"

// topK keeps the k best (score, id) pairs seen so far in a bounded binary heap whose root is
// the worst kept pair, so each candidate costs one comparison unless it enters the top k.
type topK struct {
	k      int
	scores []float32
	ids    []int64
}

func newTopK(k int) *topK {
	return &topK{k: k, scores: make([]float32, 0, k), ids: make([]int64, 0, k)}
}

func (h *topK) reset(k int) {
	h.k = k
	h.scores = h.scores[:0]
	h.ids = h.ids[:0]
}

// threshold returns the score a candidate must reach to be considered: -Inf until full.
func (h *topK) threshold() float32 {
	if len(h.scores) < h.k {
		return float32(math.Inf(-1))
	}
	return h.scores[0]
}

// push offers a candidate.
func (h *topK) push(s float32, id int64) {
	if s != s { // NaN never ranks.
		return
	}
	if len(h.scores) < h.k {
		h.scores = append(h.scores, s)
		h.ids = append(h.ids, id)
		h.up(len(h.scores) - 1)
		return
	}
	if h.k == 0 || !better(s, id, h.scores[0], h.ids[0]) {
		return
	}
	h.scores[0], h.ids[0] = s, id
	h.down(0)
}

// worse reports whether element i ranks after element j (so it belongs nearer the root).
func (h *topK) worse(i, j int) bool {
	return better(h.scores[j], h.ids[j], h.scores[i], h.ids[i])
}

func (h *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.worse(i, p) {
			break
		}
		h.swap(i, p)
		i = p
	}
}

func (h *topK) down(i int) {
	n := len(h.scores)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.worse(r, l) {
			m = r
		}
		if !h.worse(m, i) {
			return
		}
		h.swap(i, m)
		i = m
	}
}

func (h *topK) swap(i, j int) {
	h.scores[i], h.scores[j] = h.scores[j], h.scores[i]
	h.ids[i], h.ids[j] = h.ids[j], h.ids[i]
}

// appendTo appends the kept pairs to rs (unsorted).
func (h *topK) appendTo(rs []Result) []Result {
	for i, s := range h.scores {
		rs = append(rs, Result{ID: h.ids[i], Score: s})
	}
	return rs
}
