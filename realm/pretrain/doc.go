// Package pretrain is REALM's pre-training: the warm-up phases that start the models from
// scratch (TrainMLM, InitRetrieverFromEncoder, TrainICT), REALM pre-training itself with its
// asynchronous MIPS index refresh (Pretrainer, over the salient-span-masked sentences of
// MaskSentences), the whole pipeline (RunPipeline), and the measures of a pre-trained model on
// held-out sentences (Pretrainer.EvaluateLM, Score, SameTitleRecall, AnswerRecall).
//
// The model and its equations are package realm's; every loop here is a training.Phase; ICT's
// hard negatives and the lexical reference of retrieval evaluation come from package bm25.
package pretrain
