package runs

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/openqa"
	"github.com/realm-go/realm/realm/pretrain"
)

// FromPretrained is a Run over pre-trained checkpoints (hfrealm.LoadPretrained: a retriever and
// a knowledge-augmented encoder) and the documents docs, cut into blocks of pt.Config.DocLen
// wordpieces with the checkpoints' tokenizer; be nil is the default backend. It has no
// fine-tuned reader: Answer is an error.
func FromPretrained(be compute.Backend, pt *pretrain.Pretrained, docs iter.Seq2[corpus.Document, error]) (*Run, error) {
	tok, err := tokenize.FromDir(pt.TokenizerDir)
	if err != nil {
		return nil, fmt.Errorf("runs: the tokenizer of %s: %w", pt.TokenizerDir, err)
	}
	c, _, err := realm.BuildCorpus(tok, docs, pt.Config.DocLen)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	return &Run{Info: Info{Config: pt.Config, TokenizerDir: pt.TokenizerDir}, Corpus: c, Backend: be, store: pt.Store}, nil
}

// backend returns r.Backend, opening the default one first if unset. r.mu is held.
func (r *Run) backend() (compute.Backend, error) {
	if r.Backend == nil {
		be, err := backend.New()
		if err != nil {
			return nil, err
		}
		r.Backend = be
	}
	return r.Backend, nil
}

// pretrained returns the pre-trained model (REALM's final checkpoint of a run). r.mu is held.
func (r *Run) pretrained() (*model.Store, error) {
	if r.store == nil {
		store, err := PretrainedStore(r.Dir, openqa.RetrieverREALM)
		if err != nil {
			return nil, err
		}
		r.store = store
	}
	return r.store, nil
}

// Retriever returns REALM's retriever over the corpus: the query tower of the pre-trained model
// against every block embedded by its document tower (embedded once, on first use), or a
// RealmForOpenQA's own over its block_emb.
func (r *Run) Retriever(ctx context.Context) (*openqa.DenseRetriever, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.retriever != nil {
		return r.retriever, nil
	}
	be, err := r.backend()
	if err != nil {
		return nil, err
	}
	store, err := r.pretrained()
	if err != nil {
		return nil, err
	}
	d, err := openqa.NewDenseRetriever(ctx, be, store, r.Info.Config, r.Corpus, openqa.RetrieverREALM)
	if err != nil {
		return nil, err
	}
	r.retriever = d
	return d, nil
}

// Retrieve returns the k blocks of the corpus with the highest relevance f(x,z) to query, best
// first, with p(z|x) over those k.
func (r *Run) Retrieve(ctx context.Context, query string, k int) ([]openqa.RetrievedBlock, error) {
	d, err := r.Retriever(ctx)
	if err != nil {
		return nil, err
	}
	res, err := d.Retrieve(ctx, []string{query}, k)
	if err != nil {
		return nil, err
	}
	return openqa.RetrievedBlocks(r.Corpus, res[0], true)
}

// EmbedCorpus returns Embed_doc(z) of every block of the corpus, [N, d] row-major, and the
// block ids of the rows, computed with the pre-trained document tower.
func (r *Run) EmbedCorpus(ctx context.Context) (vecs []float32, ids []int64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	be, err := r.backend()
	if err != nil {
		return nil, nil, err
	}
	store, err := r.pretrained()
	if err != nil {
		return nil, nil, err
	}
	emb, err := realm.NewRetriever(be, store, r.Info.Config, 64)
	if err != nil {
		return nil, nil, err
	}
	return emb.EmbedCorpus(ctx, r.Corpus)
}

// Score reads masked sentences as REALM pre-training does, without training: for each, its
// top-k blocks (∅ first), p(z|x), r(z), log p(y|x) — the REALM loss is its negative over the
// masked tokens — and the retrieval utility (pretrain.Scorer). A RealmForOpenQA has no
// masked-LM head to score with.
func (r *Run) Score(ctx context.Context, texts []pretrain.MaskedText) ([]pretrain.Scored, error) {
	r.mu.Lock()
	if r.scorer == nil {
		if r.openQA {
			r.mu.Unlock()
			return nil, fmt.Errorf("runs: %s is an open-QA model: it has no masked-LM head to score sentences with", r.Dir)
		}
		be, err := r.backend()
		if err == nil {
			var store *model.Store
			if store, err = r.pretrained(); err == nil {
				r.scorer, err = pretrain.NewScorer(ctx, be, store, r.Info.Config, r.Corpus)
			}
		}
		if err != nil {
			r.mu.Unlock()
			return nil, err
		}
	}
	s := r.scorer
	r.mu.Unlock()
	return s.Score(ctx, texts)
}

// Answer answers question with the REALM retriever and the fine-tuned reader (a run's
// qa-realm/, or a RealmForOpenQA's own).
func (r *Run) Answer(ctx context.Context, question string) (openqa.Answer, error) {
	r.mu.Lock()
	if r.qa == nil {
		if r.Dir == "" {
			r.mu.Unlock()
			return openqa.Answer{}, errors.New("runs: pre-trained checkpoints have no fine-tuned reader to answer with")
		}
		be, err := r.backend()
		if err == nil {
			r.qa, err = r.QA(be, openqa.RetrieverREALM, openqa.DefaultReaderConfig())
		}
		if err != nil {
			r.mu.Unlock()
			return openqa.Answer{}, err
		}
	}
	q := r.qa
	r.mu.Unlock()
	return q.Answer(ctx, question)
}
