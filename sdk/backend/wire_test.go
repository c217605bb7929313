// Unit tests of the wire's pieces that need no plugin process: header
// checks, the chunk codec and byte order. (The parent-death poll is
// tested in sdk/internal/parentwatch.)

package backend

import (
	"strings"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/mohawk-distill/mohawk/sdk/backend/internal/backendv1"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Every streamed message carries its chunks in field dataField, named data.
func TestDataFieldOfStreamedMessages(t *testing.T) {
	for _, m := range []proto.Message{&pb.SetTensorRequest{}, &pb.TensorResponse{}, &pb.CompileRequest{}, &pb.RunRequest{}, &pb.RunResponse{}} {
		fd := m.ProtoReflect().Descriptor().Fields().ByNumber(dataField)
		if fd == nil || fd.Name() != "data" || fd.Kind() != protoreflect.BytesKind {
			t.Errorf("%s: field %d is %v, expected bytes data", m.ProtoReflect().Descriptor().FullName(), dataField, fd)
		}
	}
}

func TestHeaderType(t *testing.T) {
	ok := []struct {
		h     *pb.TensorHeader
		bytes int
	}{
		{&pb.TensorHeader{Dtype: "f32"}, 4},
		{&pb.TensorHeader{Dtype: "f64", Shape: []int64{3, 0, 5}}, 0},
		{&pb.TensorHeader{Dtype: "i32", Shape: []int64{2, 3}}, 24},
		{&pb.TensorHeader{Dtype: "f32", Shape: []int64{1 << 29}}, 1 << 31},
		{&pb.TensorHeader{Dtype: "f64", Shape: []int64{1 << 17, 1 << 17}}, 1 << 37},
		{&pb.TensorHeader{Dtype: "f32", Shape: []int64{0, graph.MaxElements}}, 0},
	}
	for _, c := range ok {
		typ, n, err := headerType(c.h)
		if err != nil || n != c.bytes || typ.DType.String() != c.h.Dtype || len(typ.Shape) != len(c.h.Shape) {
			t.Errorf("%v: got %v, %d bytes, %v; expected %d bytes", c.h, typ, n, err, c.bytes)
		}
	}
	bad := []struct {
		h    *pb.TensorHeader
		want string
	}{
		{&pb.TensorHeader{Dtype: "f8"}, `unknown dtype "f8"`},
		{&pb.TensorHeader{Dtype: ""}, `unknown dtype ""`},
		{&pb.TensorHeader{Dtype: "bf16", Shape: []int64{2}}, "dtype bf16 cannot be transferred"},
		{&pb.TensorHeader{Dtype: "f32", Shape: []int64{1, 1, 1, 1, 1, 1, 1, 1, 1}}, "rank 9, expected at most 8"},
		{&pb.TensorHeader{Dtype: "f32", Shape: []int64{2, -1}}, "dimension 1 of shape [2 -1] is -1"},
		{&pb.TensorHeader{Dtype: "f32", Shape: []int64{1 << 40}}, "is 1099511627776, expected 0..17179869184"},
		{&pb.TensorHeader{Dtype: "f32", Shape: []int64{1 << 20, 1 << 20}}, "has more than 17179869184 elements"},
		{&pb.TensorHeader{Dtype: "f32", Shape: []int64{1 << 34, 1 << 34, 1 << 34}}, "has more than 17179869184 elements"},
	}
	for _, c := range bad {
		if _, _, err := headerType(c.h); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, expected one containing %q", c.h, err, c.want)
		}
	}
}

// marshal encodes m as gRPC would hand it to the codec, split into buffers
// of 7 bytes to exercise messages that arrive in pieces.
func marshal(t *testing.T, m proto.Message) mem.BufferSlice {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var s mem.BufferSlice
	for len(b) > 0 {
		n := min(7, len(b))
		s = append(s, mem.SliceBuffer(b[:n]))
		b = b[n:]
	}
	return s
}

func TestChunkSink(t *testing.T) {
	codec := wireCodec{}
	data := []byte("0123456789abcdef")

	// A chunk goes into dst, nothing into msg.
	dst := make([]byte, 20)
	msg := &pb.RunRequest{}
	s := chunkSink{msg: msg, dst: dst[2:]}
	if err := codec.Unmarshal(marshal(t, &pb.RunRequest{Part: &pb.RunRequest_Data{Data: data}}), &s); err != nil {
		t.Fatal(err)
	}
	if !s.data || s.other || s.n != len(data) || s.overflow != 0 || string(dst[2:2+len(data)]) != string(data) || msg.GetPart() != nil {
		t.Errorf("chunk: sink %+v, dst %q", s, dst)
	}

	// A chunk longer than dst is not copied.
	dst = make([]byte, 4)
	s = chunkSink{msg: msg, dst: dst}
	if err := codec.Unmarshal(marshal(t, &pb.RunRequest{Part: &pb.RunRequest_Data{Data: data}}), &s); err != nil {
		t.Fatal(err)
	}
	if s.overflow != len(data) || s.n != 0 || string(dst) != "\x00\x00\x00\x00" {
		t.Errorf("overflow: sink %+v, dst %q", s, dst)
	}

	// A header goes into msg.
	s = chunkSink{msg: msg}
	h := &pb.TensorHeader{Name: "x", Dtype: "f32", Shape: []int64{2, 3}}
	if err := codec.Unmarshal(marshal(t, &pb.RunRequest{Part: &pb.RunRequest_Input{Input: h}}), &s); err != nil {
		t.Fatal(err)
	}
	if s.data || !s.other || !proto.Equal(msg.GetInput(), h) {
		t.Errorf("header: sink %+v, msg %v", s, msg)
	}

	// Messages that are not sinks decode as usual.
	var plain pb.RunRequest
	if err := codec.Unmarshal(marshal(t, &pb.RunRequest{Part: &pb.RunRequest_Data{Data: data}}), &plain); err != nil || string(plain.GetData()) != string(data) {
		t.Errorf("plain: %v, %v", &plain, err)
	}

	// Malformed bytes are an error.
	s = chunkSink{msg: msg, dst: make([]byte, 100)}
	if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x12, 0x40, 1, 2})}, &s); err == nil {
		t.Error("truncated chunk: no error")
	}
}

func TestTensorMemoryAndSwap(t *testing.T) {
	x := graph.FromF32([]float32{1, -2}, 2)
	b := tensorMemory(x)
	if len(b) != 8 || (nativeLittleEndian && b[3] != 0x3f) {
		t.Errorf("tensorMemory(%v) = % x", x.F32, b)
	}
	c := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	swapBytes(c, 4)
	if string(c) != "\x04\x03\x02\x01\x08\x07\x06\x05" {
		t.Errorf("swapBytes: % x", c)
	}
	if len(tensorMemory(graph.NewTensor(graph.F64, 0))) != 0 {
		t.Error("empty tensor has memory")
	}
}

func TestSendChunks(t *testing.T) {
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 5} {
		data := make([]byte, n)
		var sizes []int
		total := 0
		if err := sendChunks(data, 1, func(b []byte) error {
			sizes = append(sizes, len(b))
			total += len(b)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := (n + ChunkSize - 1) / ChunkSize
		if total != n || len(sizes) != want {
			t.Errorf("%d bytes: chunks %v, expected %d chunks", n, sizes, want)
		}
		for _, s := range sizes {
			if s > ChunkSize || s == 0 {
				t.Errorf("%d bytes: chunk of %d bytes", n, s)
			}
		}
	}
}
