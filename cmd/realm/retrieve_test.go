package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	dataqa "github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/layers/backend"
	"github.com/realm-go/realm/realm/hfrealm"
	"github.com/realm-go/realm/realm/runs"
)

// fixtures is realm/hfrealm's directory of transformers' REALM fixtures.
var fixtures = filepath.Join("..", "..", "realm", "hfrealm", "testdata")

// readFixtures decodes what transformers computed on the fixtures (expected.json) into v.
func readFixtures(t *testing.T, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// TestRetrieveHFModel runs `realm retrieve -json` with a RealmEmbedder checkpoint saved by
// transformers (realm/hfrealm's fixture) on a small JSONL corpus, and compares every score with
// the one transformers computed on the same texts (tools/fixtures/make_realm_fixture.py).
func TestRetrieveHFModel(t *testing.T) {
	var exp struct {
		Retrieve struct {
			Docs []struct {
				ID    string `json:"id"`
				Title string `json:"title"`
				Text  string `json:"text"`
			} `json:"docs"`
			Questions []string `json:"questions"`
			Scores    struct {
				Data []float64 `json:"data"`
			} `json:"scores"`
		} `json:"retrieve"`
	}
	readFixtures(t, &exp)
	want := exp.Retrieve
	var jsonl bytes.Buffer
	for _, d := range want.Docs {
		line, _ := json.Marshal(d)
		jsonl.Write(append(line, '\n'))
	}
	corpusPath := filepath.Join(t.TempDir(), "docs.jsonl")
	if err := os.WriteFile(corpusPath, jsonl.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-model", filepath.Join(fixtures, "gelu_new", "embedder"), "-corpus", corpusPath, "-k", "3", "-json",
		"-query-len", "16", "-doc-len", "48"}, want.Questions...)
	out, err := captureStdout(t, func() error { return runRetrieve(context.Background(), args) })
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	n := 0
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			continue // the backend's own messages.
		}
		var r retrieval
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if n >= len(want.Questions) || r.Question != want.Questions[n] || len(r.Results) != 3 {
			t.Fatalf("line %d: %+v", n, r)
		}
		for i, x := range r.Results {
			doc := -1
			for j, d := range want.Docs {
				if strings.HasPrefix(x.ID, d.ID+"#") && x.Title == d.Title {
					doc = j
				}
			}
			if doc < 0 {
				t.Fatalf("result %+v names no document", x)
			}
			if w := want.Scores.Data[n*len(want.Docs)+doc]; math.Abs(x.Score-w) > 1e-4 {
				t.Errorf("%q, %s: score %g, transformers %g", r.Question, x.ID, x.Score, w)
			}
			if i > 0 && x.Score > r.Results[i-1].Score {
				t.Errorf("%q: results not in order of score: %+v", r.Question, r.Results)
			}
		}
		n++
	}
	if n != len(want.Questions) {
		t.Errorf("%d JSON lines, want %d:\n%s", n, len(want.Questions), out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"q"}, "-model DIR is required"},
		{[]string{"-model", filepath.Join(fixtures, "gelu_new", "embedder")}, "no question given"},
		{[]string{"-model", filepath.Join(fixtures, "gelu_new", "embedder"), "q"}, "-corpus FILE is required"},
		{[]string{"-model", filepath.Join(fixtures, "gelu_new", "encoder"), "-corpus", corpusPath, "q"}, "has no retriever"},
		{[]string{"-model", t.TempDir(), "q"}, "neither a run directory nor a Hugging Face REALM directory"},
	} {
		if err := runRetrieve(context.Background(), tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("retrieve %v: err = %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestRetrieveOpenQAIndex runs `realm retrieve -json` with the fixture RealmForOpenQA and no
// corpus: it searches block_emb and prints each block's record, and every score is the inner
// product of the question's embedding with the block's row of block_emb.
func TestRetrieveOpenQAIndex(t *testing.T) {
	dir, records := filepath.Join(fixtures, "gelu_new", "openqa"), filepath.Join(fixtures, "block_records.npy")
	questions := []string{"what is the capital of france", "which sea is baku on"}
	out, err := captureStdout(t, func() error {
		return runRetrieve(context.Background(), append([]string{"-model", dir, "-block-records", records, "-k", "4", "-json", "-query-len", "12"}, questions...))
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	texts, err := hfrealm.LoadBlockRecords(records)
	if err != nil {
		t.Fatal(err)
	}
	emb, _, d, err := hfrealm.LoadBlockEmb(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := hfrealm.OpenRetriever(backend.MustNew(), dir, records, 12)
	if err != nil {
		t.Fatal(err)
	}
	qv, err := r.EmbedQuestions(questions)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.SplitSeq(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var got retrieval
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if n >= len(questions) || got.Question != questions[n] || len(got.Results) != 4 {
			t.Fatalf("line %d: %+v", n, got)
		}
		for i, x := range got.Results {
			var id int
			if _, err := fmt.Sscan(x.ID, &id); err != nil || id < 0 || id >= len(texts) || x.Text != texts[id] {
				t.Fatalf("%q: result %+v is not a block of the index", got.Question, x)
			}
			dot := 0.0
			for j := range d {
				dot += float64(qv[n*d+j]) * float64(emb[id*d+j])
			}
			if math.Abs(x.Score-dot) > 1e-4 {
				t.Errorf("%q, block %d: score %g, inner product %g", got.Question, id, x.Score, dot)
			}
			if i > 0 && x.Score > got.Results[i-1].Score {
				t.Errorf("%q: results not in order of score: %+v", got.Question, got.Results)
			}
		}
		n++
	}
	if n != len(questions) {
		t.Errorf("%d JSON lines, want %d:\n%s", n, len(questions), out)
	}
}

// TestAskHFOpenQA answers with transformers' fixture RealmForOpenQA and its block records
// (`realm ask -model`) and finds the answer transformers predicted for the same question.
func TestAskHFOpenQA(t *testing.T) {
	var exp struct {
		Answers []struct{ Model, Question, Answer string } `json:"openqa_answers"`
	}
	readFixtures(t, &exp)
	if len(exp.Answers) == 0 {
		t.Fatal("expected.json holds no answers")
	}
	want := exp.Answers[0]
	out, err := captureStdout(t, func() error {
		return runAsk(context.Background(), []string{"-model", filepath.Join(fixtures, want.Model, "openqa"),
			"-block-records", filepath.Join(fixtures, "block_records.npy"), want.Question})
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "Q: "+want.Question+"\nA: "+want.Answer+" ") {
		t.Errorf("output lacks transformers' answer %q:\n%s", want.Answer, out)
	}
	err = runAsk(context.Background(), []string{"-model", filepath.Join(fixtures, "gelu_new", "embedder"), "q"})
	if err == nil || !strings.Contains(err.Error(), "not a RealmForOpenQA") {
		t.Errorf("ask -model with an embedder: err = %v", err)
	}
}

// TestEvalHFOpenQA evaluates transformers' fixture RealmForOpenQA (`realm eval -model -qa`) on
// its own fixture questions, with transformers' predicted answers as the gold answers of all
// but the last, whose gold answer is a word of no block: exact match must be (n−1)/n.
func TestEvalHFOpenQA(t *testing.T) {
	var exp struct {
		Answers []struct{ Model, Question, Answer string } `json:"openqa_answers"`
	}
	readFixtures(t, &exp)
	var lines bytes.Buffer
	n := 0
	for _, a := range exp.Answers {
		if a.Model != "gelu_new" {
			continue
		}
		n++
		line, _ := json.Marshal(map[string]any{"question": a.Question, "answer": []string{a.Answer}})
		lines.Write(append(line, '\n'))
	}
	if n < 2 {
		t.Fatalf("%d fixture answers", n)
	}
	last, _ := json.Marshal(map[string]any{"question": "the capital of azerbaijan", "answer": []string{"queen"}})
	lines.Write(append(last, '\n'))
	n++
	path := filepath.Join(t.TempDir(), "qa.jsonl")
	if err := os.WriteFile(path, lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := captureStdout(t, func() error {
		return runEval(context.Background(), []string{"-model", filepath.Join(fixtures, "gelu_new", "openqa"),
			"-block-records", filepath.Join(fixtures, "block_records.npy"), "-qa", path})
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := fmt.Sprintf("%.3f", float64(n-1)/float64(n))
	found := false
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[0] == "all" && slices.Contains(f, want) {
			found = true
		}
	}
	if !found {
		t.Errorf("no overall row with EM %s:\n%s", want, out)
	}
	if err := runEval(context.Background(), []string{"-model", filepath.Join(fixtures, "gelu_new", "openqa")}); err == nil || !strings.Contains(err.Error(), "-model needs -qa FILE") {
		t.Errorf("eval -model without -qa: err = %v", err)
	}
}

// TestContinueFromREALM continues from transformers' fixture RealmEmbedder and
// RealmKnowledgeAugEncoder: `pretrain -realm` pre-trains them (no MLM, no ICT) and records
// them in run.json, and `finetune -realm` fine-tunes open QA from them in a new run directory.
func TestContinueFromREALM(t *testing.T) {
	dirs := filepath.Join(fixtures, "gelu_new", "embedder") + "," + filepath.Join(fixtures, "gelu_new", "encoder")
	pre := filepath.Join(t.TempDir(), "pre")
	out, err := captureStdout(t, func() error {
		return runPretrain(context.Background(), []string{"-realm", dirs, "-dir", pre, "-docs", "20", "-steps", "2", "-batch", "2",
			"-refresh-every", "2", "-query-len", "16", "-doc-len", "48", "-k", "3", "-eval-sentences", "10", "-progress=false", "-checkpoint-every", "0"})
	})
	if err != nil {
		t.Fatalf("pretrain -realm: %v\n%s", err, out)
	}
	if !strings.Contains(out, "loaded a pre-trained REALM") || !strings.Contains(out, "no ICT warm start") || strings.Contains(out, "masked-LM pre-training") {
		t.Errorf("pretrain -realm did not start from the checkpoints:\n%s", out)
	}
	run, err := runs.Open(pre)
	if err != nil {
		t.Fatal(err)
	}
	ri := run.Info
	if len(ri.REALMDirs) != 2 || ri.Config.Encoder.VocabSize != 53 || ri.Config.ProjectionDim != 16 || ri.TokenizerDir == "" {
		t.Errorf("run.json: realm_dirs %v, vocabulary %d, d %d, tokenizer %q", ri.REALMDirs, ri.Config.Encoder.VocabSize, ri.Config.ProjectionDim, ri.TokenizerDir)
	}

	// Users' questions (-qa, NQ-open JSONL), split by hash: the Factbook's, written out.
	var jsonl bytes.Buffer
	nTrain := 0
	for ex, err := range dataqa.Factbook("train") {
		if err != nil {
			t.Fatal(err)
		}
		line, _ := json.Marshal(map[string]any{"question": ex.Question, "answer": ex.Answers})
		jsonl.Write(append(line, '\n'))
		if dataqa.HashSplit(ex.Question) == "train" {
			nTrain++
		}
	}
	qaPath := filepath.Join(t.TempDir(), "qa.jsonl")
	if err := os.WriteFile(qaPath, jsonl.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = captureStdout(t, func() error {
		return runFinetune(context.Background(), []string{"-dir", pre, "-qa", qaPath, "-retriever", "bm25", "-steps", "1", "-batch", "2", "-progress=false"})
	})
	if err != nil {
		t.Fatalf("finetune -qa: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("fine-tuning bm25 + reader on %d questions", nTrain); !strings.Contains(out, want) || !strings.Contains(out, "exact match") {
		t.Errorf("finetune -qa: the output lacks %q or an evaluation:\n%s", want, out)
	}
	if err := runFinetune(context.Background(), []string{"-dir", pre, "-qa-test", qaPath}); err == nil || !strings.Contains(err.Error(), "-qa-test needs -qa") {
		t.Errorf("-qa-test without -qa: err = %v", err)
	}

	ft := filepath.Join(t.TempDir(), "ft")
	args := []string{"-realm", dirs, "-dir", ft, "-docs", "300", "-query-len", "16", "-doc-len", "48", "-steps", "2", "-batch", "2", "-progress=false"}
	if err := runFinetune(context.Background(), append(slices.Clone(args), "-retriever", "ict")); err == nil || !strings.Contains(err.Error(), "no ICT-only retriever") {
		t.Errorf("finetune -realm -retriever ict: err = %v", err)
	}
	out, err = captureStdout(t, func() error { return runFinetune(context.Background(), args) })
	if err != nil {
		t.Fatalf("finetune -realm: %v\n%s", err, out)
	}
	if !strings.Contains(out, "fine-tuning realm + reader") || !strings.Contains(out, "exact match") {
		t.Errorf("finetune -realm printed no fine-tuning and evaluation:\n%s", out)
	}
	store, err := runs.Restore(filepath.Join(ft, "realm"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := hfrealm.LoadPretrained(strings.Split(dirs, ","))
	if err != nil {
		t.Fatal(err)
	}
	for v := range want.Store.IterVariables() {
		w := store.GetVariable(v.Path())
		if w == nil {
			t.Fatalf("the run's checkpoint lacks %s", v.Path())
		}
		a, _ := v.Value()
		b, _ := w.Value()
		if !slices.Equal(tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)) {
			t.Errorf("%s differs from the released checkpoint's", v.Path())
		}
	}
	if err := runFinetune(context.Background(), args); err == nil || !strings.Contains(err.Error(), "already holds a run") {
		t.Errorf("finetune -realm into a run directory: err = %v", err)
	}
}
