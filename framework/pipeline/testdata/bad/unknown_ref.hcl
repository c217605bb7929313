variable "steps" {
  default = 1000
}
teacher "phi" {
  checkpoint = "../teacher"
}
student "mamba" {
  teacher = techer.phi
  mixer "mamba2" {}
}
dataset "go" {
  files   = ["../src/*.txt"]
  seq_len = 64
}
stage "kd" {
  kind    = "knowledge_distillation"
  model   = student.mamab
  dataset = "go"
  tokens  = var.stpes
}
student "other" {
  teacher = teacher.phi
  mixer "mamba2" {
    state_size = var.stepz
  }
}
