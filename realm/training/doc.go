// Package training is the training machinery that REALM's loops share, independent of the
// model: the optimiser (Optimizer: AdamW with BERT's warm-up and linear decay and global-norm
// clipping), checkpoints that survive a kill at any instant (Checkpoints, TrainState), the lock
// that keeps two runs out of one run directory (LockDir), and the loop itself: a Phase, set by a
// RunConfig, drawing its data in a deterministic Order, optionally in micro-batches, and
// recording a History.
//
// It imports nothing of package realm, so that the model's own tests can train with it. The
// pre-training phases (package pretrain) and open-QA fine-tuning (package openqa) are Phases.
package training
