variable "tokens" {
  type    = number
  default = 1000
}
variable "name" {
  type = string
}
teacher "phi" {
  checkpoint = "../teacher"
}
dataset "go" {
  files   = ["../src/*.txt"]
  seq_len = 8
}
stage "pre" {
  kind         = "pretrain"
  tokens       = var.tokens
  batch_tokens = 8
}
output {
  dir = "runs/${var.name}"
}
