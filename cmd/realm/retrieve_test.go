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
