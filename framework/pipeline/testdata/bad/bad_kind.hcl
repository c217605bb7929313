teacher "phi" {
  checkpoint = "../teacher"
}
student "mamba" {
  init_from = "teachr"
  mixer "mamba2" {
    layers = [0, -1]
  }
}
dataset "go" {
  files     = ["../src/*.txt"]
  seq_len   = 64
  tokenizer = "byte"
}
stage "x" {
  kind   = "matrix_orientaton"
  tokens = 1e6
  schedule {
    kind = "wds"
  }
  loss {
    target = "block_outputs"
  }
}
