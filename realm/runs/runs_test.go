package runs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/openqa"
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
