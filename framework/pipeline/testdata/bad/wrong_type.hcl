teacher "phi" {
  checkpoint = "../teacher"
}
dataset "go" {
  files   = ["../src/*.txt"]
  seq_len = "long"
}
stage "pre" {
  kind        = "pretrain"
  tokens      = 1e6
  micro_batch = 2.5
}
