// Command probe writes the masked sentences of a REALM pre-training run, split and masked
// exactly as `realm pretrain` splits and masks them, so that an analysis outside Go
// (tools/probe/probe.py) can ask how much a sentence's visible words say about its document's
// title: the ceiling of same-title (same-country) recall for any retriever.
//
// Each record holds the source block, its title, whether the sentence is held out, whether its
// visible pieces still name the title (realm.Corpus.TitleNamed) and the masked text. With -bert,
// it also holds the sentence's mean-pooled last hidden layer of that BERT (dropout off), the
// sentence embedding of sentence-transformers models such as all-MiniLM-L6-v2: what a pretrained
// encoder knows before any REALM training.
//
// Usage (from the repository root; the flags default to those of the README's runs L–N):
//
//	go run ./tools/probe -seed 3 -o /tmp/probe.json
//	go run ./tools/probe -seed 1 -bert "$(scripts/fetch-minilm.sh)" -o /tmp/probe-minilm.json
//	python3 tools/probe/probe.py /tmp/probe.json /tmp/probe-minilm.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/internal/atomicfile"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/pretrain"
)

// record is one masked sentence.
type record struct {
	Block   int64     `json:"block"`
	Title   string    `json:"title"`
	HeldOut bool      `json:"held_out"`
	Named   bool      `json:"named"`
	Masked  string    `json:"masked"`
	Vec     []float32 `json:"vec,omitempty"`
}

// output is the file probe writes.
type output struct {
	Docs     int      `json:"docs"`
	Seed     uint64   `json:"seed"`
	HeldOut  float64  `json:"held_out"`
	Salient  string   `json:"salient"`
	BERT     string   `json:"bert,omitempty"`
	Examples []record `json:"examples"`
}

func main() {
	var (
		docs, queryLen, docLen, maxMasks int
		seed                             uint64
		heldOut                          float64
		bertDir, out                     string
		salient                          = spans.KindsOf(spans.Entity)
	)
	flag.IntVar(&docs, "docs", 200, "first N documents of the embedded Factbook (10 per country)")
	flag.IntVar(&queryLen, "query-len", 48, "masked-sentence length in wordpieces, [CLS] and [SEP] included")
	flag.IntVar(&docLen, "doc-len", 96, "block length in wordpieces")
	flag.IntVar(&maxMasks, "max-masks", realm.DefaultConfig().MaxMasks, "drop sentences masking more pieces, as pre-training does")
	flag.Uint64Var(&seed, "seed", 1, "the run's -seed (it chooses the masked spans)")
	flag.Float64Var(&heldOut, "held-out", 0.2, "the run's -held-out share")
	flag.TextVar(&salient, "salient", salient, "the run's -salient span kinds")
	flag.StringVar(&bertDir, "bert", "", "Hugging Face BERT directory: add each sentence's mean-pooled embedding (and use its tokenizer)")
	flag.StringVar(&out, "o", "", "output JSON file")
	flag.Parse()
	if out == "" {
		log.Fatal("probe: -o is required")
	}
	if err := run(out, bertDir, docs, queryLen, docLen, maxMasks, seed, heldOut, salient); err != nil {
		log.Fatal(err)
	}
}

func run(out, bertDir string, docs, queryLen, docLen, maxMasks int, seed uint64, heldOut float64, salient spans.Kinds) error {
	tok, err := tokenize.Default()
	if bertDir != "" {
		tok, err = tokenize.FromDir(bertDir)
	}
	if err != nil {
		return fmt.Errorf("probe: tokenizer: %w", err)
	}
	c, _, err := realm.BuildCorpus(tok, corpus.Head(corpus.Factbook(), docs), docLen)
	if err != nil {
		return err
	}
	g, err := spans.BuildGazetteer(corpus.Head(corpus.Factbook(), docs), spans.GazetteerOptions{})
	if err != nil {
		return err
	}
	cfg := realm.DefaultConfig()
	cfg.QueryLen, cfg.DocLen, cfg.MaxMasks = queryLen, docLen, maxMasks
	s, err := pretrain.MaskSentences(c, spans.RuleTagger{Gazetteer: g, Kinds: salient}, cfg, seed, heldOut)
	if err != nil {
		return err
	}
	o := output{Docs: docs, Seed: seed, HeldOut: heldOut, Salient: salient.String(), BERT: bertDir}
	var ids [][]int32
	for _, set := range []struct {
		exs  []examples.Pretrain
		held bool
	}{{s.Train, false}, {s.Eval, true}} {
		for _, ex := range set.exs {
			o.Examples = append(o.Examples, record{Block: ex.BlockID, Title: c.Blocks[ex.BlockID].Title, HeldOut: set.held,
				Named: c.TitleNamed(ex), Masked: tok.Decode(ex.InputIDs)})
			ids = append(ids, ex.InputIDs)
		}
	}
	if bertDir != "" {
		vecs, err := meanPooled(bertDir, ids, queryLen)
		if err != nil {
			return err
		}
		for i := range o.Examples {
			o.Examples[i].Vec = vecs[i]
		}
	}
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(out, b); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	log.Printf("probe: %d sentences (%d held out) → %s", len(o.Examples), len(s.Eval), out)
	return nil
}

// meanPooled embeds each sequence with the BERT of dir: the mean of its last hidden layer over
// the sequence's pieces, dropout off.
func meanPooled(dir string, seqs [][]int32, maxLen int) ([][]float32, error) {
	store := model.NewStore()
	lr, err := bert.Load(dir, store.RootScope().At("bert"), bert.AllowMissingMLMHead(), bert.IgnoreKnownExtras())
	if err != nil {
		return nil, err
	}
	cfg := lr.Config
	cfg.HiddenDropoutProb, cfg.AttentionProbsDropoutProb = 0, 0
	exec, err := model.NewExec(backend.MustNew(), store, func(scope *model.Scope, ids, types, mask *Node) *Node {
		return bert.MeanPool(bert.Encode(scope.At("bert"), cfg, ids, types, mask), mask)
	})
	if err != nil {
		return nil, fmt.Errorf("probe: embedder: %w", err)
	}
	const B = 64
	L := maxLen
	vecs := make([][]float32, 0, len(seqs))
	for start := 0; start < len(seqs); start += B {
		ids, types, mask := make([]int32, B*L), make([]int32, B*L), make([]bool, B*L)
		for i := range B {
			mask[i*L] = true // padding rows attend to one piece, so their mean is defined.
			if start+i < len(seqs) {
				copy(ids[i*L:], seqs[start+i])
				for j := range seqs[start+i] {
					mask[i*L+j] = true
				}
			}
		}
		out, err := exec.Call(tensors.FromFlatDataAndDimensions(ids, B, L), tensors.FromFlatDataAndDimensions(types, B, L),
			tensors.FromFlatDataAndDimensions(mask, B, L))
		if err != nil {
			return nil, fmt.Errorf("probe: embedding sentences %d–%d: %w", start, min(start+B, len(seqs))-1, err)
		}
		flat := tensors.MustCopyFlatData[float32](out[0])
		out[0].MustFinalizeAll()
		H := len(flat) / B
		for i := 0; i < B && start+i < len(seqs); i++ {
			vecs = append(vecs, flat[i*H:(i+1)*H])
		}
	}
	return vecs, nil
}
