package nb

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"os"
	"path/filepath"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/examples"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/realm/openqa"
	"github.com/realm-go/realm/realm/pretrain"
	"github.com/realm-go/realm/realm/runs"
	"github.com/realm-go/realm/realm/training"
)

// MainRunDir is where the README's main job (scripts/demo.sh) leaves its run, relative to the
// checkout.
const MainRunDir = "out/demo"

// QAKinds are the retrievers the open-QA comparison fine-tunes a reader over, in the order the
// notebooks show them.
var QAKinds = []string{openqa.RetrieverBM25, openqa.RetrieverICT, openqa.RetrieverREALM}

// MainRun returns the directory of the main job's run in the checkout root, or an error saying
// what is missing and to run ./scripts/demo.sh first: run.json, the ICT and REALM checkpoints,
// eval.json (the held-out evaluation, runs.ReadEvaluation) and, when qa is set, each retriever's fine-tuned QA model
// with its evaluation on the test split.
func MainRun(root string, qa bool) (string, error) {
	dir := filepath.Join(root, MainRunDir)
	need := []string{runs.InfoFile, "ict/LATEST", "realm/LATEST", runs.EvalFile}
	if qa {
		for _, kind := range QAKinds {
			need = append(need, filepath.Join("qa-"+kind, "LATEST"), filepath.Join("qa-"+kind, QAEvalFile))
		}
	}
	for _, name := range need {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("the main job's run %s has no %s (not run, or not finished): run ./scripts/demo.sh first", MainRunDir, name)
		}
	}
	return dir, nil
}

// HistoryFile is where a notebook keeps the per-step metrics of a pipeline it ran (the library
// keeps training.History in memory only).
const HistoryFile = "notebook-history.json"

// History is the per-step record of a pre-training pipeline: each phase's metrics (by task:
// "mlm", "ict", "realm") and the index refreshes of REALM pre-training.
type History struct {
	Phases    map[string][]training.Record `json:"phases"`
	Staleness []pretrain.StalenessRecord   `json:"staleness,omitempty"`
}

// PipelineHistory collects the history of a pipeline's result.
func PipelineHistory(res *pretrain.PipelineResult) History {
	h := History{Phases: map[string][]training.Record{"mlm": res.MLM.Records(), "ict": res.ICT.Records()}}
	if p := res.Pretrainer; p != nil {
		h.Phases["realm"], h.Staleness = p.History.Records(), p.Staleness()
	}
	return h
}

// WriteHistory writes h to dir/notebook-history.json.
func WriteHistory(dir string, h History) error { return writeJSON(filepath.Join(dir, HistoryFile), h) }

// ReadHistory reads dir/notebook-history.json; ok is false when the run has none (a run that a
// notebook did not make, such as the main job's).
func ReadHistory(dir string) (h History, ok bool, err error) {
	err = readJSON(filepath.Join(dir, HistoryFile), &h)
	if errors.Is(err, os.ErrNotExist) {
		return h, false, nil
	}
	return h, err == nil, err
}

// Metric returns the steps and values of one metric of a phase's records.
func Metric(recs []training.Record, name string) (steps, values []float64) {
	for _, r := range recs {
		if v, ok := r.Metrics[name]; ok {
			steps, values = append(steps, float64(r.Step)), append(values, v)
		}
	}
	return steps, values
}

// MovingAverage is the mean of each value and the w−1 before it (fewer at the start).
func MovingAverage(values []float64, w int) []float64 {
	w = max(w, 1)
	out := make([]float64, len(values))
	sum := 0.0
	for i, v := range values {
		sum += v
		if i >= w {
			sum -= values[i-w]
		}
		out[i] = sum / float64(min(i+1, w))
	}
	return out
}

// Documents returns the documents a run's corpus is built from (what run.json selects: the
// embedded Factbook or its corpus file, its titles, its first MaxDocs), as runs.Open reads them.
func Documents(info runs.Info) func() iter.Seq2[corpus.Document, error] {
	return func() iter.Seq2[corpus.Document, error] {
		docs := corpus.Factbook()
		if info.CorpusPath != "" {
			docs = corpus.Open(info.CorpusPath, corpus.ReadOptions{})
		}
		return corpus.Head(corpus.WithTitles(docs, info.Titles), info.MaxDocs)
	}
}

// HeldOut returns the masked sentences that the run's REALM pre-training held out, as it
// masked them: a salient span of kinds (zero: all) found by the rule tagger with a gazetteer
// of the run's documents, the run's seed, and the share held out (the pipeline's
// PretrainConfig.HeldOut; `realm pretrain` and `realm demo` hold out 0.02).
func HeldOut(run *runs.Run, kinds spans.Kinds, share float64) ([]examples.Pretrain, error) {
	g, err := spans.BuildGazetteer(Documents(run.Info)(), spans.GazetteerOptions{})
	if err != nil {
		return nil, err
	}
	s, err := pretrain.MaskSentences(run.Corpus, spans.RuleTagger{Gazetteer: g, Kinds: kinds}, run.Info.Config, run.Info.Seed, share)
	if err != nil {
		return nil, err
	}
	return s.Eval, nil
}

// QAEvalFile is the evaluation on the test split that `realm finetune` and `realm demo` write
// to each fine-tuned QA directory.
const QAEvalFile = "eval-test.json"

// ReadQAEval reads the evaluation of the QA model fine-tuned over retriever kind in run dir.
func ReadQAEval(dir, kind string) (*openqa.QAEval, error) {
	var ev openqa.QAEval
	if err := readJSON(filepath.Join(runs.QADir(dir, kind), QAEvalFile), &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// RecallAt returns recall@k of s, NaN when s has none for k.
func RecallAt(s openqa.QAScores, k int) float64 {
	for _, r := range s.Recall {
		if r.K == k {
			return r.Recall
		}
	}
	return math.NaN()
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
