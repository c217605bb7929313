// Tests of both sides of the wire when the other side breaks the protocol:
// raw requests to the real plugin, and a fake plugin that sends bad
// fragment streams to a Client.

package mixer_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	pb "github.com/mohawk-distill/mohawk/sdk/mixer/internal/mixerv1"
)

// TestServerRefusesBadRequests sends requests that no Client sends to the
// real plugin: the faults come back as the error of the response.
func TestServerRefusesBadRequests(t *testing.T) {
	pc, _ := launch(t, "")
	rpc, err := pc.Client()
	if err != nil {
		t.Fatal(err)
	}
	c := pb.NewMixerClient(rpc.(*plugin.GRPCClient).Conn)
	ctx := context.Background()
	goodConfig, err := ctyjson.Marshal(layer(1).Config, layer(1).Config.Type())
	if err != nil {
		t.Fatal(err)
	}
	dims := &pb.Dims{Batch: 1, SeqLen: 2, DModel: 3, Dtype: "f32"}
	for _, tc := range []struct {
		name  string
		layer *pb.Layer
		want  string
	}{
		{"no layer", nil, "no layer"},
		{"config not JSON", &pb.Layer{Config: []byte("{"), Dims: dims}, "does not conform to the mixer's schema"},
		{"config of another type", &pb.Layer{Config: []byte(`{"scale":"x","name":null}`), Dims: dims}, "does not conform to the mixer's schema"},
		{"unknown dtype", &pb.Layer{Config: goodConfig, Dims: &pb.Dims{Batch: 1, SeqLen: 2, DModel: 3, Dtype: "f128"}}, "f128"},
		{"negative dims", &pb.Layer{Config: goodConfig, Dims: &pb.Dims{Batch: -1, SeqLen: 2, DModel: 3, Dtype: "f32"}}, "batch -1"},
	} {
		resp, err := c.Params(ctx, &pb.ParamsRequest{Layer: tc.layer})
		if err != nil {
			t.Errorf("%s: a transport error %v, expected an error in the response", tc.name, err)
			continue
		}
		if !strings.Contains(resp.GetError(), tc.want) {
			t.Errorf("%s: response error %q, expected one holding %q", tc.name, resp.GetError(), tc.want)
		}
	}

	// The plugin refuses a fragment it does not declare, like the Client.
	stream, err := c.InitFromTeacher(ctx, &pb.FragmentRequest{Layer: &pb.Layer{Config: goodConfig, Dims: dims}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if e := msg.GetError(); !strings.Contains(e, `mixer "mean" does not declare the InitFromTeacher capability`) {
		t.Errorf("InitFromTeacher on the wire: %q", e)
	}
}

// fakeMixer is a plugin that breaks the fragment protocol in the way mode
// says.
type fakeMixer struct {
	pb.UnimplementedMixerServer
	mode string
}

func (f *fakeMixer) Info(context.Context, *pb.InfoRequest) (*pb.InfoResponse, error) {
	return &pb.InfoResponse{Name: "fake", Version: "1", ApiVersion: mixer.APIVersion, Capabilities: &pb.Capabilities{}, Schema: &pb.Schema{}}, nil
}

func (f *fakeMixer) Params(context.Context, *pb.ParamsRequest) (*pb.ParamsResponse, error) {
	if f.mode == "bad params" {
		return &pb.ParamsResponse{Params: []*pb.ParamSpec{{Name: "w", Shape: []int64{-2}, Init: &pb.Init{Kind: pb.InitKind_INIT_KIND_NORMAL}}}}, nil
	}
	return &pb.ParamsResponse{}, nil
}

func (f *fakeMixer) Forward(_ *pb.FragmentRequest, s pb.Mixer_ForwardServer) error {
	header := func(n uint64) *pb.FragmentResponse {
		return &pb.FragmentResponse{Part: &pb.FragmentResponse_Header{Header: &pb.FragmentHeader{Size: n}}}
	}
	data := func(n int) *pb.FragmentResponse {
		return &pb.FragmentResponse{Part: &pb.FragmentResponse_Data{Data: make([]byte, n)}}
	}
	var msgs []*pb.FragmentResponse
	switch f.mode {
	case "short":
		msgs = []*pb.FragmentResponse{header(10), data(5)}
	case "long":
		msgs = []*pb.FragmentResponse{header(5), data(10)}
	case "no header":
		msgs = []*pb.FragmentResponse{data(5)}
	case "huge":
		msgs = []*pb.FragmentResponse{header(1 << 40)}
	case "nothing":
	case "garbage":
		msgs = []*pb.FragmentResponse{header(5), data(5)}
	}
	for _, m := range msgs {
		if err := s.Send(m); err != nil {
			return err
		}
	}
	return nil
}

func fakeClient(t *testing.T, mode string) *mixer.Client {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	pb.RegisterMixerServer(srv, &fakeMixer{mode: mode})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///fake",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return mixer.NewClient(conn)
}

func TestClientRefusesBrokenStreams(t *testing.T) {
	l := mixer.Layer{Config: cty.EmptyObjectVal, Dims: mixer.Dims{Batch: 1, SeqLen: 2, DModel: 3, DType: graph.F32}}
	for mode, want := range map[string]string{
		"short":      "5 bytes of the 10 the header declares",
		"long":       "more than the 5 bytes the header declares",
		"no header":  "neither a header nor an error",
		"huge":       "exceeds",
		"nothing":    "ended before the fragment header",
		"garbage":    "malformed graph encoding",
		"bad params": `parameter 0 ("w") has shape [-2]`,
	} {
		_, err := fakeClient(t, mode).Forward(context.Background(), l)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `"fake"`) {
			t.Errorf("%s: %v, expected an error naming the mixer and holding %q", mode, err, want)
		}
		var re *mixer.RemoteError
		if errors.As(err, &re) {
			t.Errorf("%s: the Client's own finding is a RemoteError: %v", mode, err)
		}
	}
}
