// The host side of the wire: Client, a Backend whose calls go over gRPC to a
// backend plugin. Every method does the same four steps as the plugin side:
// context, to-proto (checking what it sends), call, from-proto (checking
// what the plugin sent back).

package backend

import (
	"context"
	"fmt"
	"io"
	"slices"

	"google.golang.org/grpc"

	pb "github.com/mohawk-distill/mohawk/sdk/backend/internal/backendv1"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// RemoteError is an error that the backend plugin returned: a user error such
// as a missing tensor, an input of the wrong type or an invalid graph, found
// by the backend itself or by the plugin's side of the wire. Its message is
// the plugin's, intact. Errors of any other type from a Client are local
// checks (a tensor whose data does not match its type) or transport failures
// (the plugin died, the context ended), which wrap the gRPC status error.
type RemoteError struct {
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// remoteError is the error of a response's error string, nil for "".
func remoteError(msg string) error {
	if msg == "" {
		return nil
	}
	return &RemoteError{Message: msg}
}

// transportError wraps a gRPC failure of the call what.
func transportError(what string, err error) error {
	return fmt.Errorf("backend plugin: %s: %w", what, err)
}

// pluginError is a response from the plugin that breaks the protocol (a bad
// tensor header, missing or excess data): the plugin's fault, like a
// transport failure.
func pluginError(what string, err error) error {
	if err == io.EOF {
		return fmt.Errorf("backend plugin: %s: the plugin ended the stream early", what)
	}
	if !isWireError(err) {
		return transportError(what, err)
	}
	return fmt.Errorf("backend plugin: %s: the plugin broke the protocol: %v", what, err)
}

// callOptions go with every call of a Client, whatever the connection's
// defaults: the message limits (see MaxMessageSize) and wireCodec, which
// receives chunks straight into their destination.
var callOptions = []grpc.CallOption{
	grpc.ForceCodecV2(wireCodec{}),
	grpc.MaxCallRecvMsgSize(MaxMessageSize),
	grpc.MaxCallSendMsgSize(MaxMessageSize),
}

// Client is a Backend in a plugin process: what Dispense(PluginName)
// returns on a client made with ClientConfig. Its methods are safe for
// concurrent use. Tensors cross the process boundary in chunks of ChunkSize
// bytes: SetTensor and Run send straight out of the caller's tensors, and
// Tensor and Run receive straight into newly allocated tensors that the
// caller owns.
type Client struct {
	rpc pb.BackendClient
}

var _ Backend = (*Client)(nil)

// NewClient returns a Client that calls the backend served on conn.
func NewClient(conn grpc.ClientConnInterface) *Client {
	return &Client{rpc: pb.NewBackendClient(conn)}
}

func (c *Client) Info(ctx context.Context) (*Info, error) {
	resp, err := c.rpc.Info(ctx, &pb.InfoRequest{}, callOptions...)
	if err != nil {
		return nil, transportError("Info", err)
	}
	if err := remoteError(resp.GetError()); err != nil {
		return nil, err
	}
	return infoFromProto(resp), nil
}

// infoFromProto converts an Info message. Dtypes and fused ops whose names
// this version does not know are left out: the host can use neither.
func infoFromProto(r *pb.InfoResponse) *Info {
	info := &Info{Name: r.GetName(), Version: r.GetVersion(), APIVersion: int(r.GetApiVersion())}
	for _, d := range r.GetDevices() {
		info.Devices = append(info.Devices, Device{Index: int(d.GetIndex()), Name: d.GetName(), Kind: d.GetKind(), MemoryBytes: d.GetMemoryBytes()})
	}
	for _, s := range r.GetDtypes() {
		if dt, err := graph.ParseDType(s); err == nil {
			info.DTypes = append(info.DTypes, dt)
		}
	}
	for _, s := range r.GetFusedOps() {
		if op, err := graph.ParseOp(s); err == nil {
			info.FusedOps = append(info.FusedOps, op)
		}
	}
	return info
}

func (c *Client) SetTensor(ctx context.Context, name string, t *graph.Tensor) error {
	what := fmt.Sprintf("SetTensor %q", name)
	h, err := tensorHeader(name, t)
	if err != nil {
		return fmt.Errorf("backend: %s: %v", what, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.SetTensor(ctx, callOptions...)
	if err != nil {
		return transportError(what, err)
	}
	err = sendTensor(h, t,
		func(h *pb.TensorHeader) error {
			return stream.Send(&pb.SetTensorRequest{Part: &pb.SetTensorRequest_Header{Header: h}})
		},
		func(b []byte) error {
			return stream.Send(&pb.SetTensorRequest{Part: &pb.SetTensorRequest_Data{Data: b}})
		})
	// io.EOF: the plugin answered before reading everything (it refused the
	// tensor); its answer follows.
	if err != nil && err != io.EOF {
		return transportError(what, err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return transportError(what, err)
	}
	return remoteError(resp.GetError())
}

func (c *Client) Tensor(ctx context.Context, name string) (*graph.Tensor, error) {
	what := fmt.Sprintf("Tensor %q", name)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Tensor(ctx, &pb.TensorRequest{Name: name}, callOptions...)
	if err != nil {
		return nil, transportError(what, err)
	}
	msg := &pb.TensorResponse{}
	if err := recvPart(stream, msg); err != nil {
		return nil, pluginError(what, err)
	}
	var h *pb.TensorHeader
	switch p := msg.GetPart().(type) {
	case *pb.TensorResponse_Error:
		return nil, remoteError(p.Error)
	case *pb.TensorResponse_Header:
		h = p.Header
	default:
		return nil, pluginError(what, wiref("the first message is neither a header nor an error"))
	}
	if h.GetName() != name {
		return nil, pluginError(what, wiref("the header names tensor %q", h.GetName()))
	}
	typ, _, err := headerType(h)
	if err != nil {
		return nil, pluginError(what, wiref("bad header: %v", err))
	}
	t, err := recvTensor(stream, msg, typ)
	if err == nil {
		err = recvEnd(stream, msg)
	}
	if err != nil {
		return nil, pluginError(fmt.Sprintf("%s (%v)", what, typ), err)
	}
	return t, nil
}

func (c *Client) DeleteTensor(ctx context.Context, name string) error {
	resp, err := c.rpc.DeleteTensor(ctx, &pb.DeleteTensorRequest{Name: name}, callOptions...)
	if err != nil {
		return transportError(fmt.Sprintf("DeleteTensor %q", name), err)
	}
	return remoteError(resp.GetError())
}

// Compile sends g's encoding (graph.Graph.MarshalBinary) in chunks; the
// plugin decodes and validates it (graph.Decode under graph.DefaultLimits)
// before its backend compiles it.
func (c *Client) Compile(ctx context.Context, g *graph.Graph) (ProgramID, error) {
	data, err := g.MarshalBinary()
	if err != nil {
		return 0, fmt.Errorf("backend: Compile: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Compile(ctx, callOptions...)
	if err != nil {
		return 0, transportError("Compile", err)
	}
	err = stream.Send(&pb.CompileRequest{Part: &pb.CompileRequest_Header{Header: &pb.CompileHeader{Size: uint64(len(data))}}})
	if err == nil {
		err = sendChunks(data, 1, func(b []byte) error {
			return stream.Send(&pb.CompileRequest{Part: &pb.CompileRequest_Data{Data: b}})
		})
	}
	if err != nil && err != io.EOF {
		return 0, transportError("Compile", err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return 0, transportError("Compile", err)
	}
	if err := remoteError(resp.GetError()); err != nil {
		return 0, err
	}
	return ProgramID(resp.GetProgramId()), nil
}

// Run sends the inputs (in the order of their names) and receives the
// outputs into new tensors, which the caller owns.
func (c *Client) Run(ctx context.Context, p ProgramID, inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	what := fmt.Sprintf("Run program %d", p)
	names := make([]string, 0, len(inputs))
	headers := make(map[string]*pb.TensorHeader, len(inputs))
	for name, t := range inputs {
		h, err := tensorHeader(name, t)
		if err != nil {
			return nil, fmt.Errorf("backend: %s: input %q: %v", what, name, err)
		}
		names = append(names, name)
		headers[name] = h
	}
	slices.Sort(names)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Run(ctx, callOptions...)
	if err != nil {
		return nil, transportError(what, err)
	}
	err = stream.Send(&pb.RunRequest{Part: &pb.RunRequest_Header{Header: &pb.RunHeader{ProgramId: uint64(p), Inputs: uint32(len(names))}}})
	for _, name := range names {
		if err != nil {
			break
		}
		err = sendTensor(headers[name], inputs[name],
			func(h *pb.TensorHeader) error {
				return stream.Send(&pb.RunRequest{Part: &pb.RunRequest_Input{Input: h}})
			},
			func(b []byte) error { return stream.Send(&pb.RunRequest{Part: &pb.RunRequest_Data{Data: b}}) })
	}
	// io.EOF: the plugin answered before reading everything (it refused an
	// input); its answer follows.
	if err != nil && err != io.EOF {
		return nil, transportError(what, err)
	}
	if err := stream.CloseSend(); err != nil {
		return nil, transportError(what, err)
	}
	return recvRunOutputs(stream, what)
}

// recvRunOutputs receives the result and the outputs of a Run.
func recvRunOutputs(stream pb.Backend_RunClient, what string) (map[string]*graph.Tensor, error) {
	msg := &pb.RunResponse{}
	if err := recvPart(stream, msg); err != nil {
		return nil, pluginError(what, err)
	}
	res := msg.GetResult()
	if res == nil {
		return nil, pluginError(what, wiref("the first message is not a result"))
	}
	if err := remoteError(res.GetError()); err != nil {
		return nil, err
	}
	n := int(res.GetOutputs())
	if n > maxRunTensors {
		return nil, pluginError(what, wiref("%d outputs declared, expected at most %d", n, maxRunTensors))
	}
	outs := make(map[string]*graph.Tensor, n)
	for i := range n {
		if err := recvPart(stream, msg); err != nil {
			return nil, pluginError(fmt.Sprintf("%s: output %d of %d", what, i+1, n), err)
		}
		h := msg.GetOutput()
		if h == nil {
			return nil, pluginError(what, wiref("message %d is not an output header", i+1))
		}
		name := h.GetName()
		if _, dup := outs[name]; dup {
			return nil, pluginError(what, wiref("output %q is sent twice", name))
		}
		typ, _, err := headerType(h)
		if err != nil {
			return nil, pluginError(what, wiref("output %q: bad header: %v", name, err))
		}
		t, err := recvTensor(stream, msg, typ)
		if err != nil {
			return nil, pluginError(fmt.Sprintf("%s: output %q (%v)", what, name, typ), err)
		}
		outs[name] = t
	}
	if err := recvEnd(stream, msg); err != nil {
		return nil, pluginError(fmt.Sprintf("%s: after the %d declared outputs", what, n), err)
	}
	return outs, nil
}

func (c *Client) Release(ctx context.Context, p ProgramID) error {
	resp, err := c.rpc.Release(ctx, &pb.ReleaseRequest{ProgramId: uint64(p)}, callOptions...)
	if err != nil {
		return transportError(fmt.Sprintf("Release program %d", p), err)
	}
	return remoteError(resp.GetError())
}
