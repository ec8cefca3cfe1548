package mips

// Recall returns the mean fraction of each query's exact top-k ids (truth) that appear in
// the approximate results (got): recall@k as reported by ANN benchmarks.
func Recall(got, truth [][]Result) float64 {
	if len(truth) == 0 {
		return 0
	}
	var sum float64
	for i, t := range truth {
		if len(t) == 0 {
			sum++
			continue
		}
		want := make(map[int64]bool, len(t))
		for _, r := range t {
			want[r.ID] = true
		}
		hit := 0
		if i < len(got) {
			for _, r := range got[i] {
				if want[r.ID] {
					hit++
				}
			}
		}
		sum += float64(min(hit, len(t))) / float64(len(t))
	}
	return sum / float64(len(truth))
}
