# Phi-1.5 → Phi-Mamba-1.5B with MOHAWK, at the budgets and hyperparameters of
# "Transformers to SSMs" (Bick et al., arXiv 2408.10189): every one of Phi's 24
# attention layers becomes a discrete Mamba-2 mixer, trained by matrix
# orientation (80M tokens), hidden-state alignment (160M) and knowledge
# distillation (2.76B), 3B tokens in all, at sequence length 2048 with AdamW
# β (0.9, 0.95), weight decay 0.1, learning rate 1e-4 and a warmup-stable-decay
# schedule with 10 % warmup and 10 % decay.
#
#   mohawk run -var teacher=/models/phi-1_5 -var data='/data/c4/*.jsonl' pipelines/phi-mamba.hcl
#
# The batch size is ours (the paper counts batches in tokens and does not give
# the number): 2^19 tokens per update, 256 sequences, accumulated over
# micro-batches of var.micro_batch sequences.

variable "teacher" {
  type        = string
  default     = "microsoft/phi-1_5"
  description = "Phi-1.5's Hugging Face folder (config.json, model.safetensors, tokenizer.json), relative to this file or absolute"
}

variable "data" {
  type        = string
  default     = "data/c4/*.jsonl"
  description = "JSON-lines training text, a path or glob (the paper used C4)"
}

variable "field" {
  type        = string
  default     = "text"
  description = "the JSON field holding each document's text"
}

variable "batch_tokens" {
  type        = number
  default     = 524288
  description = "tokens per optimizer update"
}

variable "micro_batch" {
  type        = number
  default     = 8
  description = "sequences per forward/backward pass; lower it to fit in memory"
}

teacher "phi" {
  checkpoint = var.teacher
}

student "phi_mamba" {
  teacher   = teacher.phi
  init_from = "teacher" # embeddings, norms, MLPs and head copied; the mixers start fresh

  mixer "mamba2" {
    layers      = "all"
    variant     = "discrete" # decay −softplus(a), no Δ, no norm
    state_size  = 64         # N
    heads       = 32         # H, one per teacher head; head dim P = 2048 / 32 = 64
    n_qk_heads  = 32         # one B and C per head (multi-head, unlike vanilla Mamba-2)
    expand      = 1
    conv_kernel = 4
    chunk       = 128
  }
}

dataset "c4" {
  jsonl      = var.data
  field      = var.field
  tokenizer  = "teacher"
  seq_len    = 2048
  validation = 0.001
}

# Stage 1: each layer's mixing matrix fitted to the teacher's attention matrix.
stage "matrix_orientation" {
  kind         = "matrix_orientation"
  model        = student.phi_mamba
  dataset      = dataset.c4
  tokens       = 80e6
  batch_tokens = var.batch_tokens
  micro_batch  = var.micro_batch

  optimizer {
    lr           = 1e-4
    betas        = [0.9, 0.95]
    weight_decay = 0.1
  }
  schedule {
    kind   = "wsd"
    warmup = 0.1
    decay  = 0.1
  }
  loss {
    memory_budget = "16GiB" # a 2048×2048 matrix per head is 16 MiB in float32: layers are grouped to fit
  }
  checkpoint_every = 20e6
}

# Stage 2: each mixer's output matched to the teacher's attention output.
stage "hidden_state_alignment" {
  kind         = "hidden_state_alignment"
  model        = student.phi_mamba
  dataset      = dataset.c4
  tokens       = 160e6
  batch_tokens = var.batch_tokens
  micro_batch  = var.micro_batch

  optimizer {
    lr           = 1e-4
    betas        = [0.9, 0.95]
    weight_decay = 0.1
  }
  schedule {
    kind   = "wsd"
    warmup = 0.1
    decay  = 0.1
  }
  loss {
    target = "attention_output"
  }
  eval_every       = 40e6
  checkpoint_every = 40e6
}

# Stage 3: the whole student trained end to end on the teacher's next-token
# distribution.
stage "knowledge_distillation" {
  kind         = "knowledge_distillation"
  model        = student.phi_mamba
  dataset      = dataset.c4
  tokens       = 2.76e9
  batch_tokens = var.batch_tokens
  micro_batch  = var.micro_batch

  optimizer {
    lr           = 1e-4
    betas        = [0.9, 0.95]
    weight_decay = 0.1
    clip         = 1.0
  }
  schedule {
    kind   = "wsd"
    warmup = 0.1
    decay  = 0.1
  }
  loss {
    temperature = 1
  }
  eval_every       = 250e6
  checkpoint_every = 250e6
}

evaluate {
  dataset = dataset.c4
  tokens  = 1e6
}

output {
  dir  = "runs/phi-mamba"
  save = [student.phi_mamba]
}
