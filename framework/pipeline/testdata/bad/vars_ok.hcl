tokens = 3000
name   = "file"
