# A pipeline that uses every block and most attributes.
variable "steps_tokens" {
  type        = number
  default     = 2e6
  description = "tokens of the first stage"
}
variable "lr" {
  type    = number
  default = 1e-3
}

backend "cpu" {
  threads = 2
}

plugin "mixer" "linattn" {
  path   = "./bin/mohawk-mixer-linattn"
  sha256 = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
}

teacher "phi" {
  checkpoint = "teacher"
  seed       = 7
}

teacher "scratch" {
  config = { model_type = "phi", vocab_size = 256, hidden_size = 64 }
}

student "mamba" {
  teacher   = teacher.phi
  init_from = "teacher"
  mixer "mamba2" {
    layers  = [1, 0]
    variant = "discrete"
  }
  mixer "attention" {
    layers = 2
  }
}

dataset "go" {
  files      = ["src/**/*.go", "${abspath("src")}/x.txt"]
  tokenizer  = "bytes"
  seq_len    = 256
  validation = 0.02
  max_tokens = 2e7
}

dataset "docs" {
  jsonl   = "data/*.jsonl"
  seq_len = 128
}

stage "orient" {
  kind         = "matrix_orientation"
  model        = student.mamba
  dataset      = dataset.go
  tokens       = var.steps_tokens
  batch_tokens = 8192
  micro_batch  = 8
  train        = ["*.mixer.*"]
  freeze       = []
  optimizer {
    lr           = var.lr
    betas        = [0.8, 0.9]
    eps          = 1e-6
    weight_decay = 0
    clip         = 0.5
  }
  schedule {
    kind   = "cosine"
    warmup = 0.05
    decay  = 0.2
    min_lr = 1e-5
  }
  loss {
    memory_budget = "512MiB"
  }
  eval_every       = 5e5
  checkpoint_every = 1e6
}

stage "pre" {
  kind    = "pretrain"
  model   = teacher.scratch
  dataset = dataset.docs
  tokens  = 1e5
  batch_tokens = 1024
  loss {
    target            = "block_output"
    temperature       = 2
    hard_label_weight = 0.5
    memory_budget     = 1000
  }
}

evaluate {
  dataset = dataset.docs
  tokens  = 5e4
}

output {
  dir  = "runs/full-${upper("x")}"
  save = [student.mamba, teacher.scratch]
}
