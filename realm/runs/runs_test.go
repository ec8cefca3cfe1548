package runs

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/hfrealm"
	"github.com/realm-go/realm/realm/openqa"
	"github.com/realm-go/realm/realm/pretrain"
	"github.com/realm-go/realm/realm/training"
)

// TestOpenRebuildsTheCorpusAndRefusesAChangedOne writes a run's run.json over a JSONL corpus,
// opens it (the corpus rebuilt as recorded), then changes the corpus file: Open refuses it,
// naming the file, as its blocks would no longer be the run's.
func TestOpenRebuildsTheCorpusAndRefusesAChangedOne(t *testing.T) {
	dir := t.TempDir()
	corpusPath := filepath.Join(dir, "docs.jsonl")
	docs := `{"id": "a", "title": "France", "text": "Paris is the capital of France."}
{"id": "b", "title": "Mongolia", "text": "Ulaanbaatar is the capital of Mongolia."}
`
	if err := os.WriteFile(corpusPath, []byte(docs), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := realm.DefaultConfig()
	cfg.DocLen = 64
	if err := WriteInfo(dir, Info{Config: cfg, CorpusPath: corpusPath, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	run, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if run.Corpus.Len() != 2 || run.Info.Seed != 3 || run.Info.CorpusSHA256 == "" || run.Info.Config.DocLen != 64 {
		t.Errorf("opened %d blocks, info %+v", run.Corpus.Len(), run.Info)
	}
	if err := os.WriteFile(corpusPath, []byte(strings.Replace(docs, "Paris", "Lyon", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), corpusPath) || !strings.Contains(err.Error(), "changed") {
		t.Errorf("Open over a changed corpus: err = %v", err)
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a pre-training run directory") {
		t.Errorf("Open of an empty directory: err = %v", err)
	}
}

// TestRestoreAndReaderConfig: a directory without checkpoints is ErrNoCheckpoint; a QA
// directory without reader.json scored whole-word spans, one with it gives its settings but
// the caller's beam.
func TestRestoreAndReaderConfig(t *testing.T) {
	dir := t.TempDir()
	if _, err := Restore(dir); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("Restore of an empty directory: err = %v", err)
	}
	base := openqa.DefaultReaderConfig()
	base.ReaderBeam = 7
	rc, err := ReaderConfig(dir, base)
	if err != nil || !rc.WholeWords() || rc.ReaderBeam != 7 {
		t.Errorf("without reader.json: %+v, %v", rc, err)
	}
	rec := `{"span_hidden_size": 256, "max_span_width": 4, "reader_beam": 2, "retriever_beam": 20, "layer_norm_eps": 0.001, "batch": 8, "spans": "wordpiece"}`
	if err := os.WriteFile(filepath.Join(dir, ReaderFile), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err = ReaderConfig(dir, base)
	if err != nil || rc.WholeWords() || rc.MaxSpanWidth != 4 || rc.ReaderBeam != 7 {
		t.Errorf("with reader.json: %+v, %v", rc, err)
	}
}

// TestMovedRunOpens writes a run whose corpus lies beside it, then moves the two together (found
// relative to the run), then the run alone (found where it was written); with the corpus gone
// from both places, Open's error names it. run.json records relative paths and its writer.
func TestMovedRunOpens(t *testing.T) {
	root := t.TempDir()
	first := filepath.Join(root, "first")
	if err := os.MkdirAll(filepath.Join(first, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	docs := `{"id": "a", "title": "France", "text": "Paris is the capital of France."}` + "\n"
	if err := os.WriteFile(filepath.Join(first, "docs.jsonl"), []byte(docs), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := realm.DefaultConfig()
	cfg.DocLen = 64
	if err := WriteInfo(filepath.Join(first, "run"), Info{Config: cfg, CorpusPath: filepath.Join(first, "docs.jsonl")}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(first, "run", InfoFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"corpus_path": "../docs.jsonl"`) || !strings.Contains(string(data), `"written_by": "realm-go`) {
		t.Errorf("run.json:\n%s", data)
	}

	// The run and its corpus moved together: found relative to the run.
	second := filepath.Join(root, "second")
	if err := os.Rename(first, second); err != nil {
		t.Fatal(err)
	}
	run, err := Open(filepath.Join(second, "run"))
	if err != nil {
		t.Fatal(err)
	}
	if run.Corpus.Len() != 1 || run.Info.CorpusPath != filepath.Join(second, "docs.jsonl") {
		t.Errorf("moved together: %d blocks, corpus %s", run.Corpus.Len(), run.Info.CorpusPath)
	}

	// Back where it was written, and the run alone moved away: found at its absolute path.
	if err := os.Rename(second, first); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(first, "run"), filepath.Join(root, "moved")); err != nil {
		t.Fatal(err)
	}
	run, err = Open(filepath.Join(root, "moved"))
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.CorpusPath != filepath.Join(first, "docs.jsonl") {
		t.Errorf("run moved alone: corpus %s", run.Info.CorpusPath)
	}

	// Neither place.
	if err := os.Remove(filepath.Join(first, "docs.jsonl")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(root, "moved")); err == nil || !strings.Contains(err.Error(), "docs.jsonl") || !strings.Contains(err.Error(), "corpus") {
		t.Errorf("corpus gone: err = %v", err)
	}
}

// TestQACorruptedCheckpoint: a fine-tuned QA directory whose only checkpoint is corrupted is
// reported as corrupted, naming the file, not as missing ("run 'realm finetune' first"), which
// only an empty directory is.
func TestQACorruptedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	run := &Run{Dir: dir, Info: Info{Config: realm.DefaultConfig()}}
	if _, err := run.QA(nil, openqa.RetrieverREALM, openqa.DefaultReaderConfig()); err == nil || !strings.Contains(err.Error(), "realm finetune") {
		t.Errorf("QA without a fine-tuned model: err = %v", err)
	}
	store := model.NewStore()
	if _, err := store.RootScope().CreateVariable("w", tensors.FromValue([]float32{1, 2})); err != nil {
		t.Fatal(err)
	}
	ck, err := training.Checkpoints{Dir: QADir(dir, openqa.RetrieverREALM)}.Save(store, training.TrainState{Task: "qa", Step: 1})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(ck, "*.bin"))
	if err != nil || len(files) == 0 {
		entries, _ := os.ReadDir(ck)
		t.Fatalf("checkpoint %s holds %v, no .bin file (%v)", ck, entries, err)
	}
	if err := os.WriteFile(files[0], []byte("corrupted"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = run.QA(nil, openqa.RetrieverREALM, openqa.DefaultReaderConfig())
	if err == nil || strings.Contains(err.Error(), "realm finetune") || !strings.Contains(err.Error(), "corrupted") {
		t.Errorf("QA over a corrupted checkpoint: err = %v", err)
	}
}

// TestRunHandleErrors: a directory that is neither a run nor a RealmForOpenQA is an error naming
// run.json; a RealmForOpenQA has no masked-LM head to Score with; pre-trained checkpoints have no
// reader to Answer with; Retrieve returns p(z|x) summing to 1 over the k blocks.
func TestRunHandleErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a pre-training run directory") {
		t.Errorf("Open of an empty directory: %v", err)
	}
	oq, err := Open("../hfrealm/testdata/go_saved/openqa")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oq.Score(ctx, []pretrain.MaskedText{{Text: "the capital of france", Masks: []string{"france"}}}); err == nil || !strings.Contains(err.Error(), "masked-LM head") {
		t.Errorf("Score on a RealmForOpenQA: %v", err)
	}
	hits, err := oq.Retrieve(ctx, "the capital of france", 3)
	sum := 0.0
	for _, h := range hits {
		sum += h.Prob
	}
	if err != nil || len(hits) != 3 || math.Abs(sum-1) > 1e-6 || hits[0].Score < hits[1].Score {
		t.Errorf("Retrieve: %+v, %v", hits, err)
	}
	pt, err := hfrealm.LoadPretrained([]string{"../hfrealm/testdata/gelu/embedder", "../hfrealm/testdata/gelu/encoder"})
	if err != nil {
		t.Fatal(err)
	}
	run, err := FromPretrained(nil, pt, corpus.Documents(corpus.Document{ID: "a", Title: "france", Text: "paris is the capital of france."}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Answer(ctx, "what is the capital of france"); err == nil || !strings.Contains(err.Error(), "reader") {
		t.Errorf("Answer without a reader: %v", err)
	}
	// Embedding reports its progress through the context, ending at the corpus's size.
	var calls [][2]int
	pctx := realm.WithProgress(ctx, func(task string, done, total int) { calls = append(calls, [2]int{done, total}) })
	if _, ids, err := run.EmbedCorpus(pctx); err != nil || len(calls) == 0 || calls[len(calls)-1] != [2]int{len(ids), run.Corpus.Len()} {
		t.Errorf("EmbedCorpus progress %v (%v)", calls, err)
	}
}

// TestList: a root with one run (two phases, one of them corrupted) and a directory that is no
// run lists that run, its intact phase with its step, and the corrupted one as a problem.
func TestList(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a")
	if err := os.MkdirAll(filepath.Join(root, "not-a-run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteInfo(dir, Info{Config: realm.DefaultConfig(), Seed: 5}); err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	if _, err := store.RootScope().CreateVariable("w", tensors.FromValue([]float32{1})); err != nil {
		t.Fatal(err)
	}
	for _, phase := range []string{"ict", "realm"} {
		if _, err := (training.Checkpoints{Dir: filepath.Join(dir, phase)}).Save(store, training.TrainState{Task: phase, Step: 7}); err != nil {
			t.Fatal(err)
		}
	}
	bins, _ := filepath.Glob(filepath.Join(dir, "realm", "step-*", "*.bin"))
	if len(bins) == 0 {
		t.Fatal("no checkpoint file to corrupt")
	}
	if err := os.WriteFile(bins[0], []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Dir != dir || list[0].Info.Seed != 5 || list[0].Phases["ict"].Step != 7 {
		t.Fatalf("List = %+v", list)
	}
	if _, ok := list[0].Phases["realm"]; ok || len(list[0].Problems) != 1 || !strings.HasPrefix(list[0].Problems[0], "realm: ") {
		t.Errorf("a corrupted phase: phases %v, problems %q", list[0].Phases, list[0].Problems)
	}
}
