// Package realmtest holds the fixtures that the tests of several realm packages share (bm25,
// training, pretrain, openqa): a tiny REALM over the embedded Factbook, a corpus of given
// blocks, the default tokenizer and a seeded store. Test code only.
package realmtest

import (
	"iter"
	"testing"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/realm-go/realm/data/blocks"
	"github.com/realm-go/realm/data/corpus"
	"github.com/realm-go/realm/data/tokenize"
	"github.com/realm-go/realm/layers/bert"
	"github.com/realm-go/realm/realm"
)

// SmallFactbook returns a tiny REALM over the real vocabulary and the first docs documents of
// the embedded Factbook.
func SmallFactbook(t *testing.T, docs int) (realm.Config, *realm.Corpus) {
	t.Helper()
	tok, err := tokenize.Default()
	if err != nil {
		t.Fatal(err)
	}
	b := bert.Tiny()
	b.HiddenSize, b.NumHiddenLayers, b.NumAttentionHeads, b.IntermediateSize, b.MaxPositionEmbeddings = 32, 1, 2, 64, 96
	b.HiddenDropoutProb, b.AttentionProbsDropoutProb = 0, 0
	cfg := realm.Config{Retriever: b, Encoder: b, ProjectionDim: 16, QueryLen: 32, DocLen: 64, TopK: 4, MaxMasks: 8}
	c, _, err := realm.BuildCorpus(tok, corpus.Head(corpus.Factbook(), docs), cfg.DocLen)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, c
}

// NewStore returns an empty store whose variables are initialised from a fixed seed (3).
func NewStore() *model.Store {
	s := model.NewStore()
	s.SetParam(initializer.ParamInitialSeed, int64(3))
	return s
}

// Tokenizer returns the default tokenizer (tokenize.Default), failing t if it cannot load.
func Tokenizer(t *testing.T) *tokenize.Tokenizer {
	t.Helper()
	tok, err := tokenize.Default()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Corpus makes a Corpus of blocks with the given titles and bodies (block i has titles[i] and
// bodies[i], tokenised with Tokenizer).
func Corpus(t *testing.T, titles, bodies []string) *realm.Corpus {
	t.Helper()
	tok := Tokenizer(t)
	var seq iter.Seq2[blocks.Block, error] = func(yield func(blocks.Block, error) bool) {
		for i := range bodies {
			var ids []int32
			for _, p := range tok.Tokenize(bodies[i]) {
				ids = append(ids, p.ID)
			}
			if !yield(blocks.Block{ID: int64(i), DocID: titles[i], Title: titles[i], Body: bodies[i], TokenIDs: ids}, nil) {
				return
			}
		}
	}
	c, err := realm.NewCorpus(tok, seq)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
