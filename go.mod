module github.com/mohawk-distill/mohawk

go 1.26.0

require (
	github.com/chewxy/math32 v1.11.1
	golang.org/x/sys v0.50.0
	google.golang.org/protobuf v1.36.12
)
