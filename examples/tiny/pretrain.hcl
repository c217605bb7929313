# The tiny teacher: a Phi-style Transformer over bytes, pretrained from
# scratch on the Go standard library's source. This pipeline made the
# committed teacher/ folder:
#
#   go run ./cmd/mohawk run examples/tiny/pretrain.hcl
#
# (threads and goroot can be set with -var.)

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

variable "tokens" {
  type        = number
  default     = 1.1e7
  description = "pretraining tokens"
}

backend "cpu" {
  threads = var.threads
}

teacher "tiny" {
  # A config.json of Phi-1.5's shape, scaled down: 4 layers, d_model 256,
  # 4 heads of 64, partial rotary (half the head), gelu_new MLP of 2·d
  # (so the float32 checkpoint stays under 10 MB).
  config = {
    model_type              = "phi"
    architectures           = ["PhiForCausalLM"]
    vocab_size              = 257 # 256 bytes and the end-of-text token
    hidden_size             = 256
    intermediate_size       = 512
    num_hidden_layers       = 4
    num_attention_heads     = 4
    max_position_embeddings = 256
    partial_rotary_factor   = 0.5
    rope_theta              = 10000
    layer_norm_eps          = 1e-5
    hidden_act              = "gelu_new"
    tie_word_embeddings     = false
  }
  seed = 1
}

dataset "gosrc" {
  files      = ["${var.goroot == "" ? goroot() : var.goroot}/src/**/*.go"]
  tokenizer  = "bytes"
  seq_len    = 256
  validation = 0.005
}

stage "pretrain" {
  kind         = "pretrain"
  model        = teacher.tiny
  dataset      = dataset.gosrc
  tokens       = var.tokens
  batch_tokens = 16384
  micro_batch  = 64
  optimizer {
    lr           = 2e-3
    weight_decay = 0.1
    clip         = 1
  }
  schedule {
    kind   = "wsd"
    warmup = 0.02
    decay  = 0.2
    min_lr = 1e-4
  }
  eval_every = 2e6
}

evaluate {
  dataset = dataset.gosrc
  tokens  = 2e5
}

output {
  dir  = "runs/tiny-pretrain"
  save = [teacher.tiny]
}
