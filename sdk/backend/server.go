// The plugin side of the wire: thin gRPC adapters that serve a Backend. Every
// RPC does the same four steps: take the stream's context, convert the
// request from protobuf (checking it), call the Backend, convert the result
// to protobuf. Errors of the Backend and faults in what the host sent travel
// as the error string of the response; only transport failures are returned
// as gRPC errors.

package backend

import (
	"context"
	"io"
	"runtime"
	"slices"
	"sync"

	pb "github.com/mohawk-distill/mohawk/sdk/backend/internal/backendv1"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// graphLimits bound the graphs that a served backend accepts from the host:
// Compile receives at most graph.MaxEncodedSize(graphLimits) bytes and
// decodes them with graph.Decode under these limits.
var graphLimits = graph.DefaultLimits

// maxRunTensors bounds the number of inputs a Run request may declare (and
// the outputs a Run result may declare): a program has at most one input per
// node.
var maxRunTensors = graphLimits.MaxNodes

// largeTransfer is the size from which a transfer's temporary copy in the
// plugin is collected at once (collectAfter).
const largeTransfer = 64 << 20

// collectAfter runs the garbage collector when a request just left n bytes
// of temporary copies behind (a received tensor the backend copied, a graph
// encoding, the copy of a tensor sent back). The collector would otherwise
// let garbage grow to the size of the live heap before it runs, so right
// after the upload of a 2 GiB parameter the plugin could hold the
// parameter, its received copy and then, on download, a third copy. A
// collection of a heap of large pointer-free buffers is cheap beside a
// transfer of this size.
func collectAfter(n int) {
	if n >= largeTransfer {
		runtime.GC()
	}
}

// server serves impl as the gRPC service mohawk.backend.v1.Backend.
type server struct {
	pb.UnimplementedBackendServer
	impl Backend

	// runMu serialises runs from the call of Run until its outputs are
	// sent: a backend may return outputs that its next run overwrites
	// (cpu.Program does), so a concurrent run must not start before they
	// are on the wire. Inputs are received outside the lock.
	runMu sync.Mutex
}

// errText is the message of err, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (s *server) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	info, err := s.impl.Info(ctx)
	if err != nil {
		return &pb.InfoResponse{Error: err.Error()}, nil
	}
	if info == nil {
		return &pb.InfoResponse{Error: "backend: Info returned no info"}, nil
	}
	return infoToProto(info), nil
}

func (s *server) SetTensor(stream pb.Backend_SetTensorServer) error {
	ctx := stream.Context()
	name, t, err := recvSetTensor(stream)
	if err != nil {
		if isWireError(err) {
			return stream.SendAndClose(&pb.SetTensorResponse{Error: err.Error()})
		}
		return err
	}
	err = s.impl.SetTensor(ctx, name, t)
	collectAfter(len(tensorMemory(t)))
	return stream.SendAndClose(&pb.SetTensorResponse{Error: errText(err)})
}

// recvSetTensor receives the header and data of a SetTensor stream.
func recvSetTensor(stream pb.Backend_SetTensorServer) (string, *graph.Tensor, error) {
	req := &pb.SetTensorRequest{}
	if err := recvPart(stream, req); err != nil {
		if err == io.EOF {
			return "", nil, wiref("backend: SetTensor: the stream ended before the tensor header")
		}
		if isWireError(err) {
			return "", nil, wiref("backend: SetTensor: the first message is not a tensor header")
		}
		return "", nil, err
	}
	h := req.GetHeader()
	if h == nil {
		return "", nil, wiref("backend: SetTensor: the first message is not a tensor header")
	}
	name := h.GetName()
	typ, _, err := headerType(h)
	if err != nil {
		return name, nil, wiref("backend: SetTensor %q: %v", name, err)
	}
	t, err := recvTensor(stream, req, typ)
	if err == nil {
		err = recvEnd(stream, req)
	}
	if err != nil {
		if isWireError(err) {
			err = wiref("backend: SetTensor %q (%v): %v", name, typ, err)
		}
		return name, nil, err
	}
	return name, t, nil
}

func (s *server) Tensor(req *pb.TensorRequest, stream pb.Backend_TensorServer) error {
	ctx := stream.Context()
	name := req.GetName()
	t, err := s.impl.Tensor(ctx, name)
	if err == nil && t != nil {
		if cerr := t.Check(); cerr != nil {
			err = wiref("backend: Tensor %q: the backend returned a bad tensor: %v", name, cerr)
		}
	} else if err == nil {
		err = wiref("backend: Tensor %q: the backend returned no tensor", name)
	}
	if err != nil {
		return stream.Send(&pb.TensorResponse{Part: &pb.TensorResponse_Error{Error: err.Error()}})
	}
	h, _ := tensorHeader(name, t)
	err = sendTensor(h, t,
		func(h *pb.TensorHeader) error {
			return stream.Send(&pb.TensorResponse{Part: &pb.TensorResponse_Header{Header: h}})
		},
		func(b []byte) error { return stream.Send(&pb.TensorResponse{Part: &pb.TensorResponse_Data{Data: b}}) })
	n := len(tensorMemory(t))
	t = nil
	collectAfter(n)
	return err
}

func (s *server) DeleteTensor(ctx context.Context, req *pb.DeleteTensorRequest) (*pb.DeleteTensorResponse, error) {
	err := s.impl.DeleteTensor(ctx, req.GetName())
	return &pb.DeleteTensorResponse{Error: errText(err)}, nil
}

func (s *server) Compile(stream pb.Backend_CompileServer) error {
	ctx := stream.Context()
	g, err := recvGraph(stream)
	if err != nil {
		if isWireError(err) {
			return stream.SendAndClose(&pb.CompileResponse{Error: err.Error()})
		}
		return err
	}
	id, err := s.impl.Compile(ctx, g)
	if err != nil {
		return stream.SendAndClose(&pb.CompileResponse{Error: err.Error()})
	}
	return stream.SendAndClose(&pb.CompileResponse{ProgramId: uint64(id)})
}

// recvGraph receives the encoding of a graph in a Compile stream and decodes
// it under graphLimits.
func recvGraph(stream pb.Backend_CompileServer) (*graph.Graph, error) {
	req := &pb.CompileRequest{}
	if err := recvPart(stream, req); err != nil {
		if err == io.EOF {
			return nil, wiref("backend: Compile: the stream ended before the header")
		}
		if isWireError(err) {
			return nil, wiref("backend: Compile: the first message is not a header")
		}
		return nil, err
	}
	h := req.GetHeader()
	if h == nil {
		return nil, wiref("backend: Compile: the first message is not a header")
	}
	bound := graph.MaxEncodedSize(graphLimits)
	if h.GetSize() > uint64(bound) {
		return nil, wiref("backend: Compile: a graph encoding of %d bytes exceeds %d bytes, the most a graph within the limits (%d nodes, %d constant values) may take",
			h.GetSize(), bound, graphLimits.MaxNodes, graphLimits.MaxConstValues)
	}
	data := make([]byte, h.GetSize())
	err := recvData(stream, req, data, 1)
	if err == nil {
		err = recvEnd(stream, req)
	}
	if err != nil {
		if isWireError(err) {
			err = wiref("backend: Compile: graph encoding of %d bytes: %v", len(data), err)
		}
		return nil, err
	}
	g, err := graph.Decode(data, graphLimits)
	n := len(data)
	data = nil
	collectAfter(n)
	if err != nil {
		return nil, wiref("backend: Compile: %v", err)
	}
	return g, nil
}

func (s *server) Run(stream pb.Backend_RunServer) error {
	ctx := stream.Context()
	id, inputs, err := recvRunInputs(stream)
	if err != nil {
		if isWireError(err) {
			return stream.Send(&pb.RunResponse{Part: &pb.RunResponse_Result{Result: &pb.RunResult{Error: err.Error()}}})
		}
		return err
	}
	s.runMu.Lock()
	defer s.runMu.Unlock()
	n := 0
	for _, t := range inputs {
		n += len(tensorMemory(t))
	}
	outs, err := s.impl.Run(ctx, id, inputs)
	inputs = nil
	collectAfter(n)
	if err == nil {
		err = checkOutputs(id, outs)
	}
	if err != nil {
		return stream.Send(&pb.RunResponse{Part: &pb.RunResponse_Result{Result: &pb.RunResult{Error: err.Error()}}})
	}
	return sendRunOutputs(stream, outs)
}

// recvRunInputs receives the header and the inputs of a Run stream.
func recvRunInputs(stream pb.Backend_RunServer) (ProgramID, map[string]*graph.Tensor, error) {
	req := &pb.RunRequest{}
	if err := recvPart(stream, req); err != nil {
		if err == io.EOF {
			return 0, nil, wiref("backend: Run: the stream ended before the header")
		}
		if isWireError(err) {
			return 0, nil, wiref("backend: Run: the first message is not a header")
		}
		return 0, nil, err
	}
	h := req.GetHeader()
	if h == nil {
		return 0, nil, wiref("backend: Run: the first message is not a header")
	}
	id := ProgramID(h.GetProgramId())
	n := int(h.GetInputs())
	if n > maxRunTensors {
		return id, nil, wiref("backend: Run program %d: %d inputs declared, expected at most %d", id, n, maxRunTensors)
	}
	inputs := make(map[string]*graph.Tensor, n)
	for i := range n {
		if err := recvPart(stream, req); err != nil {
			if err == io.EOF {
				return id, nil, wiref("backend: Run program %d: the stream ended after %d of the %d declared inputs", id, i, n)
			}
			if isWireError(err) {
				err = wiref("backend: Run program %d: after input %d of %d: %v", id, i, n, err)
			}
			return id, nil, err
		}
		ih := req.GetInput()
		if ih == nil {
			return id, nil, wiref("backend: Run program %d: message %d is not an input header", id, i+1)
		}
		name := ih.GetName()
		if _, dup := inputs[name]; dup {
			return id, nil, wiref("backend: Run program %d: input %q is sent twice", id, name)
		}
		typ, _, err := headerType(ih)
		if err != nil {
			return id, nil, wiref("backend: Run program %d: input %q: %v", id, name, err)
		}
		t, err := recvTensor(stream, req, typ)
		if err != nil {
			if isWireError(err) {
				err = wiref("backend: Run program %d: input %q (%v): %v", id, name, typ, err)
			}
			return id, nil, err
		}
		inputs[name] = t
	}
	if err := recvEnd(stream, req); err != nil {
		if isWireError(err) {
			err = wiref("backend: Run program %d: after the %d declared inputs: %v", id, n, err)
		}
		return id, nil, err
	}
	return id, inputs, nil
}

// checkOutputs reports outputs of a Run that cannot be sent.
func checkOutputs(id ProgramID, outs map[string]*graph.Tensor) error {
	if len(outs) > maxRunTensors {
		return wiref("backend: Run program %d: %d outputs, expected at most %d", id, len(outs), maxRunTensors)
	}
	for name, t := range outs {
		if err := t.Check(); err != nil {
			return wiref("backend: Run program %d: the backend returned a bad output %q: %v", id, name, err)
		}
	}
	return nil
}

// sendRunOutputs sends the result header and then every output (in the
// order of their names).
func sendRunOutputs(stream pb.Backend_RunServer, outs map[string]*graph.Tensor) error {
	if err := stream.Send(&pb.RunResponse{Part: &pb.RunResponse_Result{Result: &pb.RunResult{Outputs: uint32(len(outs))}}}); err != nil {
		return err
	}
	names := make([]string, 0, len(outs))
	for name := range outs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := outs[name]
		h, _ := tensorHeader(name, t)
		err := sendTensor(h, t,
			func(h *pb.TensorHeader) error {
				return stream.Send(&pb.RunResponse{Part: &pb.RunResponse_Output{Output: h}})
			},
			func(b []byte) error { return stream.Send(&pb.RunResponse{Part: &pb.RunResponse_Data{Data: b}}) })
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *server) Release(ctx context.Context, req *pb.ReleaseRequest) (*pb.ReleaseResponse, error) {
	err := s.impl.Release(ctx, ProgramID(req.GetProgramId()))
	return &pb.ReleaseResponse{Error: errText(err)}, nil
}

// infoToProto converts an Info to its message.
func infoToProto(info *Info) *pb.InfoResponse {
	r := &pb.InfoResponse{Name: info.Name, Version: info.Version, ApiVersion: int64(info.APIVersion)}
	for _, d := range info.Devices {
		r.Devices = append(r.Devices, &pb.Device{Index: int64(d.Index), Name: d.Name, Kind: d.Kind, MemoryBytes: d.MemoryBytes})
	}
	for _, dt := range info.DTypes {
		r.Dtypes = append(r.Dtypes, dt.String())
	}
	for _, op := range info.FusedOps {
		r.FusedOps = append(r.FusedOps, op.String())
	}
	return r
}
