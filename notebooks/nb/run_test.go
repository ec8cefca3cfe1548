package nb

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/ml/model"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/openqa"
	"github.com/realm-go/realm/realm/pretrain"
	"github.com/realm-go/realm/realm/runs"
	"github.com/realm-go/realm/realm/training"
)

// TestMovingAverageAndMetric: the mean of the last w values (fewer at the start); a metric's
// steps and values, records without it skipped.
func TestMovingAverageAndMetric(t *testing.T) {
	got := MovingAverage([]float64{2, 4, 6, 8}, 2)
	if want := []float64{2, 3, 5, 7}; !slices.Equal(got, want) {
		t.Errorf("MovingAverage = %v, want %v", got, want)
	}
	if got := MovingAverage([]float64{1, 2}, 0); !slices.Equal(got, []float64{1, 2}) {
		t.Errorf("MovingAverage(w=0) = %v", got)
	}
	recs := []training.Record{{Step: 1, Metrics: map[string]float64{"loss": 3}}, {Step: 2, Metrics: map[string]float64{"acc": 1}}, {Step: 3, Metrics: map[string]float64{"loss": 1}}}
	xs, ys := Metric(recs, "loss")
	if !slices.Equal(xs, []float64{1, 3}) || !slices.Equal(ys, []float64{3, 1}) {
		t.Errorf("Metric = %v, %v", xs, ys)
	}
}

// TestHistory: a history written is read back; a run without one reads as not there.
func TestHistory(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ReadHistory(dir); ok || err != nil {
		t.Errorf("no history file: ok %v, err %v", ok, err)
	}
	h := History{Phases: map[string][]training.Record{"realm": {{Step: 1, Metrics: map[string]float64{"loss": 2}}}},
		Staleness: []pretrain.StalenessRecord{{Step: 4, OldStep: 0, Overlap: 0.75, Ready: 5}}}
	if err := WriteHistory(dir, h); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ReadHistory(dir)
	if err != nil || !ok || got.Phases["realm"][0].Metrics["loss"] != 2 || got.Staleness[0].Overlap != 0.75 {
		t.Errorf("read %+v, %v, %v", got, ok, err)
	}
}

// TestMainRun: a missing or unfinished main run names what is missing and says to run the
// demo; a complete one is found, and its QA evaluations read.
func TestMainRun(t *testing.T) {
	root := t.TempDir()
	if _, err := MainRun(root, false); err == nil || !strings.Contains(err.Error(), "run ./scripts/demo.sh first") {
		t.Errorf("no out/demo: %v", err)
	}
	dir := filepath.Join(root, MainRunDir)
	store := model.NewStore()
	store.RootScope().VariableWithValue("w", []float32{1, 2})
	for i, phase := range []string{"realm", "ict", "qa-bm25", "qa-ict", "qa-realm"} {
		if _, err := (training.Checkpoints{Dir: filepath.Join(dir, phase)}).Save(store, training.TrainState{Task: phase, Step: int64(10 + i), IndexGeneration: 2}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{runs.InfoFile, runs.EvalFile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := MainRun(root, false); err != nil || got != dir {
		t.Errorf("pre-trained run: %q, %v", got, err)
	}
	if _, err := MainRun(root, true); err == nil || !strings.Contains(err.Error(), QAEvalFile) {
		t.Errorf("no QA evaluations: %v", err)
	}
	for _, kind := range QAKinds {
		if err := os.WriteFile(filepath.Join(runs.QADir(dir, kind), QAEvalFile), []byte(`{"retriever": "`+kind+`", "overall": {"n": 2, "em": 0.5, "recall": [{"k": 5, "recall": 1}]}}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := MainRun(root, true); err != nil {
		t.Errorf("complete run: %v", err)
	}
	ev, err := ReadQAEval(dir, openqa.RetrieverICT)
	if err != nil || ev.Retriever != "ict" || RecallAt(ev.Overall, 5) != 1 || !math.IsNaN(RecallAt(ev.Overall, 20)) {
		t.Errorf("ReadQAEval: %+v, %v", ev, err)
	}
}

// factbookCorpus builds the blocks of the Factbook documents of titles.
func factbookCorpus(t *testing.T, info runs.Info) *realm.Corpus {
	t.Helper()
	tok, err := tokenize.Default()
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := realm.BuildCorpus(tok, Documents(info)(), info.Config.DocLen)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHeldOutAndQuestions: the held-out sentences are those pre-training holds out of the run's
// corpus (same tagger, seed and share); the questions are about the corpus's countries.
func TestHeldOutAndQuestions(t *testing.T) {
	info := runs.Info{Config: realm.DefaultConfig(), Titles: []string{"Azerbaijan", "Andorra"}, Seed: 1}
	c := factbookCorpus(t, info)
	held, err := HeldOut(&runs.Run{Info: info, Corpus: c}, 0, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	g, err := spans.BuildGazetteer(corpus.WithTitles(corpus.Factbook(), info.Titles), spans.GazetteerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := pretrain.MaskSentences(c, spans.RuleTagger{Gazetteer: g}, info.Config, 1, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) == 0 || len(held) != len(want.Eval) || len(want.Train) < 5*len(held) {
		t.Fatalf("%d held-out sentences, MaskSentences holds out %d of %d", len(held), len(want.Eval), len(want.Eval)+len(want.Train))
	}
	for i, ex := range held {
		if ex.BlockID != want.Eval[i].BlockID || ex.Text != want.Eval[i].Text || len(ex.Targets) == 0 {
			t.Errorf("held-out sentence %d: %+v, want %+v", i, ex, want.Eval[i])
		}
	}
	qs, err := Questions("test", c)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Country != "Azerbaijan" && q.Country != "Andorra" && q.Country != "" {
			t.Errorf("a question about %s: %q", q.Country, q.Question)
		}
	}
	if len(qs) < 10 {
		t.Errorf("%d test questions about Azerbaijan and Andorra", len(qs))
	}
}

// TestCandidatesAndGroupR: ∅, same-country and other-country candidates are told apart and
// summarised per group.
func TestCandidatesAndGroupR(t *testing.T) {
	info := runs.Info{Config: realm.DefaultConfig(), Titles: []string{"Azerbaijan", "Andorra"}}
	c := factbookCorpus(t, info)
	var az, ad int64 = -1, -1
	for id := range int64(c.Len()) {
		b, _ := c.Block(id)
		if b.Title == "Azerbaijan" && az < 0 {
			az = id
		}
		if b.Title == "Andorra" && ad < 0 {
			ad = id
		}
	}
	s := pretrain.Scored{Blocks: []int64{-1, az, ad}, PZ: []float64{0.5, 0.3, 0.2}, R: []float64{-0.1, 0.15, -0.05}}
	cands, err := Candidates(c, "Azerbaijan", s)
	if err != nil {
		t.Fatal(err)
	}
	if cands[0].Group != NullDocument || cands[1].Group != SameCountry || cands[2].Group != OtherCountry || cands[2].Title != "Andorra" || cands[1].PZ != 0.3 {
		t.Errorf("candidates %+v", cands)
	}
	more, _ := Candidates(c, "Andorra", pretrain.Scored{Blocks: []int64{-1, ad}, PZ: []float64{0.4, 0.6}, R: []float64{-0.2, 0.2}})
	groups := GroupR(append(cands, more...))
	if len(groups) != 3 || groups[0].Group != SameCountry || groups[0].N != 2 || groups[0].Positive != 2 ||
		math.Abs(groups[0].MeanR-0.175) > 1e-12 || math.Abs(groups[0].MeanPZ-0.45) > 1e-12 ||
		groups[1].N != 1 || groups[1].Positive != 0 || groups[2].N != 2 || math.Abs(groups[2].MeanR+0.15) > 1e-12 {
		t.Errorf("groups %+v", groups)
	}
}

// TestHighlight: the span is marked and escaped, the context cut at character boundaries with
// an ellipsis where the text goes on.
func TestHighlight(t *testing.T) {
	text := "Capital: Bakı <city> — the largest"
	start := strings.Index(text, "Bakı")
	got := Highlight(text, start, start+len("Bakı"), 3)
	if want := "…l: <mark>Bakı</mark> &lt;c…"; got != want {
		t.Errorf("Highlight = %q, want %q", got, want)
	}
	// A context boundary inside "—" (3 bytes) moves back to its first byte.
	dash := strings.Index(text, "—")
	if got := Highlight(text, dash+len("—"), dash+len("— the"), 1); !strings.HasPrefix(got, "…—<mark> the</mark>") {
		t.Errorf("Highlight at a multi-byte boundary = %q", got)
	}
	if got := Highlight(text, 0, len(text), 0); got != "<mark>Capital: Bakı &lt;city&gt; — the largest</mark>" {
		t.Errorf("whole text = %q", got)
	}
	if got := Highlight(text, -1, 0, 4); got != "Capital:…" {
		t.Errorf("no span = %q", got)
	}
	if got := Excerpt(text, len("Capital: Bak")+1); got != "Capital: Bak…" { // inside "ı"
		t.Errorf("Excerpt = %q", got)
	}
	if got := Excerpt("a<b", 10); got != "a&lt;b" {
		t.Errorf("Excerpt of a short text = %q", got)
	}
}

// TestPickPredictions: right answers of distinct relations, then a wrong one, then the rest in
// order.
func TestPickPredictions(t *testing.T) {
	preds := []openqa.QAPrediction{
		{Relation: "capital", Correct: false}, {Relation: "capital", Correct: true}, {Relation: "capital", Correct: true},
		{Relation: "currency", Correct: true}, {Relation: "anthem", Correct: false},
	}
	if got, want := PickPredictions(preds, 4), []int{1, 3, 0, 2}; !slices.Equal(got, want) {
		t.Errorf("PickPredictions(4) = %v, want %v", got, want)
	}
	if got, want := PickPredictions(preds, 2), []int{1, 0}; !slices.Equal(got, want) {
		t.Errorf("PickPredictions(2) = %v, want %v", got, want)
	}
	wrong := []openqa.QAPrediction{{}, {}, {}}
	if got, want := PickPredictions(wrong, 5), []int{0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("no right answer: %v, want %v", got, want)
	}
}
