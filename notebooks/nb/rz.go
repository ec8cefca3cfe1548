package nb

import (
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/pretrain"
)

// The groups of a scored candidate z of a masked sentence about a country (Factbook blocks are
// titled with their country).
const (
	SameCountry  = "same country"
	OtherCountry = "other country"
	NullDocument = "∅ (null document)"
)

// Candidate is one candidate document of a scored masked sentence: its block (−1 for ∅), the
// block's title, its group, p(z|x) and r(z).
type Candidate struct {
	Block  int64
	Title  string
	Group  string
	PZ, R  float64
	Source string // the title of the sentence's country
}

// Candidates lists the candidates of s, a sentence about country title, in s's order (∅
// first), grouped by whether their block is titled title.
func Candidates(c *realm.Corpus, title string, s pretrain.Scored) ([]Candidate, error) {
	out := make([]Candidate, len(s.Blocks))
	for k, id := range s.Blocks {
		cd := Candidate{Block: id, Group: NullDocument, PZ: s.PZ[k], R: s.R[k], Source: title}
		if id >= 0 {
			b, err := c.Block(id)
			if err != nil {
				return nil, err
			}
			cd.Title, cd.Group = b.Title, OtherCountry
			if b.Title == title {
				cd.Group = SameCountry
			}
		}
		out[k] = cd
	}
	return out, nil
}

// RGroup summarises the candidates of one group: how many, the share with r(z) > 0 (the
// gradient raises their score), mean r(z) and mean p(z|x).
type RGroup struct {
	Group         string
	N, Positive   int
	MeanR, MeanPZ float64
}

// GroupR summarises cands by group, in the order same country, other country, ∅ (groups with
// no candidate left out).
func GroupR(cands []Candidate) []RGroup {
	var out []RGroup
	for _, g := range []string{SameCountry, OtherCountry, NullDocument} {
		s := RGroup{Group: g}
		for _, c := range cands {
			if c.Group != g {
				continue
			}
			s.N++
			if c.R > 0 {
				s.Positive++
			}
			s.MeanR += c.R
			s.MeanPZ += c.PZ
		}
		if s.N > 0 {
			s.MeanR /= float64(s.N)
			s.MeanPZ /= float64(s.N)
			out = append(out, s)
		}
	}
	return out
}
