package openqa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"

	"github.com/realm-go/realm/data/qa"
	"github.com/realm-go/realm/mips"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/training"
)

// QATrainState is what a fine-tuning checkpoint records about its run.
type QATrainState struct {
	// Config and Reader are the model's settings; Retriever the retriever's Name.
	Config    realm.Config `json:"config"`
	Reader    ReaderConfig `json:"reader"`
	Retriever string       `json:"retriever"`
}

// FineTune is REALM's open-QA fine-tuning (§3.5, following ORQA): for each question the
// retriever's top RetrieverBeam blocks, of which the reader reads the first ReaderBeam; the loss
// per question is
//
//	−log p(y|x)                       reader (ReaderLogLikelihood), 0 if no top-ReaderBeam block has a matching span
//	−log Σ_{z ∈ beam, z ∋ y} p(z|x)   ORQA's early-update retriever loss (RetrieverEarlyLoss), 0 if no block of the beam contains an answer
//
// averaged over the batch. With a DenseRetriever the document embeddings and index stay fixed
// and the query tower trains with the reader (f(x,z) is recomputed in the graph from the query
// tower and the fixed Embed_doc(z)); with any other retriever only the reader trains, with a
// uniform p(z|x) over its top-k. The reader's gold spans are the spans exact match counts as
// right (MatchSpans), or ORQA's occurrences of an answer's wordpieces (AnswerSpans) with
// ReaderConfig.ExactGold. The run is a training.Phase, as the
// other training loops (checkpoints in run.Dir, resume, NaN stop, training.History, MicroBatches);
// task "qa". Metrics: reader_loss, retriever_loss, reader_oracle (a gold span in the top
// ReaderBeam), retriever_oracle (an answer in the beam), span_em (the argmax span is gold) and
// batches_without_gold (the share of the run's batches so far with no gold span at all: they
// train nothing). When most batches have none, a warning goes to run.Log, once after the
// first 20 steps (or at the end of a shorter run).
//
// A dense retriever's index is saved as QAIndexFile in run.Dir on the first call; a resumed run
// (or a later one in the same directory) loads it back into the retriever, so the run keeps
// the index it started with even though, with shared towers, fine-tuning changes the document
// tower's weights. Evaluate a fine-tuned store with that file (LoadDenseRetriever).
func (q *QA) FineTune(ctx context.Context, examples []qa.Example, run training.RunConfig, h *training.History) error {
	if len(examples) == 0 {
		return fmt.Errorf("realm qa: no training question")
	}
	if h == nil {
		h = &training.History{}
	}
	dense, isDense := q.Retriever.(*DenseRetriever)
	K, R, NS := q.Reader.ReaderBeam, q.Reader.Len(q.Cfg), q.ns
	Kw := K
	if isDense {
		Kw = max(K, min(q.Reader.RetrieverBeam, q.Corpus.Len()))
	}
	if isDense && run.Dir != "" {
		if err := q.fixIndex(dense, run.Dir); err != nil {
			return err
		}
	}
	Q, d := q.Cfg.QueryLen, q.Cfg.ProjectionDim
	ord := &training.Order{N: len(examples), Seed: run.Seed}
	cov := &goldCoverage{log: run.Log, readerBeam: K, warnAfter: min(int64(run.Steps), goldWarnAfter)}
	p := &training.Phase{Task: "qa", Run: run, Backend: q.Backend, Store: q.Store, History: h,
		Config:      QATrainState{Config: q.Cfg, Reader: q.Reader, Retriever: q.Retriever.Name()},
		MetricNames: []string{"reader_loss", "retriever_loss", "reader_oracle", "retriever_oracle", "span_em"},
		ModelFn: func(scope *model.Scope, nodes []*Node) []*Node {
			in := readerInputsFromNodes(nodes)
			B := in.IDs.Shape().Dim(0)
			g := in.IDs.Graph()
			scores := q.spanScores(scope, in)
			retrieval := in.Prior
			retrLoss := Zeros(g, shapes.Make(dtypes.Float32, B))
			anyPos := retrLoss
			if isDense {
				qv := q.Cfg.EmbedQueries(scope, in.QueryIDs, in.QueryTypes, in.QueryMask) // Embed_input(x), [B, d]
				f := realm.Relevance(qv, in.DocVecs)                                      // f(x,z) over the beam, [B, Kw]
				retrLoss, anyPos = RetrieverEarlyLoss(f, in.Positives)
				retrieval = SliceAxis(f, 1, AxisRange(0, K))
			}
			readLoss, anyGold, logits := ReaderLogLikelihood(scores, retrieval, in.SpanMask, in.Gold)
			train.AddMainLoss(ReduceAllMean(Add(readLoss, retrLoss)))
			// span_em: the argmax over all spans of all blocks is a correct span.
			flat := Reshape(logits, B, K*NS)
			best := InsertAxes(ConvertDType(ArgMax(flat, -1), dtypes.Int32), -1)
			hit := LogicalAnd(Equal(Iota(g, shapes.Make(dtypes.Int32, B, K*NS), 1), best), Reshape(in.Gold, B, K*NS))
			em := ReduceMax(ConvertDType(hit, dtypes.Float32), -1)
			return []*Node{ReduceAllMean(readLoss), ReduceAllMean(retrLoss), ReduceAllMean(anyGold), ReduceAllMean(anyPos), StopGradient(ReduceAllMean(em))}
		},
		Batch: func(step int64) ([]*tensors.Tensor, error) {
			B := run.BatchSize
			exs := make([]qa.Example, B)
			questions := make([]string, B)
			for b := range B {
				exs[b] = examples[ord.At(step*int64(B)+int64(b))]
				questions[b] = exs[b].Question
			}
			res, err := q.Retriever.Retrieve(ctx, questions, Kw)
			if err != nil {
				return nil, err
			}
			rb := newReaderBatch(B, K, R, NS, q.Reader.WholeWords())
			batchGold := false
			var qIDs, qTypes []int32
			var qMask, pos []bool
			var vecs []float32
			if isDense {
				qIDs, qTypes, qMask = make([]int32, B*Q), make([]int32, B*Q), make([]bool, B*Q)
				pos, vecs = make([]bool, B*Kw), make([]float32, B*Kw*d)
			}
			for b, ex := range exs {
				x := questionPieces(q.Corpus.Tok, ex.Question, Q)
				answers := prepareAnswers(ex.Answers)
				var pieces [][]int32
				if q.Reader.ExactGold {
					pieces = AnswerPieces(q.Corpus.Tok, ex.Answers)
				}
				hasGold, err := q.setExample(rb, b, x, res[b], answers, pieces)
				if err != nil {
					return nil, err
				}
				batchGold = batchGold || hasGold
				if !isDense {
					continue
				}
				putQuery(q.sp, x, Q, b, qIDs, qTypes, qMask)
				if len(res[b]) < Kw {
					return nil, fmt.Errorf("realm qa: %s returned %d blocks, want %d", q.Retriever.Name(), len(res[b]), Kw)
				}
				for k, r := range res[b][:Kw] {
					dense.index.Vector(int(r.ID), vecs[(b*Kw+k)*d:(b*Kw+k)*d])
					bt, err := q.texts.get(r.ID)
					if err != nil {
						return nil, err
					}
					pos[b*Kw+k] = len(bt.matchSpans(answers, 0, 0, true)) > 0
				}
			}
			cov.add(step+1, batchGold)
			in := rb.tensors()
			if isDense {
				in = append(in, retrieverTensors(qIDs, qTypes, qMask, vecs, pos, B, Q, Kw, d)...)
			}
			return in, nil
		},
	}
	p.AfterStep = func(step int64, rec *training.Record) error {
		rec.Metrics["batches_without_gold"] = cov.share()
		return nil
	}
	if err := p.Execute(ctx); err != nil {
		return err
	}
	cov.finish()
	return nil
}

// goldWarnAfter is the number of fine-tuning batches after which FineTune checks, once, whether
// most of them carried no gold span (and again at the end of the run).
const goldWarnAfter = 20

// goldCoverage counts the fine-tuning batches that carry no gold span among the blocks the
// reader reads: such a batch gives the reader no signal (its loss term is 0), so a run where
// most batches have none trains almost nothing, silently. It warns on log when that happens.
type goldCoverage struct {
	log                 io.Writer
	readerBeam          int
	warnAfter           int64
	batches, withoutAny int64
	warned              bool
}

// add counts the batch of global step step.
func (c *goldCoverage) add(step int64, hasGold bool) {
	c.batches++
	if !hasGold {
		c.withoutAny++
	}
	if step >= c.warnAfter {
		c.warn()
	}
}

// share is the fraction of batches so far without a gold span.
func (c *goldCoverage) share() float64 { return float64(c.withoutAny) / float64(max(c.batches, 1)) }

// warn writes the warning once, if most batches so far had no gold span.
func (c *goldCoverage) warn() {
	if c.warned || c.batches == 0 || 2*c.withoutAny <= c.batches {
		return
	}
	c.warned = true
	if c.log != nil {
		fmt.Fprintf(c.log, "realm qa: warning: %d of %d fine-tuning batches had no gold span in the %d blocks the reader read, "+
			"so the reader learns nothing from them; check that the corpus holds the answers (retrieval recall) or read more blocks (ReaderBeam)\n",
			c.withoutAny, c.batches, c.readerBeam)
	}
}

// finish checks the whole run (a resumed or short run may not have reached warnAfter).
func (c *goldCoverage) finish() { c.warn() }

// setExample featurises the reader inputs of question b: its first ReaderBeam blocks (padding
// blocks when fewer were retrieved), with the gold spans of answers (or of their wordpieces,
// when pieces is not nil: ReaderConfig.ExactGold) and the uniform prior (zeros; the dense graph
// replaces it with f(x,z)). It reports whether any block read has a gold span.
func (q *QA) setExample(rb *readerBatch, b int, x []int32, rs []mips.Result, answers []normAnswer, pieces [][]int32) (bool, error) {
	anyGold := false
	for k := range rb.K {
		if k >= len(rs) {
			rb.clear(b, k, q.sp)
			continue
		}
		bt, err := q.texts.get(rs[k].ID)
		if err != nil {
			return false, err
		}
		g, err := rb.set(b, k, q.sp, q.readerQuestion(x), rs[k].ID, bt, q.Reader.MaxSpanWidth, q.maxBody, answers, pieces)
		if err != nil {
			return false, err
		}
		anyGold = anyGold || g
		rb.Prior[b*rb.K+k] = 0
	}
	return anyGold, nil
}

// fixIndex saves the dense retriever's index in dir, or loads the one saved there.
func (q *QA) fixIndex(d *DenseRetriever, dir string) error {
	path := filepath.Join(dir, QAIndexFile)
	if _, err := os.Stat(path); err == nil {
		vecs, err := loadIndexVectors(path, q.Corpus.Len(), q.Cfg.ProjectionDim)
		if err != nil {
			return err
		}
		return d.useVectors(vecs)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("realm qa: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("realm qa: %w", err)
	}
	return d.Save(path)
}
