// Package runs opens trained REALM models for use: the run directories that realm's pipelines
// write (run.json, which says how to rebuild the corpus and the model, with the corpus file's
// checksum, paths relative to the run and the build that wrote it; the checkpoints of each phase,
// mlm/, ict/, realm/; the fine-tuned open-QA models, qa-<retriever>/ with reader.json and the
// fixed document index), Hugging Face RealmForOpenQA directories, and released pre-trained
// checkpoints over documents of one's own (FromPretrained).
//
// A Run walks the model as the paper does — Retrieve, EmbedCorpus, Score (the REALM loss and
// r(z) of masked sentences), Answer:
//
//	run, err := runs.Open("out/demo")
//	a, err := run.Answer(ctx, "What is the capital of Mongolia?")
//
// List and Describe say what run directories hold; Restore, PretrainedStore, QADir and
// ReaderConfig are the pieces the command line and the notebooks share.
package runs

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/internal/atomicfile"
	"github.com/realm-go/realm/internal/buildinfo"
	"github.com/realm-go/realm/internal/filehash"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/bm25"
	"github.com/realm-go/realm/realm/hfrealm"
	"github.com/realm-go/realm/realm/openqa"
	"github.com/realm-go/realm/realm/pretrain"
	"github.com/realm-go/realm/realm/training"
)

// InfoFile is the file of a run directory that Info is written to.
const InfoFile = "run.json"

// EvalFile is the file of a run directory that its held-out evaluation is written to
// (pretrain.Evaluation).
const EvalFile = "eval.json"

// WriteEvaluation writes ev to dir/eval.json, atomically.
func WriteEvaluation(dir string, ev pretrain.Evaluation) error {
	data, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return fmt.Errorf("runs: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, EvalFile), append(data, '\n'))
}

// ReadEvaluation reads the held-out evaluation an earlier `realm pretrain` or `realm demo` wrote
// to dir/eval.json.
func ReadEvaluation(dir string) (pretrain.Evaluation, error) {
	var ev pretrain.Evaluation
	path := filepath.Join(dir, EvalFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return ev, fmt.Errorf("runs: %s has no held-out evaluation (run 'realm pretrain' or 'realm demo' first): %w", dir, err)
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, fmt.Errorf("runs: %s: %w", path, err)
	}
	return ev, nil
}

// ReaderFile is the file of a fine-tuned QA directory that records its reader's configuration.
const ReaderFile = "reader.json"

// Info is what a run records in run.json so that later commands rebuild exactly the same corpus
// and model configuration.
type Info struct {
	// Config is the model's configuration.
	Config realm.Config `json:"config"`
	// MaxDocs, Titles and CorpusPath select the corpus: the first MaxDocs documents (0: all)
	// with one of Titles (nil: any) of CorpusPath (JSONL or Parquet; "": the embedded
	// Factbook).
	MaxDocs    int      `json:"max_docs"`
	Titles     []string `json:"titles,omitempty"`
	CorpusPath string   `json:"corpus_path,omitempty"`
	// CorpusSHA256 is the SHA-256 of the file at CorpusPath when the run began: Open refuses a
	// corpus file that changed since, whose blocks would not be the run's.
	CorpusSHA256 string `json:"corpus_sha256,omitempty"`
	// BERTDir is the Hugging Face BERT the run started from (its tokenizer is the run's).
	BERTDir string `json:"bert_dir,omitempty"`
	// REALMDirs are the released REALM checkpoints the run continued from, and TokenizerDir the
	// directory of their tokenizer.
	REALMDirs    []string `json:"realm_dirs,omitempty"`
	TokenizerDir string   `json:"tokenizer_dir,omitempty"`
	// Seed is the seed of the data order.
	Seed uint64 `json:"seed"`
	// WrittenBy names the build that wrote run.json (see `realm version`).
	WrittenBy string `json:"written_by,omitempty"`
	// PathsRelativeToRun says that run.json records CorpusPath, BERTDir, REALMDirs and
	// TokenizerDir relative to the run directory, so that a run moved together with its corpus
	// still opens; AbsolutePaths maps each of them to its absolute form when the run was written,
	// so that a run moved without its corpus opens too. (Runs written before both fields existed
	// recorded paths as given on the command line.) In memory, after ReadInfo, every path is
	// usable from the working directory.
	PathsRelativeToRun bool              `json:"paths_relative_to_run,omitempty"`
	AbsolutePaths      map[string]string `json:"absolute_paths,omitempty"`
}

// pathFields returns pointers to the path fields of info.
func (info *Info) pathFields() []*string {
	ps := []*string{&info.CorpusPath, &info.BERTDir, &info.TokenizerDir}
	for i := range info.REALMDirs {
		ps = append(ps, &info.REALMDirs[i])
	}
	return ps
}

// WriteInfo writes info to dir/run.json, atomically, with the checksum of its corpus file, the
// build that wrote it, and its paths relative to dir (and absolute, see Info.PathsRelativeToRun).
func WriteInfo(dir string, info Info) error {
	if info.CorpusPath != "" {
		sum, err := filehash.SHA256(info.CorpusPath)
		if err != nil {
			return fmt.Errorf("runs: %w", err)
		}
		info.CorpusSHA256 = sum
	}
	info.WrittenBy = buildinfo.Line()
	info.REALMDirs = slices.Clone(info.REALMDirs)
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("runs: %w", err)
	}
	info.PathsRelativeToRun, info.AbsolutePaths = true, map[string]string{}
	for _, p := range info.pathFields() {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("runs: %w", err)
		}
		if rel, err := filepath.Rel(absDir, abs); err == nil {
			*p = filepath.ToSlash(rel)
		} else {
			*p = abs
		}
		info.AbsolutePaths[*p] = abs
	}
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("runs: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, InfoFile), append(data, '\n'))
}

// ReadInfo reads dir/run.json. Its paths are resolved as Info.PathsRelativeToRun says: relative
// to dir first, then where they were when the run was written; a path found at neither place
// is left at the second, and Open's error names both.
func ReadInfo(dir string) (Info, error) {
	var info Info
	path := filepath.Join(dir, InfoFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return info, fmt.Errorf("%s is not a pre-training run directory (run 'realm pretrain' or 'realm demo' first): %w", dir, err)
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return info, fmt.Errorf("%s: %w", path, err)
	}
	if info.PathsRelativeToRun {
		for _, p := range info.pathFields() {
			if *p != "" {
				*p, _ = info.locate(dir, *p)
			}
		}
	}
	return info, nil
}

// locate resolves a path recorded relative to run dir: there if it exists, else at its recorded
// absolute form if that exists (found reports whether either did).
func (info *Info) locate(dir, recorded string) (path string, found bool) {
	candidates := []string{filepath.Join(dir, filepath.FromSlash(recorded))}
	if filepath.IsAbs(recorded) {
		candidates[0] = recorded
	}
	if abs := info.AbsolutePaths[recorded]; abs != "" {
		candidates = append(candidates, abs)
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, true
		}
	}
	return candidates[len(candidates)-1], false
}

// mustExist returns an error naming the places a run's file was looked for when path (as
// ReadInfo resolved it) does not exist.
func mustExist(dir, what, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return fmt.Errorf("runs: the %s of the run %s is not at %s (nor relative to the run directory, as run.json records it)", what, dir, path)
}

// Run is a trained REALM opened for use: a run directory (its Info and its corpus, rebuilt), a
// Hugging Face RealmForOpenQA directory, or pre-trained checkpoints over a corpus of one's own
// (FromPretrained). It walks the model as the paper does — Retrieve, EmbedCorpus, Score (the
// REALM loss and r(z) of masked sentences), Answer — building what each needs on first use and
// keeping it. Its methods are safe for concurrent use.
type Run struct {
	// Dir is the directory opened ("" for FromPretrained).
	Dir string
	// Info is its run.json (for a RealmForOpenQA directory or FromPretrained, only Config).
	Info Info
	// Corpus is the run's corpus, rebuilt from Info (a RealmForOpenQA's: its block records).
	Corpus *realm.Corpus
	// Backend runs the graphs (nil until first needed: then the default, see layers/backend).
	Backend compute.Backend

	mu        sync.Mutex
	store     *model.Store // the pre-trained model: REALM's final checkpoint.
	retriever *openqa.DenseRetriever
	scorer    *pretrain.Scorer
	qa        *openqa.QA // answers with the REALM retriever.
	openQA    bool       // a RealmForOpenQA directory: no masked-LM head.
}

// Open opens dir on the default backend: a run directory (run.json: its corpus rebuilt with
// its tokenizer; a corpus file whose checksum differs from the one recorded is an error naming
// it) or a Hugging Face RealmForOpenQA directory (hfrealm.OpenQA, with block_records.npy).
func Open(dir string) (*Run, error) { return OpenOn(nil, dir) }

// OpenOn is Open with the graphs run on be (nil: the default backend).
func OpenOn(be compute.Backend, dir string) (*Run, error) {
	if _, err := os.Stat(filepath.Join(dir, InfoFile)); err != nil && hfrealm.IsOpenQA(dir) {
		if be == nil {
			if be, err = backend.New(); err != nil {
				return nil, err
			}
		}
		q, err := hfrealm.OpenQA(be, dir, filepath.Join(dir, hfrealm.BlockRecordsFile), 0)
		if err != nil {
			return nil, err
		}
		d, _ := q.Retriever.(*openqa.DenseRetriever)
		return &Run{Dir: dir, Info: Info{Config: q.Cfg}, Corpus: q.Corpus, Backend: be, store: q.Store, retriever: d, qa: q, openQA: true}, nil
	}
	run, err := openRun(dir)
	if err != nil {
		return nil, err
	}
	run.Backend = be
	return run, nil
}

// openRun reads the run directory dir and rebuilds its corpus.
func openRun(dir string) (*Run, error) {
	info, err := ReadInfo(dir)
	if err != nil {
		return nil, err
	}
	tok, err := tokenize.Default()
	if d := cmp.Or(info.TokenizerDir, info.BERTDir); d != "" {
		if err := mustExist(dir, "tokenizer", d); err != nil {
			return nil, err
		}
		tok, err = tokenize.FromDir(d)
	}
	if err != nil {
		return nil, fmt.Errorf("runs: %s: %w", dir, err)
	}
	docs := corpus.Factbook()
	if info.CorpusPath != "" {
		if err := mustExist(dir, "corpus", info.CorpusPath); err != nil {
			return nil, err
		}
		if info.CorpusSHA256 != "" {
			sum, err := filehash.SHA256(info.CorpusPath)
			if err != nil {
				return nil, fmt.Errorf("runs: %s: %w", dir, err)
			}
			if sum != info.CorpusSHA256 {
				return nil, fmt.Errorf("runs: the corpus %s changed since the run %s began (SHA-256 %s, run.json recorded %s)", info.CorpusPath, dir, sum, info.CorpusSHA256)
			}
		}
		docs = corpus.Open(info.CorpusPath, corpus.ReadOptions{})
	}
	docs = corpus.Head(corpus.WithTitles(docs, info.Titles), info.MaxDocs)
	c, _, err := realm.BuildCorpus(tok, docs, info.Config.DocLen)
	if err != nil {
		return nil, fmt.Errorf("runs: %s: %w", dir, err)
	}
	return &Run{Dir: dir, Info: info, Corpus: c}, nil
}

// ErrNoCheckpoint is Restore's error (wrapped) for a directory without any checkpoint.
var ErrNoCheckpoint = errors.New("no checkpoint")

// Restore loads the newest checkpoint of a phase directory into a new store.
func Restore(dir string) (*model.Store, error) {
	store := model.NewStore()
	_, ok, err := training.Checkpoints{Dir: dir}.Restore(store)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s holds %w", dir, ErrNoCheckpoint)
	}
	return store, nil
}

// Pretrained returns the store a retriever's QA model starts from: REALM's final checkpoint,
// or the ICT checkpoint for the ICT-only baseline (ORQA: ICT retriever, MLM-only encoder). BM25
// starts from REALM's (its encoder initialises the reader).
func (r *Run) Pretrained(kind string) (*model.Store, error) { return PretrainedStore(r.Dir, kind) }

// PretrainedStore is Run.Pretrained for the run in dir, without opening it.
func PretrainedStore(dir, kind string) (*model.Store, error) {
	if kind == openqa.RetrieverICT {
		return Restore(filepath.Join(dir, "ict"))
	}
	return Restore(filepath.Join(dir, "realm"))
}

// QADir is the directory of the QA model fine-tuned over retriever kind in run dir.
func QADir(dir, kind string) string { return filepath.Join(dir, "qa-"+kind) }

// ReaderConfig reads the reader configuration recorded in a fine-tuned QA directory (reader.json)
// over base; base.ReaderBeam is kept (how many blocks to read is the caller's). A directory
// fine-tuned before reader.json existed scored whole-word spans (Spans "").
func ReaderConfig(qaDir string, base openqa.ReaderConfig) (openqa.ReaderConfig, error) {
	rc := base
	path := filepath.Join(qaDir, ReaderFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		rc.Spans = ""
		return rc, nil
	}
	if err != nil {
		return rc, err
	}
	if err := json.Unmarshal(data, &rc); err != nil {
		return rc, fmt.Errorf("%s: %w", path, err)
	}
	rc.ReaderBeam = base.ReaderBeam
	return rc, rc.Validate()
}

// QA opens the QA model fine-tuned over retriever kind (realm, ict or bm25), reading base's
// ReaderBeam blocks per question (base's other fields are those of reader.json when recorded).
func (r *Run) QA(be compute.Backend, kind string, base openqa.ReaderConfig) (*openqa.QA, error) {
	dir := QADir(r.Dir, kind)
	store, err := Restore(dir)
	if errors.Is(err, ErrNoCheckpoint) {
		return nil, fmt.Errorf("%w (run 'realm finetune -retriever %s' first)", err, kind)
	}
	if err != nil {
		return nil, err
	}
	rc, err := ReaderConfig(dir, base)
	if err != nil {
		return nil, err
	}
	if kind == openqa.RetrieverBM25 {
		b, err := bm25.New(r.Corpus, bm25.DefaultParams())
		if err != nil {
			return nil, err
		}
		return openqa.NewQA(be, store, r.Info.Config, rc, r.Corpus, b)
	}
	d, err := openqa.LoadDenseRetriever(be, store, r.Info.Config, r.Corpus, filepath.Join(dir, openqa.QAIndexFile), kind)
	if err != nil {
		return nil, err
	}
	return openqa.NewQA(be, store, r.Info.Config, rc, r.Corpus, d)
}
