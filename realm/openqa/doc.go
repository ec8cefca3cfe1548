// Package openqa is open-domain question answering on a pre-trained REALM or ORQA retriever
// (REALM §3.5, ORQA §4): the span reader and its features (ReaderConfig, SpanScores,
// BlockText), the QA model over a pluggable retriever (QA, QARetriever: a DenseRetriever, or a
// bm25.Index as the sparse baseline; BuildQA, NewQA), its fine-tuning (QA.FineTune) and its
// evaluation (QA.Evaluate, QAEval).
//
// The retriever towers and the corpus are package realm's, fine-tuning runs as a
// training.Phase, and the recalls are package evaluate's.
package openqa
