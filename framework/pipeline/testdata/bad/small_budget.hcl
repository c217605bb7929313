teacher "phi" {
  checkpoint = "../teacher"
}
student "mamba" {
  mixer "mamba2" {}
}
dataset "go" {
  files   = ["../src/*.txt"]
  seq_len = 256
}
stage "x" {
  kind         = "matrix_orientation"
  tokens       = 1000
  batch_tokens = 8192
}
stage "y" {
  kind         = "hidden_state_alignment"
  tokens       = 1e6
  batch_tokens = 1000
  micro_batch  = 1
}
