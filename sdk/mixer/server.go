// The plugin side of the wire: thin gRPC adapters that serve a Mixer. Every
// RPC does the same four steps: take the request's context, convert the
// request from protobuf (checking it), call the Mixer, convert the result to
// protobuf. Errors of the Mixer and faults in what the host sent travel as
// the error string of the response; only transport failures are returned
// as gRPC errors.

package mixer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	pb "github.com/mohawk-distill/mohawk/sdk/mixer/internal/mixerv1"
)

// server serves impl as the gRPC service mohawk.mixer.v1.Mixer.
type server struct {
	pb.UnimplementedMixerServer
	impl Mixer

	// info is impl's Info, kept after the first call that succeeds: the
	// schema decodes every request's configuration, and the capabilities
	// gate the optional fragments.
	mu   sync.Mutex
	info *Info
}

// errText is the message of err, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// getInfo returns impl's Info, asking for it once.
func (s *server) getInfo(ctx context.Context) (*Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.info != nil {
		return s.info, nil
	}
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, errors.New("mixer: Info returned no info")
	}
	if err := info.Schema.Validate(); err != nil {
		return nil, fmt.Errorf("mixer %q: Info declares an invalid configuration schema: %v", info.Name, err)
	}
	s.info = info
	return info, nil
}

// layer converts the layer of a request, decoding its configuration with
// the mixer's schema.
func (s *server) layer(ctx context.Context, pl *pb.Layer) (*Info, Layer, error) {
	info, err := s.getInfo(ctx)
	if err != nil {
		return nil, Layer{}, err
	}
	if pl == nil {
		return info, Layer{}, errors.New("mixer: the request holds no layer")
	}
	d, err := dimsFromProto(pl.GetDims())
	if err != nil {
		return info, Layer{}, fmt.Errorf("mixer %q: %v", info.Name, err)
	}
	cfg, err := configFromJSON(pl.GetConfig(), info.Schema)
	if err != nil {
		return info, Layer{}, fmt.Errorf("mixer %q: %v", info.Name, err)
	}
	return info, Layer{Config: cfg, Dims: d}, nil
}

func (s *server) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	info, err := s.getInfo(ctx)
	if err != nil {
		return &pb.InfoResponse{Error: err.Error()}, nil
	}
	resp, err := infoToProto(info)
	if err != nil {
		return &pb.InfoResponse{Error: fmt.Sprintf("mixer %q: Info: %v", info.Name, err)}, nil
	}
	return resp, nil
}

func (s *server) Params(ctx context.Context, req *pb.ParamsRequest) (*pb.ParamsResponse, error) {
	_, l, err := s.layer(ctx, req.GetLayer())
	if err != nil {
		return &pb.ParamsResponse{Error: err.Error()}, nil
	}
	specs, err := s.impl.Params(ctx, l)
	if err != nil {
		return &pb.ParamsResponse{Error: err.Error()}, nil
	}
	ps, err := paramsToProto(specs)
	if err != nil {
		return &pb.ParamsResponse{Error: err.Error()}, nil
	}
	return &pb.ParamsResponse{Params: ps}, nil
}

func (s *server) Forward(req *pb.FragmentRequest, stream pb.Mixer_ForwardServer) error {
	return s.fragment(FragmentForward, req, stream)
}

func (s *server) MixingMatrix(req *pb.FragmentRequest, stream pb.Mixer_MixingMatrixServer) error {
	return s.fragment(FragmentMixingMatrix, req, stream)
}

func (s *server) Step(req *pb.FragmentRequest, stream pb.Mixer_StepServer) error {
	return s.fragment(FragmentStep, req, stream)
}

func (s *server) InitFromTeacher(req *pb.FragmentRequest, stream pb.Mixer_InitFromTeacherServer) error {
	return s.fragment(FragmentInitFromTeacher, req, stream)
}

// fragmentStream is the server side of every fragment RPC.
type fragmentStream interface {
	Send(*pb.FragmentResponse) error
	Context() context.Context
}

// fragment builds the fragment of kind and streams its encoding: a header,
// then chunks of ChunkSize bytes; or a single error.
func (s *server) fragment(kind FragmentKind, req *pb.FragmentRequest, stream fragmentStream) error {
	data, err := s.buildFragment(stream.Context(), kind, req)
	if err != nil {
		return stream.Send(&pb.FragmentResponse{Part: &pb.FragmentResponse_Error{Error: err.Error()}})
	}
	if err := stream.Send(&pb.FragmentResponse{Part: &pb.FragmentResponse_Header{Header: &pb.FragmentHeader{Size: uint64(len(data))}}}); err != nil {
		return err
	}
	for off := 0; off < len(data); off += ChunkSize {
		chunk := data[off:min(off+ChunkSize, len(data))]
		if err := stream.Send(&pb.FragmentResponse{Part: &pb.FragmentResponse_Data{Data: chunk}}); err != nil {
			return err
		}
	}
	return nil
}

// buildFragment calls the mixer for the fragment of kind and encodes it.
func (s *server) buildFragment(ctx context.Context, kind FragmentKind, req *pb.FragmentRequest) ([]byte, error) {
	info, l, err := s.layer(ctx, req.GetLayer())
	if err != nil {
		return nil, err
	}
	if !info.Capabilities.Has(kind) {
		return nil, capabilityError(info.Name, kind)
	}
	var g *graph.Graph
	switch kind {
	case FragmentForward:
		g, err = s.impl.Forward(ctx, l)
	case FragmentMixingMatrix:
		g, err = s.impl.MixingMatrix(ctx, l)
	case FragmentStep:
		g, err = s.impl.Step(ctx, l)
	case FragmentInitFromTeacher:
		g, err = s.impl.InitFromTeacher(ctx, l)
	}
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("mixer %q: %s returned no fragment", info.Name, kind)
	}
	data, err := g.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("mixer %q: %s: %v", info.Name, kind, err)
	}
	return data, nil
}
