teacher "phi" {
  checkpoint = "../teacher"
}
dataset "go" {
  files   = ["../src/*.txt"]
  seq_len = 64
}
stage "pre" {
  kind  = "pretrain"
  tokns = 1e6
}
