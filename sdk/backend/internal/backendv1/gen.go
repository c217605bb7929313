// Package backendv1 holds the generated Go code of the backend wire
// protocol, version 1 (backend.proto, package mohawk.backend.v1): its
// messages and its gRPC service. Use it only through sdk/backend (Serve and
// Client); nothing else speaks it.
//
// The generated files are committed. To reproduce them byte for byte, run
// go generate in this folder with protoc 3.21.12 on the PATH: it installs
// protoc-gen-go (at the version of google.golang.org/protobuf that go.mod
// requires) and protoc-gen-go-grpc at the pinned version below, and runs
// protoc with them.
package backendv1

//go:generate go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//go:generate go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//go:generate sh -c "bin=$(go env GOBIN); bin=${bin:-$(go env GOPATH)/bin}; PATH=\"$bin:$PATH\" protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative backend.proto"
