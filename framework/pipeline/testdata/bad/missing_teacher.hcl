student "mamba" {
  mixer "mamba2" {
    layers = "all"
  }
}
dataset "go" {
  files   = ["../src/*.txt"]
  seq_len = 64
}
stage "kd" {
  kind   = "knowledge_distillation"
  tokens = 1e6
}
