package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/hfrealm"
	"github.com/realm-go/realm/realm/openqa"
	"github.com/realm-go/realm/realm/pretrain"
	"github.com/realm-go/realm/realm/runs"
)

// retrieval is one question's line of `realm retrieve -json`.
type retrieval struct {
	Question string      `json:"question"`
	Results  []retrieved `json:"results"`
}

// retrieved is one block of a retrieval: its id (the document's id and the block's position,
// "doc#block"), its document's title and f(x, z).
type retrieved struct {
	ID    string  `json:"id"`
	Title string  `json:"title"`
	Score float64 `json:"score"`
	// Text is the block's text, for the untitled blocks of an open-QA model's index.
	Text string `json:"text,omitempty"`
}

func runRetrieve(ctx context.Context, args []string) error {
	fs := newFlags("retrieve", "Prints, for each question given as an argument, the top-k blocks of a corpus by the retriever's\n"+
		"score f(x, z) = Embed_input(x)ᵀ Embed_doc(z). -model is a Hugging Face REALM directory (RealmEmbedder,\n"+
		"RealmScorer or RealmForOpenQA, e.g. google/realm-cc-news-pretrained-embedder downloaded) or a run\n"+
		"directory of 'realm pretrain'/'realm demo' (its REALM retriever). Each document of -corpus is read as\n"+
		"[CLS] title [SEP] text [SEP] in blocks of -doc-len wordpieces, each question as [CLS] question [SEP]:\n"+
		"  realm retrieve -model DIR -corpus docs.jsonl -k 5 -json \"Who wrote Hamlet?\"\n"+
		"Without -corpus, a RealmForOpenQA (google/realm-orqa-nq-openqa) searches its own index, block_emb, whose\n"+
		"blocks' texts are its block_records.npy (-block-records), and prints each block's text.")
	dir := fs.String("model", "", "Hugging Face REALM directory (or hub id, downloaded to the Hugging Face cache) or run directory")
	corpusPath := fs.String("corpus", "", "documents as JSONL {id,title,text} (.jsonl or .jsonl.gz) or Parquet; empty with a run directory: the run's corpus")
	k := fs.Int("k", 5, "blocks per question")
	asJSON := fs.Bool("json", false, `one JSON line per question: {"question": …, "results": [{"id", "title", "score"}, …]}`)
	queryLen := fs.Int("query-len", 64, "wordpieces of [CLS] question [SEP] (Hugging Face models)")
	docLen := fs.Int("doc-len", 288, "wordpieces of a block, [CLS] title [SEP] text [SEP] (Hugging Face models; REALM's blocks are 288)")
	records := fs.String("block-records", "", "RealmForOpenQA without -corpus: the RealmRetriever's block_records.npy (default: the one in -model's directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return fmt.Errorf("-model DIR is required (see -h)")
	case fs.NArg() == 0:
		return fmt.Errorf("no question given (see -h)")
	case *k <= 0:
		return fmt.Errorf("-k must be > 0, got %d", *k)
	}
	modelDir, err := resolveModel(ctx, *dir)
	if err != nil {
		return err
	}
	be, err := backend.New()
	if err != nil {
		return err
	}
	var r *openqa.DenseRetriever
	var c *realm.Corpus
	fromIndex := *corpusPath == "" && hfrealm.IsOpenQA(modelDir)
	if fromIndex {
		r, c, err = hfrealm.OpenRetriever(be, modelDir, cmp.Or(*records, filepath.Join(modelDir, hfrealm.BlockRecordsFile)), *queryLen)
	} else {
		var cfg realm.Config
		var store *model.Store
		if cfg, store, c, err = openRetriever(modelDir, *corpusPath, *queryLen, *docLen); err == nil {
			r, err = openqa.NewDenseRetriever(ctx, be, store, cfg, c, "retriever")
		}
	}
	if err != nil {
		return err
	}
	hits, err := r.Retrieve(ctx, fs.Args(), min(*k, c.Len()))
	if err != nil {
		return err
	}
	out := make([]retrieval, len(hits))
	for i, row := range hits {
		out[i].Question = fs.Arg(i)
		for _, h := range row {
			b, err := c.Block(h.ID)
			if err != nil {
				return err
			}
			x := retrieved{ID: fmt.Sprintf("%s#%d", b.DocID, h.ID), Title: b.Title, Score: float64(h.Score)}
			if fromIndex {
				x.ID, x.Text = fmt.Sprint(h.ID), b.Body
			}
			out[i].Results = append(out[i].Results, x)
		}
	}
	return printRetrievals(os.Stdout, out, *asJSON)
}

// resolveModel returns the local directory of -model: dir itself, or, for a hub model id that
// names no local path (google/realm-orqa-nq-openqa), the directory in the Hugging Face cache
// where its config, weights, tokenizer and block_records.npy are downloaded (bert.Resolve).
func resolveModel(ctx context.Context, dir string) (string, error) {
	if _, err := os.Stat(dir); err == nil || !bert.IsHubID(dir) {
		return dir, nil
	}
	return bert.Resolve(ctx, dir, hfrealm.BlockRecordsFile)
}

// loadREALM resolves -realm's comma-separated directories or hub ids and loads them as one
// pre-trained REALM (hfrealm.LoadPretrained).
func loadREALM(ctx context.Context, list string) ([]string, *pretrain.Pretrained, error) {
	var dirs []string
	for _, d := range strings.Split(list, ",") {
		dir, err := resolveModel(ctx, strings.TrimSpace(d))
		if err != nil {
			return nil, nil, fmt.Errorf("-realm: %w", err)
		}
		dirs = append(dirs, dir)
	}
	p, err := hfrealm.LoadPretrained(dirs)
	if err != nil {
		return nil, nil, fmt.Errorf("-realm: %w", err)
	}
	return dirs, p, nil
}

// openRetriever opens -model: a Hugging Face REALM directory (its retriever and tokenizer, the
// corpus from corpusPath) or a run directory (its REALM checkpoint and corpus, or corpusPath).
func openRetriever(dir, corpusPath string, queryLen, docLen int) (realm.Config, *model.Store, *realm.Corpus, error) {
	if _, err := os.Stat(filepath.Join(dir, runs.InfoFile)); err == nil {
		run, err := runs.Open(dir)
		if err != nil {
			return realm.Config{}, nil, nil, err
		}
		ri, c := run.Info, run.Corpus
		store, err := run.Pretrained(openqa.RetrieverREALM)
		if err != nil {
			return ri.Config, nil, nil, err
		}
		if corpusPath != "" {
			if c, err = readCorpus(c.Tok, corpusPath, ri.Config.DocLen); err != nil {
				return ri.Config, nil, nil, err
			}
		}
		return ri.Config, store, c, nil
	}
	hc, err := hfrealm.LoadConfig(filepath.Join(dir, bert.ConfigFile))
	if err != nil {
		return realm.Config{}, nil, nil, fmt.Errorf("-model %s is neither a run directory nor a Hugging Face REALM directory: %w", dir, err)
	}
	class := ""
	if len(hc.Architectures) > 0 {
		class = hc.Architectures[0]
	}
	if class != hfrealm.ClassEmbedder && class != hfrealm.ClassScorer && class != hfrealm.ClassOpenQA {
		return realm.Config{}, nil, nil, fmt.Errorf("-model %s is a %q, which has no retriever (want %s, %s or %s)", dir, class, hfrealm.ClassEmbedder, hfrealm.ClassScorer, hfrealm.ClassOpenQA)
	}
	if corpusPath == "" {
		return realm.Config{}, nil, nil, fmt.Errorf("-corpus FILE is required with a Hugging Face model")
	}
	cfg, err := hc.REALM(queryLen, docLen)
	if err != nil {
		return cfg, nil, nil, fmt.Errorf("-query-len %d, -doc-len %d: %w", queryLen, docLen, err)
	}
	store := model.NewStore()
	if _, err := hfrealm.Load(dir, store.RootScope()); err != nil {
		return cfg, nil, nil, err
	}
	tok, err := tokenize.FromDir(dir)
	if err != nil {
		return cfg, nil, nil, err
	}
	c, err := readCorpus(tok, corpusPath, docLen)
	return cfg, store, c, err
}

// readCorpus packs the documents of path (JSONL or Parquet) into blocks of docLen wordpieces.
func readCorpus(tok *tokenize.Tokenizer, path string, docLen int) (*realm.Corpus, error) {
	c, _, err := realm.BuildCorpus(tok, corpus.Open(path, corpus.ReadOptions{}), docLen)
	if err != nil {
		return nil, fmt.Errorf("-corpus %s: %w", path, err)
	}
	return c, nil
}

// printRetrievals writes the retrievals as JSON lines or as a table per question.
func printRetrievals(w io.Writer, rs []retrieval, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, r := range rs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	var errs []error
	for _, r := range rs {
		_, err := fmt.Fprintf(w, "Q: %s\n", r.Question)
		errs = append(errs, err)
		for i, x := range r.Results {
			label := x.Title
			if x.Text != "" {
				label = blockHead(x.Text, 70)
			}
			_, err := fmt.Fprintf(w, "  %d. %8.3f  %-20s %s\n", i+1, x.Score, x.ID, label)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
