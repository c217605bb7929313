# Llama-3.2-1B → a Llamba-style student: MOHAWK (the method of "Transformers
# to SSMs", scaled to Llama 3 as in Llamba) with every one of the 16 attention
# layers replaced by a discrete Mamba-2 mixer. 8B tokens in all, split between
# the stages in Phi-Mamba's proportions (80 : 160 : 2760), at sequence length
# 2048 with the paper's AdamW and warmup-stable-decay settings. The tokenizer
# is the teacher's (tokenizer.json in its folder).
#
#   mohawk run -var teacher=/models/Llama-3.2-1B -var data='/data/fineweb/*.jsonl' pipelines/llamba-1b.hcl

variable "teacher" {
  type        = string
  default     = "meta-llama/Llama-3.2-1B"
  description = "Llama-3.2-1B's Hugging Face folder (config.json, model.safetensors, tokenizer.json), relative to this file or absolute"
}

variable "data" {
  type        = string
  default     = "data/fineweb/*.jsonl"
  description = "JSON-lines training text, a path or glob"
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

teacher "llama" {
  checkpoint = var.teacher
}

student "llamba" {
  teacher   = teacher.llama
  init_from = "teacher"

  mixer "mamba2" {
    layers      = "all"
    variant     = "discrete"
    state_size  = 64 # N = the teacher's head dim (2048 / 32)
    heads       = 32 # one SSD head per query head
    n_qk_heads  = 32
    expand      = 1
    conv_kernel = 4
    chunk       = 128
  }
}

dataset "text" {
  jsonl      = var.data
  field      = var.field
  tokenizer  = "teacher"
  seq_len    = 2048
  validation = 0.001
}

stage "matrix_orientation" {
  kind         = "matrix_orientation"
  model        = student.llamba
  dataset      = dataset.text
  tokens       = 213e6
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
  checkpoint_every = 50e6
}

stage "hidden_state_alignment" {
  kind         = "hidden_state_alignment"
  model        = student.llamba
  dataset      = dataset.text
  tokens       = 427e6
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
  eval_every       = 100e6
  checkpoint_every = 100e6
}

stage "knowledge_distillation" {
  kind         = "knowledge_distillation"
  model        = student.llamba
  dataset      = dataset.text
  tokens       = 7.36e9
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
  eval_every       = 500e6
  checkpoint_every = 500e6
}

evaluate {
  dataset = dataset.text
  tokens  = 1e6
}

output {
  dir  = "runs/llamba-1b"
  save = [student.llamba]
}
