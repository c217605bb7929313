tokens = 3000
nmae   = "x"
