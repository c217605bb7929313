variable "layers" {
  type    = list(number)
  default = [0, 1]
}
teacher "phi" {
  checkpoint = abspath("teacher")
}
student "mamba" {
  mixer "mamba2" {
    layers = var.layers
    note   = trimspace(file("note.txt"))
  }
}
dataset "go" {
  files   = ["${goroot()}/src/**/*.go", "${env("MOHAWK_TEST_DATA")}/*.txt"]
  seq_len = max(64, 128)
}
stage "orient" {
  kind   = "matrix_orientation"
  tokens = length(range(10)) * 1e5
}
output {
  dir = format("runs/%s-%d", lower("TINY"), 3)
}
