// Package graphpb holds the protocol buffer messages of the serialized graph
// format. It is generated from graph.proto with protoc and protoc-gen-go (at
// the version of google.golang.org/protobuf required by go.mod); use it only
// through graph.Graph.MarshalBinary and graph.Decode.
package graphpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative graph.proto
