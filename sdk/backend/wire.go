// Transfers on the plugin wire: how tensors and graph encodings cross the
// process boundary in chunks, how a tensor header is checked, and the codec
// that copies each received chunk straight into its destination.

package backend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"unsafe"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/mohawk-distill/mohawk/sdk/backend/internal/backendv1"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Sizes of the wire.
//
// Tensor data and graph encodings never travel as one message: they are cut
// into chunks of ChunkSize bytes (the last one shorter), each its own gRPC
// message, so a transfer of any size (a 2 GiB parameter, a graph holding
// large constants) streams through messages of bounded size. The sender
// sends chunks straight out of the tensor's own memory; the receiver
// allocates its destination once, from the header, and copies every chunk
// into it as it arrives. Neither side ever holds more than a few chunks in
// flight beyond the tensor itself.
//
// Both sides set MaxMessageSize as their send and receive limit. Since
// chunks are ChunkSize bytes, no message of the protocol comes near it (the
// largest besides chunks is Info, a few KiB); a bounded limit in turn bounds
// the memory any one message can make the receiver claim, whatever the
// other side sends.
const (
	ChunkSize      = 1 << 20 // 1 MiB of tensor data or graph encoding per message
	MaxMessageSize = 4 << 20 // the send and receive limit of both sides
)

// dataField is the number of the bytes field that carries a chunk in every
// streamed message of backend.proto (SetTensorRequest, TensorResponse,
// CompileRequest, RunRequest, RunResponse).
const dataField protowire.Number = 2

// nativeLittleEndian reports whether this machine stores numbers in the
// little-endian order of the wire, so that tensor memory is sent and
// received as it is.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// wireError is an error in what the other side sent (a bad header, a chunk
// beyond the declared size, a message out of order): a user error that
// travels in a response, unlike the transport errors that RecvMsg returns.
type wireError struct{ msg string }

func (e *wireError) Error() string { return e.msg }

func wiref(format string, args ...any) error {
	return &wireError{msg: fmt.Sprintf(format, args...)}
}

// isWireError reports whether err is a user error (wireError) rather than a
// transport failure.
func isWireError(err error) bool {
	var we *wireError
	return errors.As(err, &we)
}

// headerType checks a tensor header and returns its type and the number of
// bytes of its data: the dtype must be one a graph.Tensor holds (f32, f64,
// i32), the shape within the bounds of a graph (at most graph.MaxRank
// dimensions, none negative, at most graph.MaxElements elements).
func headerType(h *pb.TensorHeader) (graph.Type, int, error) {
	dt, err := graph.ParseDType(h.GetDtype())
	if err != nil {
		return graph.Type{}, 0, err
	}
	if dt != graph.F32 && dt != graph.F64 && dt != graph.I32 {
		return graph.Type{}, 0, fmt.Errorf("dtype %v cannot be transferred (only f32, f64 and i32 tensors hold data)", dt)
	}
	dims := h.GetShape()
	if len(dims) > graph.MaxRank {
		return graph.Type{}, 0, fmt.Errorf("shape %v has rank %d, expected at most %d", dims, len(dims), graph.MaxRank)
	}
	shape := make(graph.Shape, len(dims))
	n := int64(1)
	for i, d := range dims {
		if d < 0 || d > graph.MaxElements {
			return graph.Type{}, 0, fmt.Errorf("dimension %d of shape %v is %d, expected 0..%d", i, dims, d, int64(graph.MaxElements))
		}
		if hi, lo := bits.Mul64(uint64(n), uint64(d)); hi != 0 || lo > graph.MaxElements {
			return graph.Type{}, 0, fmt.Errorf("shape %v has more than %d elements", dims, int64(graph.MaxElements))
		}
		n *= d
		shape[i] = int(d)
	}
	return graph.Type{DType: dt, Shape: shape}, int(n) * dt.Size(), nil
}

// tensorHeader is the header of t under name; t must hold data that matches
// its type.
func tensorHeader(name string, t *graph.Tensor) (*pb.TensorHeader, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	shape := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		shape[i] = int64(d)
	}
	return &pb.TensorHeader{Name: name, Dtype: t.DType.String(), Shape: shape}, nil
}

// newTensor allocates the destination of a tensor whose header was checked.
func newTensor(typ graph.Type) *graph.Tensor {
	return graph.NewTensor(typ.DType, typ.Shape...)
}

// tensorMemory is the memory of t's data as bytes (no copy), in the byte
// order of this machine.
func tensorMemory(t *graph.Tensor) []byte {
	switch t.DType {
	case graph.F32:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(t.F32))), len(t.F32)*4)
	case graph.F64:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(t.F64))), len(t.F64)*8)
	case graph.I32:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(t.I32))), len(t.I32)*4)
	}
	return nil
}

// swapBytes reverses the bytes of every size-byte element of b in place: the
// conversion between the wire's little-endian order and a big-endian
// machine's.
func swapBytes(b []byte, size int) {
	for i := 0; i+size <= len(b); i += size {
		for j, k := i, i+size-1; j < k; j, k = j+1, k-1 {
			b[j], b[k] = b[k], b[j]
		}
	}
}

// sendChunks sends data in chunks of ChunkSize bytes (none when data is
// empty). On a big-endian machine each chunk is first converted, in a
// scratch buffer, to the little-endian order of elements of elemSize bytes
// (ChunkSize is a multiple of every element size, so no element is split).
// The chunk passed to send is only valid during the call (gRPC encodes the
// message before SendMsg returns).
func sendChunks(data []byte, elemSize int, send func([]byte) error) error {
	var scratch []byte
	for off := 0; off < len(data); off += ChunkSize {
		chunk := data[off:min(off+ChunkSize, len(data))]
		if !nativeLittleEndian && elemSize > 1 {
			if scratch == nil {
				scratch = make([]byte, ChunkSize)
			}
			chunk = scratch[:copy(scratch, chunk)]
			swapBytes(chunk, elemSize)
		}
		if err := send(chunk); err != nil {
			return err
		}
	}
	return nil
}

// sendTensor sends the header h and then the data of t in chunks.
func sendTensor(h *pb.TensorHeader, t *graph.Tensor, header func(*pb.TensorHeader) error, data func([]byte) error) error {
	if err := header(h); err != nil {
		return err
	}
	return sendChunks(tensorMemory(t), t.DType.Size(), data)
}

// chunkSink is what a stream receives one message into when that message
// may be a chunk: the bytes of its data field (dataField) are copied straight
// into dst, the rest of the message is unmarshalled into msg. It is handed to
// RecvMsg in place of a message; wireCodec fills it.
type chunkSink struct {
	msg proto.Message // receives every field but the data field
	dst []byte        // the unfilled rest of the destination

	data     bool // the message held a data field
	other    bool // the message held fields other than the data field
	n        int  // data bytes copied into dst
	overflow int  // when > 0, the length of a chunk that did not fit in dst (nothing was copied)
}

func (s *chunkSink) unmarshal(data mem.BufferSlice) error {
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	var rest []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if num == dataField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b[n:])
			if m < 0 {
				return protowire.ParseError(m)
			}
			s.data = true
			if len(v) > len(s.dst)-s.n {
				s.overflow = len(v)
			} else if s.overflow == 0 {
				s.n += copy(s.dst[s.n:], v)
			}
			b = b[n+m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		rest = append(rest, b[:n+m]...)
		b = b[n+m:]
	}
	s.other = len(rest) > 0
	return proto.Unmarshal(rest, s.msg)
}

// wireCodec is the gRPC codec of both sides of the plugin wire: the standard
// protobuf codec (same name, same bytes on the wire), except that a message
// received into a chunkSink has its chunk copied into the sink's destination
// instead of into a newly allocated byte slice. So a transfer allocates
// nothing per chunk: without it, every 1 MiB chunk would become 1 MiB of
// garbage, and the garbage collector, which lets the heap grow to twice its
// live size between collections, would let a transfer beside a large live
// heap pile up gigabytes of it.
type wireCodec struct{}

var protoCodec = encoding.GetCodecV2(grpcproto.Name)

func (wireCodec) Name() string { return grpcproto.Name }

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) { return protoCodec.Marshal(v) }

func (wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if s, ok := v.(*chunkSink); ok {
		return s.unmarshal(data)
	}
	return protoCodec.Unmarshal(data, v)
}

// msgReceiver is the receiving half of a gRPC stream.
type msgReceiver interface{ RecvMsg(m any) error }

// recvPart receives the next message of r into msg, which must not be a
// chunk: a chunk (of any length) where a header or the end of the stream
// belongs is data beyond the declared size of what came before. At the end
// of the stream it returns io.EOF.
func recvPart(r msgReceiver, msg proto.Message) error {
	s := chunkSink{msg: msg}
	if err := r.RecvMsg(&s); err != nil {
		return err
	}
	if s.data {
		if s.other {
			return wiref("a message holds both data and a header")
		}
		return wiref("found a data chunk of %d bytes beyond the declared size", max(s.overflow, s.n))
	}
	return nil
}

// recvData fills dst with the chunks that follow a header on r, msg being
// the message type of the stream. The chunks must fill dst exactly: a chunk
// beyond the end of dst, another message or the end of the stream before
// dst is full are errors.
func recvData(r msgReceiver, msg proto.Message, dst []byte, elemSize int) error {
	for off := 0; off < len(dst); {
		s := chunkSink{msg: msg, dst: dst[off:]}
		if err := r.RecvMsg(&s); err != nil {
			if err == io.EOF {
				return wiref("the stream ended after %d of the %d declared bytes", off, len(dst))
			}
			return err
		}
		switch {
		case s.other:
			return wiref("expected data (%d of the %d declared bytes received), found another message", off, len(dst))
		case s.overflow > 0:
			return wiref("a chunk of %d bytes overruns the declared size: %d of the %d declared bytes were received before it", s.overflow, off, len(dst))
		}
		off += s.n
	}
	if !nativeLittleEndian && elemSize > 1 {
		swapBytes(dst, elemSize)
	}
	return nil
}

// recvTensor receives the data of a tensor of type typ (from a checked
// header) into a newly allocated tensor.
func recvTensor(r msgReceiver, msg proto.Message, typ graph.Type) (*graph.Tensor, error) {
	t := newTensor(typ)
	if err := recvData(r, msg, tensorMemory(t), typ.DType.Size()); err != nil {
		return nil, err
	}
	return t, nil
}

// recvEnd receives the end of stream r, msg being its message type: any
// further message is an error.
func recvEnd(r msgReceiver, msg proto.Message) error {
	err := recvPart(r, msg)
	switch {
	case err == io.EOF:
		return nil
	case err == nil:
		return wiref("found a message after the last expected one")
	}
	return err
}
