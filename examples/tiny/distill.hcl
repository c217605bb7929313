# The embedded default: MOHAWK on the tiny teacher (teacher/, made by
# pretrain.hcl). Its attention is replaced by discrete Mamba-2 in every
# layer and the student is distilled in the method's three stages; a student
# of the same shape trained from scratch on as many tokens is the baseline.
#
#   go run ./cmd/mohawk run examples/tiny/distill.hcl
#
# It needs 11 to 14 minutes on 2 cores and prints the teacher's validation
# perplexity, the student's after each stage and the baseline's.

variable "threads" {
  type        = number
  default     = 2
  description = "CPU worker threads"
}

variable "goroot" {
  type        = string
  default     = ""
  description = "a Go tree whose src/ is the corpus; empty: this machine's GOROOT"
}

backend "cpu" {
  threads = var.threads
}

teacher "tiny" {
  checkpoint = "teacher"
}

# The distilled student: the teacher with every attention layer replaced by
# Phi-Mamba's mixer; embeddings, norms, MLPs and head start as the teacher's.
student "mamba" {
  teacher   = teacher.tiny
  init_from = "teacher"
  mixer "mamba2" {
    layers  = "all"
    variant = "discrete"
  }
}

# The baseline: the same architecture from random weights.
student "scratch" {
  teacher   = teacher.tiny
  init_from = "scratch"
  mixer "mamba2" {
    layers  = "all"
    variant = "discrete"
  }
}

dataset "gosrc" {
  files      = ["${var.goroot == "" ? goroot() : var.goroot}/src/**/*.go"]
  tokenizer  = "bytes"
  seq_len    = 256
  validation = 0.005
}

# Stage 1: fit each layer's mixing matrix to the teacher's attention.
stage "matrix_orientation" {
  kind         = "matrix_orientation"
  model        = student.mamba
  dataset      = dataset.gosrc
  tokens       = 1e5
  batch_tokens = 2048
  micro_batch  = 8
  optimizer { lr = 5e-3 }
}

# Stage 2: match each layer's mixer output to the teacher's attention output.
stage "hidden_state_alignment" {
  kind         = "hidden_state_alignment"
  model        = student.mamba
  dataset      = dataset.gosrc
  tokens       = 5e5
  batch_tokens = 512
  micro_batch  = 2
  optimizer { lr = 5e-3 }
}

# Stage 3: the whole student against the teacher's next-token distribution.
stage "knowledge_distillation" {
  kind         = "knowledge_distillation"
  model        = student.mamba
  dataset      = dataset.gosrc
  tokens       = 8e5
  batch_tokens = 256
  micro_batch  = 1
  optimizer { lr = 1e-3 }
}

# The baseline sees as many tokens as the three stages together.
stage "from_scratch" {
  kind         = "pretrain"
  model        = student.scratch
  dataset      = dataset.gosrc
  tokens       = 1.4e6
  batch_tokens = 8192
  micro_batch  = 32
  optimizer { lr = 3e-3 }
}

evaluate {
  dataset = dataset.gosrc
  tokens  = 1e5
}

output {
  dir  = "runs/tiny"
  save = [student.mamba]
}
