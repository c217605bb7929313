teacher "phi" {
  checkpoint = "../src"
}
teacher "phi" {
  checkpoint = "../teacher"
}
teacher "gen" {
  config = { vocab_size = 256 }
}
student "a" {
  teacher = teacher.gen
  mixer "mamba2" {
    layers = "all"
  }
  mixer "attention" {
    layers = 3
  }
}
dataset "go" {
  files     = ["../src/*.txt"]
  jsonl     = "x.jsonl"
  seq_len   = 64
  tokenizer = "teacher"
}
stage "x" {
  kind    = "matrix_orientation"
  model   = teacher.gen
  tokens  = 1e6
}
