// The schemas a pipeline is decoded against, and the names its enum-like
// attributes accept. hcl reports anything not in a schema with a "did you
// mean" of its own.

package pipeline

import "github.com/hashicorp/hcl/v2"

// Stage kinds (the same strings as framework/stages.Kind).
var stageKinds = []string{"pretrain", "matrix_orientation", "hidden_state_alignment", "knowledge_distillation", "finetune"}

// studentKinds are the stage kinds that compare a student with its teacher.
var studentKinds = map[string]bool{"matrix_orientation": true, "hidden_state_alignment": true, "knowledge_distillation": true}

var (
	scheduleKinds = []string{"constant", "cosine", "wsd"}
	lossTargets   = []string{"attention_output", "block_output"}
	pluginKinds   = []string{"mixer", "backend"}
	tokenizers    = []string{"bytes", "teacher"}
	initFroms     = []string{"teacher", "scratch"}
	builtinMixers = []string{"attention", "mamba2", "hybrid"}
)

var topSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "backend", LabelNames: []string{"name"}},
	{Type: "plugin", LabelNames: []string{"kind", "name"}},
	{Type: "teacher", LabelNames: []string{"name"}},
	{Type: "student", LabelNames: []string{"name"}},
	{Type: "dataset", LabelNames: []string{"name"}},
	{Type: "stage", LabelNames: []string{"name"}},
	{Type: "evaluate"},
	{Type: "output"},
}}

var variableSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "type"}, {Name: "default"}, {Name: "description"},
}}

var backendSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "threads"}, {Name: "device"},
}}

var pluginSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "path", Required: true}, {Name: "sha256"},
}}

var teacherSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "checkpoint"}, {Name: "config"}, {Name: "seed"},
}}

var studentSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "teacher"}, {Name: "init_from"}, {Name: "seed"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "mixer", LabelNames: []string{"name"}}},
}

// mixerSchema takes only layers: the rest of a mixer block is the plugin's,
// left in MixerBlock.Body for the engine.
var mixerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "layers"}}}

var datasetSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "files"}, {Name: "jsonl"}, {Name: "field"}, {Name: "dir"}, {Name: "ext"},
	{Name: "tokenizer"}, {Name: "seq_len", Required: true}, {Name: "validation"}, {Name: "max_tokens"},
	{Name: "cache_dir"},
}}

var stageSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "kind", Required: true}, {Name: "model"}, {Name: "dataset"},
		{Name: "tokens", Required: true}, {Name: "batch_tokens"}, {Name: "micro_batch"},
		{Name: "train"}, {Name: "freeze"}, {Name: "eval_every"}, {Name: "checkpoint_every"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "optimizer"}, {Type: "schedule"}, {Type: "loss"}},
}

var optimizerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "lr"}, {Name: "betas"}, {Name: "eps"}, {Name: "weight_decay"}, {Name: "clip"},
}}

var scheduleSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "kind"}, {Name: "warmup"}, {Name: "decay"}, {Name: "min_lr"},
}}

var lossSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "target"}, {Name: "temperature"}, {Name: "hard_label_weight"}, {Name: "memory_budget"},
}}

var evaluateSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "dataset"}, {Name: "tokens"},
}}

var outputSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "dir"}, {Name: "save"},
}}

// Defaults.
const (
	defaultEvalTokens   = 100_000
	defaultValidation   = 0.01
	defaultSeed         = 1
	defaultMicroBatch   = 8
	defaultMemoryBudget = 1 << 30
)

// defaultOptimizer is the paper's AdamW.
var defaultOptimizer = Optimizer{LR: 1e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Clip: 1}

// defaultSchedule is the paper's warmup-stable-decay.
var defaultSchedule = Schedule{Kind: "wsd", Warmup: 0.1, Decay: 0.1, MinLR: 0}

var defaultLoss = Loss{Target: "attention_output", Temperature: 1, HardLabelWeight: 0, MemoryBudget: defaultMemoryBudget}
