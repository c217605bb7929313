# Phi-1.5 → Hybrid-Phi-Mamba-1.5B: as phi-mamba.hcl, but 4 of the 24 layers
# keep the teacher's softmax attention (5, 11, 17 and 23: every 6th layer,
# interleaved, which the paper found best) and the other 20 become discrete
# Mamba-2 mixers. The kept layers are simply not replaced: they are copied from
# the teacher with everything else and, having no mixer, are not part of stages
# 1 and 2. 5B tokens in all, split between the stages in Phi-Mamba's
# proportions (80 : 160 : 2760).
#
#   mohawk run -var teacher=/models/phi-1_5 -var data='/data/c4/*.jsonl' pipelines/hybrid-phi-mamba.hcl

variable "teacher" {
  type        = string
  default     = "microsoft/phi-1_5"
  description = "Phi-1.5's Hugging Face folder (config.json, model.safetensors, tokenizer.json), relative to this file or absolute"
}

variable "data" {
  type        = string
  default     = "data/c4/*.jsonl"
  description = "JSON-lines training text, a path or glob"
}

variable "field" {
  type        = string
  default     = "text"
  description = "the JSON field holding each document's text"
}

variable "attention_layers" {
  type        = list(number)
  default     = [5, 11, 17, 23]
  description = "layers that keep the teacher's attention"
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

student "hybrid_phi_mamba" {
  teacher   = teacher.phi
  init_from = "teacher"

  mixer "mamba2" {
    # Every layer of Phi-1.5's 24 except the attention ones.
    layers      = [for i in range(24) : i if !contains(var.attention_layers, i)]
    variant     = "discrete"
    state_size  = 64
    heads       = 32
    n_qk_heads  = 32
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

stage "matrix_orientation" {
  kind         = "matrix_orientation"
  model        = student.hybrid_phi_mamba
  dataset      = dataset.c4
  tokens       = 133e6
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
    memory_budget = "16GiB"
  }
  checkpoint_every = 40e6
}

stage "hidden_state_alignment" {
  kind         = "hidden_state_alignment"
  model        = student.hybrid_phi_mamba
  dataset      = dataset.c4
  tokens       = 267e6
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
  eval_every       = 50e6
  checkpoint_every = 50e6
}

stage "knowledge_distillation" {
  kind         = "knowledge_distillation"
  model        = student.hybrid_phi_mamba
  dataset      = dataset.c4
  tokens       = 4.6e9
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
  eval_every       = 250e6
  checkpoint_every = 250e6
}

evaluate {
  dataset = dataset.c4
  tokens  = 1e6
}

output {
  dir  = "runs/hybrid-phi-mamba"
  save = [student.hybrid_phi_mamba]
}
