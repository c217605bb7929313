teacher "phi" {
  checkpoint = "../teacher"
}
stgae "orient" {
  kind = "pretrain"
}
