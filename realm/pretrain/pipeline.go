package pretrain

import (
	"context"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/spans"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/realm"
	"github.com/realm-go/realm/realm/training"
)

// PipelineConfig describes a whole REALM pre-training run: where the BERTs start from, the
// warm-up phases and REALM pre-training itself.
type PipelineConfig struct {
	// Model is the REALM configuration (ignored for the BERT parts when BERTDir is set: the
	// checkpoint's config.json gives them).
	Model realm.Config
	// Dir is the run directory: mlm/, ict/ and realm/ hold each phase's checkpoints, so an
	// interrupted pipeline resumes where it stopped.
	Dir string
	// Docs returns the knowledge corpus (a fresh stream at each call); nil means the embedded
	// Factbook.
	Docs func() iter.Seq2[corpus.Document, error]
	// Titles keeps only the documents of Docs with one of these titles (nil: all), e.g. the
	// countries a question set asks about; MaxDocs applies after it.
	Titles []string
	// MaxDocs keeps only the first MaxDocs documents of Docs (0: all); the Factbook lists ten
	// sections per country, country by country, so 300 keeps about 30 countries.
	MaxDocs int
	// BERTDir is a Hugging Face BERT directory (config.json, model.safetensors, tokenizer) that
	// initialises the encoder and the retriever towers; "" trains from scratch, starting with
	// the MLM phase.
	BERTDir string
	// Pretrained, when not nil, starts from a REALM pre-trained already (Google's released
	// checkpoints, read by hfrealm.LoadPretrained): its retriever and knowledge-augmented
	// encoder, its tokenizer and shapes (Model gives the rest). MLM, the retriever's
	// initialisation from the encoder and ICT are skipped; BERTDir must be empty.
	Pretrained *Pretrained
	// MLM, ICT and REALM configure the three phases (MLM is skipped when BERTDir is set; ICT
	// when its Steps is 0).
	MLM, ICT training.RunConfig
	REALM    PretrainConfig
	// ICTOptions configures the ICT phase beyond its training.RunConfig (hard negatives).
	ICTOptions ICTOptions
	// SalientKinds are the span kinds REALM pre-training masks (the zero value: all of them —
	// entities, dates and quantities; see spans.RuleTagger.Kinds).
	SalientKinds spans.Kinds
	// Seed initialises the variables.
	Seed int64
	// Log receives one line per milestone (nil: silent).
	Log io.Writer
}

// Pretrained is a pre-trained REALM to continue from (PipelineConfig.Pretrained, or open-QA
// fine-tuning).
type Pretrained struct {
	// Store holds the retriever (realm.EmbedderScope) and the knowledge-augmented encoder
	// (realm.EncoderScope) or the reader (openqa.ReaderScope).
	Store *model.Store
	// Config has the shapes of the towers, d, k and the retriever's pooling.
	Config realm.Config
	// TokenizerDir is the directory of the tokenizer (vocab.txt or tokenizer.json).
	TokenizerDir string
	// HasEncoder and HasReader report which of the encoder and the reader Store holds.
	HasEncoder, HasReader bool
}

// PipelineResult is everything a caller (CLI, notebook) may want to look at after a run.
type PipelineResult struct {
	Config      realm.Config
	Corpus      *realm.Corpus
	Store       *model.Store
	Pretrainer  *Pretrainer
	MLM, ICT    *training.History
	ICTSnapshot realm.Snapshot // the retriever after the warm start, for the ICT-only baseline.
	// CorpusTime is the time to tokenise and pack the corpus.
	CorpusTime time.Duration
}

// RunPipeline runs the pre-training pipeline: corpus → (MLM from scratch | load BERT) →
// retriever initialisation → ICT warm start → REALM pre-training with asynchronous refresh.
// The caller must Close the result's Pretrainer.
func RunPipeline(ctx context.Context, backend compute.Backend, pc PipelineConfig) (*PipelineResult, error) {
	if err := pc.ICTOptions.check(pc.ICT); err != nil { // before the phases ahead of ICT run.
		return nil, err
	}
	logf := func(format string, args ...any) {
		if pc.Log != nil {
			fmt.Fprintf(pc.Log, format+"\n", args...)
		}
	}
	docs := pc.Docs
	if docs == nil {
		docs = corpus.Factbook
	}
	if len(pc.Titles) > 0 || pc.MaxDocs > 0 {
		all := docs
		docs = func() iter.Seq2[corpus.Document, error] {
			return corpus.Head(corpus.WithTitles(all(), pc.Titles), pc.MaxDocs)
		}
	}
	res := &PipelineResult{Config: pc.Model, Store: model.NewStore(), MLM: &training.History{}, ICT: &training.History{}}
	res.Store.SetParam(initializer.ParamInitialSeed, pc.Seed)

	tok, err := tokenize.Default()
	if pt := pc.Pretrained; pt != nil {
		if pc.BERTDir != "" {
			return nil, fmt.Errorf("realm: a pipeline starts from BERTDir %s or from a pre-trained REALM, not both", pc.BERTDir)
		}
		if !pt.HasEncoder {
			return nil, fmt.Errorf("realm: the pre-trained REALM has no knowledge-augmented encoder to pre-train")
		}
		if tok, err = tokenize.FromDir(pt.TokenizerDir); err != nil {
			return nil, fmt.Errorf("realm: tokenizer of %s: %w", pt.TokenizerDir, err)
		}
		res.Store = pt.Store
		res.Store.SetParam(initializer.ParamInitialSeed, pc.Seed)
		m := pt.Config
		res.Config.Encoder, res.Config.Retriever, res.Config.ProjectionDim = m.Encoder, m.Retriever, m.ProjectionDim
		res.Config.RetrieverPooling, res.Config.SeparateTowers = m.RetrieverPooling, m.SeparateTowers
		res.Config.Encoder.HiddenDropoutProb, res.Config.Retriever.HiddenDropoutProb = pc.Model.Encoder.HiddenDropoutProb, pc.Model.Retriever.HiddenDropoutProb
		logf("loaded a pre-trained REALM: L=%d H=%d A=%d, d=%d (tokenizer %s)", m.Encoder.NumHiddenLayers, m.Encoder.HiddenSize, m.Encoder.NumAttentionHeads, m.ProjectionDim, pt.TokenizerDir)
	} else if pc.BERTDir != "" {
		if tok, err = tokenize.FromDir(pc.BERTDir); err != nil {
			return nil, fmt.Errorf("realm: tokenizer of %s: %w", pc.BERTDir, err)
		}
		lr, err := bert.Load(pc.BERTDir, res.Store.RootScope().At(realm.EncoderScope), bert.AllowMissingMLMHead(), bert.IgnoreKnownExtras())
		if err != nil {
			return nil, err
		}
		res.Config.Encoder, res.Config.Retriever = lr.Config, lr.Config
		res.Config.Encoder.HiddenDropoutProb, res.Config.Retriever.HiddenDropoutProb = pc.Model.Encoder.HiddenDropoutProb, pc.Model.Retriever.HiddenDropoutProb
		logf("loaded %s: L=%d H=%d A=%d (fresh MLM head: %v)", pc.BERTDir, lr.Config.NumHiddenLayers, lr.Config.HiddenSize, lr.Config.NumAttentionHeads, len(lr.Fresh) > 0)
	} else if err != nil {
		return nil, err
	}
	if err := res.Config.Validate(); err != nil {
		return nil, err
	}
	if res.Config.Encoder.VocabSize != tok.VocabSize() {
		return nil, fmt.Errorf("realm: the model's vocabulary has %d entries, the tokenizer %d", res.Config.Encoder.VocabSize, tok.VocabSize())
	}
	t0 := time.Now()
	c, stats, err := realm.BuildCorpus(tok, docs(), res.Config.DocLen)
	if err != nil {
		return nil, err
	}
	res.Corpus, res.CorpusTime = c, time.Since(t0)
	logf("corpus: %d documents, %d sentences → %d blocks of ≤ %d wordpieces in %v", stats.Documents, stats.Sentences, stats.Blocks, res.Config.DocLen, res.CorpusTime.Round(time.Millisecond))

	phaseDir := func(name string) string {
		if pc.Dir == "" {
			return ""
		}
		return filepath.Join(pc.Dir, name)
	}
	if pc.Dir != "" {
		if err := os.MkdirAll(pc.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("realm: %w", err)
		}
	}
	if pc.BERTDir == "" && pc.Pretrained == nil {
		run := pc.MLM
		run.Dir = phaseDir("mlm")
		logf("phase 1/3: masked-LM pre-training of the encoder from scratch, %d steps", run.Steps)
		if err := TrainMLM(ctx, backend, res.Store, res.Config, c, run, res.MLM); err != nil {
			return nil, err
		}
	}
	if pc.Pretrained == nil {
		if err := InitRetrieverFromEncoder(res.Store, res.Config); err != nil {
			return nil, err
		}
	}
	g, err := spans.BuildGazetteer(docs(), spans.GazetteerOptions{})
	if err != nil {
		return nil, err
	}
	tagger := spans.RuleTagger{Gazetteer: g, Kinds: pc.SalientKinds}
	if pc.ICT.Steps > 0 && pc.Pretrained != nil {
		logf("phase 2/3: no ICT warm start: the retriever is pre-trained")
	} else if pc.ICT.Steps > 0 {
		opts := pc.ICTOptions
		if opts.MaskQueries > 0 && opts.QueryTagger == nil {
			opts.QueryTagger = tagger
		}
		run := pc.ICT
		run.Dir = phaseDir("ict")
		masked := ""
		if opts.MaskQueries > 0 {
			masked = fmt.Sprintf(", %.0f%% of queries masked as REALM masks its sentences (%v)", 100*opts.MaskQueries, pc.SalientKinds)
		}
		logf("phase 2/3: ICT warm start of the retriever, %d steps%s", run.Steps, masked)
		if err := TrainICT(ctx, backend, res.Store, res.Config, c, run, res.ICT, opts); err != nil {
			return nil, err
		}
	}
	if res.ICTSnapshot, err = realm.TakeSnapshot(res.Store); err != nil {
		return nil, err
	}
	run := pc.REALM
	run.Dir = phaseDir("realm")
	p, err := NewPretrainer(backend, res.Store, res.Config, c, tagger, run)
	if err != nil {
		return nil, err
	}
	res.Pretrainer = p
	ms := p.MaskStats
	logf("phase 3/3: REALM pre-training, %d steps, refresh every %d; %d training / %d held-out sentences, %.1f%% salient-span masked (%v; %.1f%% random-word fallback)",
		run.Steps, run.RefreshEvery, len(p.Train), len(p.Eval), 100*float64(ms.Salient)/float64(max(ms.Sentences, 1)), pc.SalientKinds, 100*ms.FallbackRate())
	if err := p.BuildIndex(ctx); err != nil {
		p.Close()
		return nil, err
	}
	if err := p.Pretrain(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return res, nil
}
