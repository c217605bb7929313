# The smallest useful pipeline: every default taken.
teacher "phi" {
  checkpoint = "teacher"
}
student "mamba" {
  mixer "mamba2" {}
}
dataset "go" {
  dir     = "src"
  seq_len = 256
}
stage "orient" {
  kind   = "matrix_orientation"
  tokens = 1e6
}
stage "kd" {
  kind         = "knowledge_distillation"
  tokens       = 2e6
  batch_tokens = 3 * 256
}
stage "ft" {
  kind        = "finetune"
  tokens      = 1e6
  micro_batch = null # null is the same as leaving it out
}
