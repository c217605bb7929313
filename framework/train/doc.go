// Package train builds the programs of one optimizer step for a model
// written with the graph builder, and holds the host-side pieces of a
// training loop around them.
//
// A backend keeps params and optimizer state resident by name; a program is
// compiled once and run every step. Everything that changes from step to
// step but is the same for every element — the learning rate and Adam's
// bias corrections — enters as a scalar input computed on the host, so
// learning-rate schedules are plain Go and the programs never change:
//
//	"lr"      the learning rate of this step
//	"adam_c1" 1 − β1^t
//	"adam_c2" 1 − β2^t
//
// where t is the 1-based number of the optimizer update being made. All
// three are rank-0 tensors of the params' dtype (AdamW.Feeds makes them).
//
// StepGraphs turns a builder holding a forward pass and a scalar loss into
// either one Step program (forward, backward, gradient clipping and AdamW)
// or, for gradient accumulation over micro-batches, an Accumulate program
// run once per micro-batch and an Apply program run once per step.
// The optimizer state lives in resident state tensors named
// "adam_m/<param>", "adam_v/<param>" and "grad_acc/<param>".
//
// Schedules (Constant, Cosine, WSD) map a step to a learning rate, and
// Trainer drives the programs through any Runner — a compiled program of a
// backend, or Reference, which runs graph.Evaluate over a map of resident
// tensors and is what the tests of this package use.
package train
