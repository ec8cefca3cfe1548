package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/realm-go/realm/realm/openqa"
	"github.com/realm-go/realm/realm/pretrain"
	"github.com/realm-go/realm/realm/runs"
)

func TestBadFlagsAreClearErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		run  func(context.Context, []string) error
		args []string
		want string
	}{
		{runPretrain, []string{"-k", "1"}, "-k must be ≥ 2"},
		{runPretrain, []string{"-steps", "0"}, "-steps is out of range"},
		{runPretrain, []string{"-held-out", "1"}, "-held-out must be in [0, 1)"},
		{runPretrain, []string{"-salient", "entity,person"}, `-salient: spans: unknown span kind "person"`},
		{runPretrain, []string{"-ict-hard-negatives", "-ict-batch", "5", "-dir", ""}, "batch size must be even, got 5"},
		{runPretrain, []string{"-corpus", "/no/such/file.jsonl"}, "-corpus"},
		{runPretrain, []string{"-bert", "/no/such/dir"}, "not a Hugging Face BERT directory"},
		{runPretrain, []string{"extra"}, "unexpected argument"},
		{runFinetune, []string{"-retriever", "tfidf"}, "want realm, ict, bm25 or all"},
		{runFinetune, []string{"-split", "validation"}, "-split"},
		{runFinetune, []string{"-dir", "/no/such/run"}, "not a pre-training run directory"},
		{runFinetune, []string{"-reader-spans", "token"}, `-reader-spans "token"`},
		{runAsk, []string{"-dir", "/no/such/run"}, "no question given"},
		{runIndex, []string{"rebuild"}, "want 'realm index build"},
		{runIndex, []string{"build", "-kind", "lsh"}, "want exact or hnsw"},
		{runBench, []string{"-n", "0"}, "must be > 0"},
		{runBench, []string{"-steps", "0"}, "-steps must be > 0"},
		{runBench, []string{"-models=false", "-mips=false"}, "nothing to run"},
		{runBench, []string{"-min-recall", "2"}, "-min-recall"},
	} {
		err := tc.run(ctx, tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-dir", ""}, "give -bert DIR"},
		{[]string{"-from-scratch", "-bert", "/tmp"}, "exclude each other"},
		{[]string{"-from-scratch", "-qa-batch", "0"}, "-qa-batch"},
		{[]string{"-from-scratch", "-qa-steps", "5", "-qa-warmup", "6"}, "-qa-warmup 6 exceeds -qa-steps 5"},
		{[]string{"-from-scratch", "-retriever-pooling", "mean"}, `-retriever-pooling "mean"`},
		{[]string{"-from-scratch", "-reader-spans", "token"}, `-reader-spans "token"`},
		{[]string{"-from-scratch", "-test-countries", "1000"}, "-test-countries 1000: the test split asks about"},
	} {
		if err := runDemo(ctx, tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("demo %v: err = %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	if err := runDemo(ctx, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
	if got := sortedNames(); strings.Join(got, ",") != "ask,bench,demo,eval,finetune,index,pretrain,retrieve,version" {
		t.Errorf("commands = %v", got)
	}
}

// captureStdout runs f with os.Stdout redirected and returns what it wrote.
func captureStdout(t *testing.T, f func() error) (string, error) {
	t.Helper()
	stdout := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout = w
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { out.ReadFrom(r); close(done) }()
	err = f()
	w.Close()
	os.Stdout = stdout
	<-done
	return out.String(), err
}

// TestDemoEndToEnd runs the from-scratch demo at a toy size (one test country, Azerbaijan, and
// three train countries; a couple of steps per phase), evaluates the finished run again, then
// runs the eval, index and ask commands on its run directory.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	dir := filepath.Join(t.TempDir(), "run")
	args := []string{"-dir", dir, "-from-scratch", "-test-countries", "1", "-train-countries", "3", "-mlm-steps", "2", "-ict-steps", "2", "-steps", "2", "-refresh-every", "1",
		"-qa-steps", "1", "-qa-warmup", "1", "-query-len", "32", "-doc-len", "64", "-k", "3", "-eval-sentences", "8", "-batch", "2",
		"-ict-batch", "4", "-mlm-batch", "2", "-salient", "entity", "-progress=false"}
	var first, again pretrain.Evaluation
	text, err := captureStdout(t, func() error {
		err := runDemo(context.Background(), args)
		if err == nil {
			first, err = runs.ReadEvaluation(dir)
		}
		if err == nil { // The same flags on the finished run only restore and evaluate again.
			i := slices.Index(args, "-qa-steps")
			err = runDemo(context.Background(), slices.Concat(args[:i], []string{"-qa-steps", "0"}, args[i+2:]))
		}
		if err == nil {
			again, err = runs.ReadEvaluation(dir)
		}
		if err == nil {
			err = runEval(context.Background(), []string{"-dir", dir, "-retriever", "all", "-reader-beam", "3"})
		}
		if err == nil {
			err = runIndex(context.Background(), []string{"build", "-dir", dir, "-kind", "hnsw"})
		}
		if err == nil {
			err = runAsk(context.Background(), []string{"-dir", dir, "-reader-beam", "3", "What is the capital of Azerbaijan?"})
		}
		return err
	})
	if err != nil {
		t.Fatalf("%v\noutput:\n%s", err, text)
	}
	if first.Refreshes == 0 || again.Refreshes != first.Refreshes || again.StepsPerSec != first.StepsPerSec {
		t.Errorf("re-evaluation: refreshes %d, steps/s %v; first evaluation: %d, %v", again.Refreshes, again.StepsPerSec, first.Refreshes, first.StepsPerSec)
	}
	if again.RecallBM25 != first.RecallBM25 || again.SubjectNamed.Sentences+again.SubjectUnnamed.Sentences != again.Sentences {
		t.Errorf("re-evaluation: BM25 recall %v (first %v); %d + %d sentences with the country named / not named, %d in all",
			again.RecallBM25, first.RecallBM25, again.SubjectNamed.Sentences, again.SubjectUnnamed.Sentences, again.Sentences)
	}
	// The paired differences agree with the recalls they compare.
	pd := first.Paired
	if math.Abs(pd.SameCountryVsICT.Value-(first.RecallREALM-first.RecallICT)) > 1e-9 ||
		math.Abs(pd.SameCountryVsRandom.Value-(first.RecallREALM-first.RecallRandom)) > 1e-9 ||
		math.Abs(pd.AnswerVsICT.Value-(first.AnswerRecallREALM-first.AnswerRecallICT)) > 1e-9 ||
		float64(pd.SameCountryVsICT.Wins-pd.SameCountryVsICT.Losses) != math.Round(float64(first.Sentences)*(first.RecallREALM-first.RecallICT)) {
		t.Errorf("paired differences %+v disagree with the recalls REALM %v, ICT %v, random %v", pd, first.RecallREALM, first.RecallICT, first.RecallRandom)
	}
	if first.SalientKinds != "entity" {
		t.Errorf("eval.json records salient kinds %q, want entity", first.SalientKinds)
	}
	for _, want := range []string{"on 1 test and 3 train countries", "What this run shows", "REALM − ICT-only", "salient-span masked (entity;", "masked-token accuracy, with retrieval", "same-country recall", "Open-QA on the Factbook test split", "BM25", "ICT", "REALM", "Q: What is the capital of Azerbaijan?", "p(z|x)="} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	for _, f := range []string{"run.json", "eval.json", "realm/LATEST", "qa-realm/eval-test.json", "qa-bm25/LATEST", "index-hnsw.mips"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	// The reader's configuration is recorded beside each fine-tuned model, and eval reads it.
	var f qaFlags
	f.readerBeam = 3
	rc, err := runs.ReaderConfig(filepath.Join(dir, "qa-ict"), f.readerConfig())
	if err != nil || rc.Spans != openqa.SpansWholeWord || rc.SeqLen != 128 || rc.ReaderBeam != 3 {
		t.Errorf("recorded reader %+v, %v: want the demo's whole-word spans, its -reader-len and the flag's beam", rc, err)
	}
	if err := os.Remove(filepath.Join(dir, "qa-ict", runs.ReaderFile)); err != nil {
		t.Fatal(err)
	}
	if rc, err := runs.ReaderConfig(filepath.Join(dir, "qa-ict"), f.readerConfig()); err != nil || !rc.WholeWords() {
		t.Errorf("a run fine-tuned before the record: reader %+v, %v; want whole-word spans", rc, err)
	}

	// The library's handle on the run, moved elsewhere: it retrieves (p(z|x) over the k blocks),
	// scores masked sentences (Σ_z r(z) = 0, ∅ first) and answers as 'realm ask' does.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	run, err := runs.Open(moved)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hits, err := run.Retrieve(ctx, "What is the capital of Azerbaijan?", 3)
	if err != nil || len(hits) != 3 {
		t.Fatalf("Retrieve: %+v, %v", hits, err)
	}
	scored, err := run.Score(ctx, []pretrain.MaskedText{{Text: "Baku is the capital of Azerbaijan.", Masks: []string{"Baku"}}})
	if err != nil || len(scored) != 1 || scored[0].Blocks[0] != -1 || len(scored[0].R) != 3 {
		t.Fatalf("Score: %+v, %v", scored, err)
	}
	if sum := scored[0].R[0] + scored[0].R[1] + scored[0].R[2]; math.Abs(sum) > 1e-4 {
		t.Errorf("Σ_z r(z) = %v, want 0", sum)
	}
	if a, err := run.Answer(ctx, "What is the capital of Azerbaijan?"); err != nil || len(a.Blocks) == 0 {
		t.Errorf("Answer: %+v, %v", a, err)
	}
}

// TestBenchTiny runs realm bench at toy sizes: the model table, the MIPS tables, and the
// peers' comparison or the lines saying why they were skipped (the PyTorch peer always is at
// -tiny; FAISS runs when $REALM_PYTHON or python3 imports faiss and numpy).
func TestBenchTiny(t *testing.T) {
	var out, progress bytes.Buffer
	err := bench(context.Background(), []string{"-tiny", "-n", "2000", "-queries", "50", "-steps", "1", "-skip-coder", "-timeout", "5m"}, &out, &progress)
	text := out.String()
	t.Log("\n" + text)
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	for _, want := range []string{
		"workload", "ours wall s", "ours CPU s", "util", "peak RSS MiB",
		"REALM train step", "BERT MLM train step", "Document embedding", "blocks/s",
		"PyTorch peer skipped: -tiny shapes have no peer",
		"== clustered N=2000", "== random N=2000", "exact:", "recall@k", "QPS parallel",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(text, "ours/FAISS") && !strings.Contains(text, "FAISS peer skipped") {
		t.Error("output has neither the FAISS comparison nor a line saying it was skipped")
	}
}

// TestVersionAndIndexHelp: `realm version` names the module, Go and GoMLX; `realm index -h`
// prints its flags and is help, not an error.
func TestVersionAndIndexHelp(t *testing.T) {
	out, err := captureStdout(t, func() error { return runVersion(context.Background(), nil) })
	if err != nil || !strings.HasPrefix(out, "realm-go ") || !strings.Contains(out, "go1.") || !strings.Contains(out, "gomlx v") {
		t.Errorf("realm version: %q, %v", out, err)
	}
	if err := runVersion(context.Background(), []string{"x"}); err == nil {
		t.Error("realm version x: no error")
	}
	if err := runIndex(context.Background(), []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("realm index -h: err = %v, want flag.ErrHelp", err)
	}
}

// TestProgressLines: off a terminal, a task prints plain lines at each quarter (no carriage
// returns); on one, a single line rewritten in place and ended once.
func TestProgressLines(t *testing.T) {
	var plain strings.Builder
	p := progressLines(&plain, false)
	for done := 1; done <= 8; done++ {
		p("embedding the corpus", done, 8)
	}
	p("evaluating realm", 1, 1)
	want := "embedding the corpus: 2/8\nembedding the corpus: 4/8\nembedding the corpus: 6/8\nembedding the corpus: 8/8\nevaluating realm: 1/1\n"
	if plain.String() != want {
		t.Errorf("plain progress:\n%q\nwant\n%q", plain.String(), want)
	}
	var term strings.Builder
	p = progressLines(&term, true)
	for done := 1; done <= 8; done++ {
		p("embedding the corpus", done, 8)
	}
	if s := term.String(); !strings.HasPrefix(s, "\rembedding the corpus: 1/8") || !strings.HasSuffix(s, "\rembedding the corpus: 8/8\n") || strings.Count(s, "\n") != 1 {
		t.Errorf("terminal progress: %q", s)
	}
}
