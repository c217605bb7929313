// Package engine runs a pipeline: it opens it (starting the backend and
// mixer plugins, reading the teachers' configs, checking every student
// layer with its mixer), plans it (parameter counts, FLOPs, memory, time)
// and runs its stages in order on the backend.
//
// # Open
//
// A plugin is looked for as package plugins finds plugins: the pipeline's
// plugin blocks (with their sha256 pins) first, then the default folders.
// A backend or mixer that no executable provides but that mohawk ships
// (mixers attention, mamba2 and hybrid; backend cpu) is started from the
// mohawk executable itself as "mohawk plugin serve <kind> <name>": a
// separate go-plugin process like any other plugin. Every problem Open finds
// is an hcl.Diagnostic pointing at the block it concerns: a layer out of
// range at the mixer block's layers attribute, a plugin that cannot start
// at the block that names it, a mixer attribute the plugin's schema does
// not declare at that attribute.
//
// # Run
//
// Each stage's programs come from framework/stages and become optimizer
// steps through train.StepGraphs (accumulating batch_tokens /
// (micro_batch·seq_len) micro-batches per step); they are compiled once and
// fed token ids. Models live on the host between stages (weights.go): a
// teacher from its checkpoint or its random initialisation, a student from
// its init_from, and a stage's trained params are read back at its end, so
// a student's params carry from stage to stage. Programs are built shapes
// only: a param's random initial value is made only when nothing else
// supplies it (a teacher built from scratch, a student's fresh mixers), as
// the model's own build with its seed makes it, so a Phi-1.5-sized teacher
// read from its folder costs no random values at all. Layers a student
// keeps as the teacher's attention (kept.go) skip the layer-wise stages.
// The optimizer state starts fresh with each stage: every stage has its
// own objective and schedule.
//
// # Plan
//
// Plan builds every stage's programs shapes only and counts their params,
// FLOPs (forward, backward and update) and memory; it times one step of a
// stage on the backend only when the stage's teacher has weights and its
// models fit in the memory the host has free, and says why otherwise.
//
// The run folder (output.dir) holds metrics.jsonl (a line per step: loss,
// learning rate, gradient norm, tokens/s and per-layer losses; a line per
// evaluation: validation perplexity, agreement with the teacher and the
// teacher's perplexity), checkpoints/ (the newest complete one; see
// state.go), report.md and its plots, and a folder per saved model.
//
// Resume continues from the newest checkpoint: the models' params, the
// optimizer moments, the step and the data iterator's position are
// restored and metrics.jsonl is cut back to its length at the checkpoint,
// so a resumed run's losses are those of an uninterrupted one (on a
// deterministic backend). A NaN or infinite loss stops the run with a
// *StageError naming the stage and step and the last good checkpoint,
// which is left as it was.
package engine
