plugin "mixr" "linattn" {
  path = "bin/linattn"
}
plugin "mixer" "linattn" {
  path   = "bin/linattn"
  sha256 = "abc"
}
teacher "a" {
  checkpoint = "../teacher"
}
teacher "b" {
  checkpoint = "../teacher"
}
student "s" {
  mixer "mamba" {
    layers = [0, 1]
  }
  mixer "linattn" {
    layers = [1, 2]
  }
}
dataset "x" {
  dir     = "../src"
  ext     = ".txt"
  seq_len = 16
}
dataset "y" {
  dir     = "../src"
  seq_len = 16
  field   = "text"
}
stage "st" {
  kind   = "pretrain"
  tokens = 1e3
}
stage "st" {
  kind   = "finetune"
  tokens = 1e3
}
output {
  save = [dataset.x]
}
