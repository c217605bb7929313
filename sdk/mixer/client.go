// The host side of the wire: Client, a Mixer whose calls go over gRPC to a
// mixer plugin. Every method does the same four steps as the plugin side:
// context, to-proto (checking what it sends), call, from-proto (checking
// what the plugin sent back: a fragment is untrusted, so it is decoded
// under graph.DefaultLimits and checked with CheckFragment).

package mixer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"google.golang.org/grpc"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	pb "github.com/mohawk-distill/mohawk/sdk/mixer/internal/mixerv1"
)

// RemoteError is an error that the mixer plugin returned: a user error such
// as an invalid configuration (its message names the attribute and the
// constraint), found by the mixer itself or by the plugin's side of the
// wire. Its message is the plugin's, intact. Errors of any other type from
// a Client are local checks (a configuration that does not conform to the
// schema, a capability the mixer does not declare, a fragment that fails
// CheckFragment) or transport failures (the plugin died, the context
// ended), which wrap the gRPC status error.
type RemoteError struct {
	Message string
}

// Error is the plugin's message.
func (e *RemoteError) Error() string { return e.Message }

// remoteError is the error of a response's error string, nil for "".
func remoteError(msg string) error {
	if msg == "" {
		return nil
	}
	return &RemoteError{Message: msg}
}

// fragmentBufferSize is the most that Client allocates for a fragment's
// encoding before its chunks arrive; the buffer grows with the chunks.
const fragmentBufferSize = 64 << 20

// callOptions go with every call of a Client, whatever the connection's
// defaults: the message limits (see MaxMessageSize).
var callOptions = []grpc.CallOption{
	grpc.MaxCallRecvMsgSize(MaxMessageSize),
	grpc.MaxCallSendMsgSize(MaxMessageSize),
}

// Client is a Mixer in a plugin process: what Dispense(PluginName) returns
// on a client made with ClientConfig. Its methods are safe for concurrent
// use.
//
// Client asks the plugin for its Info once and keeps it: the schema encodes
// every layer's configuration, and the capabilities let Client refuse a
// fragment the mixer does not declare without calling the plugin. Every
// fragment is decoded under graph.DefaultLimits and checked with
// CheckFragment against the layer and the parameters that Params declares
// for it (Client calls Params before each fragment), so what Client returns
// is safe to inline.
type Client struct {
	rpc pb.MixerClient

	mu   sync.Mutex
	info *Info // the plugin's Info, once a call succeeded
}

var _ Mixer = (*Client)(nil)

// NewClient returns a Client that calls the mixer served on conn.
func NewClient(conn grpc.ClientConnInterface) *Client {
	return &Client{rpc: pb.NewMixerClient(conn)}
}

// transportError wraps a gRPC failure of the call what of the mixer name
// ("" before Info is known).
func transportError(name, what string, err error) error {
	if name == "" {
		return fmt.Errorf("mixer plugin: %s: %w", what, err)
	}
	return fmt.Errorf("mixer plugin %q: %s: %w", name, what, err)
}

// pluginError is a response from the plugin that breaks the protocol (a
// missing header, more or fewer bytes than it declared): the plugin's
// fault, like a transport failure.
func pluginError(name, what string, err error) error {
	return fmt.Errorf("mixer plugin %q: %s: the plugin broke the protocol: %w", name, what, err)
}

// Info returns the plugin's Info (a copy of the one Client keeps). The
// schema it holds has passed Schema.Validate.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	info, err := c.getInfo(ctx)
	if err != nil {
		return nil, err
	}
	cp := *info
	cp.Schema.Attributes = slices.Clone(info.Schema.Attributes)
	return &cp, nil
}

// getInfo returns the Info that Client keeps, asking the plugin for it on
// first use.
func (c *Client) getInfo(ctx context.Context) (*Info, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.info != nil {
		return c.info, nil
	}
	resp, err := c.rpc.Info(ctx, &pb.InfoRequest{}, callOptions...)
	if err != nil {
		return nil, transportError("", "Info", err)
	}
	if err := remoteError(resp.GetError()); err != nil {
		return nil, err
	}
	info, err := infoFromProto(resp)
	if err == nil && info.Name == "" {
		err = errors.New("Info has no name")
	}
	if err != nil {
		return nil, pluginError(resp.GetName(), "Info", err)
	}
	c.info = info
	return info, nil
}

// layerToProto checks and converts a layer for the mixer of info.
func layerToProto(info *Info, what string, l Layer) (*pb.Layer, error) {
	if err := l.Dims.Check(); err != nil {
		return nil, fmt.Errorf("mixer %q: %s: %v", info.Name, what, err)
	}
	cfg, err := configToJSON(l.Config, info.Schema)
	if err != nil {
		return nil, fmt.Errorf("mixer %q: %s: %v", info.Name, what, err)
	}
	return &pb.Layer{Config: cfg, Dims: dimsToProto(l.Dims)}, nil
}

// Params asks the plugin for the layer's parameters and checks them: each
// one realisable (ParamSpec.Check), of at most graph.MaxRank dimensions and
// graph.MaxElements elements, and declared once.
func (c *Client) Params(ctx context.Context, l Layer) ([]ParamSpec, error) {
	info, err := c.getInfo(ctx)
	if err != nil {
		return nil, err
	}
	pl, err := layerToProto(info, "Params", l)
	if err != nil {
		return nil, err
	}
	resp, err := c.rpc.Params(ctx, &pb.ParamsRequest{Layer: pl}, callOptions...)
	if err != nil {
		return nil, transportError(info.Name, "Params", err)
	}
	if err := remoteError(resp.GetError()); err != nil {
		return nil, err
	}
	specs, err := paramsFromProto(resp.GetParams())
	if err != nil {
		return nil, pluginError(info.Name, "Params", err)
	}
	return specs, nil
}

// Forward asks the plugin for the Forward fragment of l; for a mixer that
// declares MixingMatrix it must also output OutputMixed.
func (c *Client) Forward(ctx context.Context, l Layer) (*graph.Graph, error) {
	return c.fragment(ctx, FragmentForward, l)
}

// MixingMatrix asks the plugin for the MixingMatrix fragment of l, where
// the mixer declares the capability.
func (c *Client) MixingMatrix(ctx context.Context, l Layer) (*graph.Graph, error) {
	return c.fragment(ctx, FragmentMixingMatrix, l)
}

// Step asks the plugin for the Step fragment of l, where the mixer
// declares the capability.
func (c *Client) Step(ctx context.Context, l Layer) (*graph.Graph, error) {
	return c.fragment(ctx, FragmentStep, l)
}

// InitFromTeacher asks the plugin for the InitFromTeacher fragment of l,
// where the mixer declares the capability.
func (c *Client) InitFromTeacher(ctx context.Context, l Layer) (*graph.Graph, error) {
	return c.fragment(ctx, FragmentInitFromTeacher, l)
}

// fragment asks the plugin for the fragment of kind, receives its
// encoding, decodes it under graph.DefaultLimits and checks it with
// CheckFragment against l and the layer's params.
func (c *Client) fragment(ctx context.Context, kind FragmentKind, l Layer) (*graph.Graph, error) {
	info, err := c.getInfo(ctx)
	if err != nil {
		return nil, err
	}
	if !info.Capabilities.Has(kind) {
		return nil, capabilityError(info.Name, kind)
	}
	what := kind.String()
	pl, err := layerToProto(info, what, l)
	if err != nil {
		return nil, err
	}
	params, err := c.Params(ctx, l)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &pb.FragmentRequest{Layer: pl}
	var stream grpc.ServerStreamingClient[pb.FragmentResponse]
	switch kind {
	case FragmentForward:
		stream, err = c.rpc.Forward(ctx, req, callOptions...)
	case FragmentMixingMatrix:
		stream, err = c.rpc.MixingMatrix(ctx, req, callOptions...)
	case FragmentStep:
		stream, err = c.rpc.Step(ctx, req, callOptions...)
	case FragmentInitFromTeacher:
		stream, err = c.rpc.InitFromTeacher(ctx, req, callOptions...)
	}
	if err != nil {
		return nil, transportError(info.Name, what, err)
	}
	data, err := recvFragment(stream, info.Name, what)
	if err != nil {
		return nil, err
	}
	g, err := graph.Decode(data, graph.DefaultLimits)
	if err != nil {
		return nil, fmt.Errorf("mixer %q: %s fragment: %w", info.Name, kind, err)
	}
	if err := CheckFragment(kind, l, params, g); err != nil {
		return nil, fmt.Errorf("mixer %q: %w", info.Name, err)
	}
	if kind == FragmentForward && info.Capabilities.MixingMatrix && !hasOutput(g, OutputMixed) {
		return nil, fmt.Errorf("mixer %q: Forward fragment: does not output %q, which a mixer with the MixingMatrix capability outputs beside %q",
			info.Name, OutputMixed, OutputY)
	}
	return g, nil
}

// recvFragment receives the header (or the error) and the chunks of a
// fragment's encoding.
func recvFragment(stream grpc.ServerStreamingClient[pb.FragmentResponse], name, what string) ([]byte, error) {
	msg, err := stream.Recv()
	if err == io.EOF {
		return nil, pluginError(name, what, errors.New("the stream ended before the fragment header"))
	}
	if err != nil {
		return nil, transportError(name, what, err)
	}
	var size uint64
	switch p := msg.GetPart().(type) {
	case *pb.FragmentResponse_Error:
		if p.Error == "" {
			return nil, pluginError(name, what, errors.New("an empty error"))
		}
		return nil, remoteError(p.Error)
	case *pb.FragmentResponse_Header:
		size = p.Header.GetSize()
	default:
		return nil, pluginError(name, what, errors.New("the first message is neither a header nor an error"))
	}
	bound := graph.MaxEncodedSize(graph.DefaultLimits)
	if size > uint64(bound) {
		return nil, fmt.Errorf("mixer %q: %s fragment: an encoding of %d bytes exceeds %d bytes, the most a graph within the limits (%d nodes, %d constant values) may take",
			name, what, size, bound, graph.DefaultLimits.MaxNodes, graph.DefaultLimits.MaxConstValues)
	}
	data := make([]byte, 0, min(size, fragmentBufferSize))
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, transportError(name, what, err)
		}
		chunk, ok := msg.GetPart().(*pb.FragmentResponse_Data)
		if !ok {
			return nil, pluginError(name, what, fmt.Errorf("a message after the header is not data"))
		}
		if uint64(len(data))+uint64(len(chunk.Data)) > size {
			return nil, pluginError(name, what, fmt.Errorf("more than the %d bytes the header declares", size))
		}
		data = append(data, chunk.Data...)
	}
	if uint64(len(data)) != size {
		return nil, pluginError(name, what, fmt.Errorf("%d bytes of the %d the header declares", len(data), size))
	}
	return data, nil
}

func hasOutput(g *graph.Graph, name string) bool {
	for _, o := range g.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}
