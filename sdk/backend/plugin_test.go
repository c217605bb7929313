// The backend plugin end to end: the real mohawk-backend-cpu binary,
// launched through go-plugin exactly as a host launches it, compared with
// the in-process cpu.Service it serves.

package backend_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	pb "github.com/mohawk-distill/mohawk/sdk/backend/internal/backendv1"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

const pluginPackage = "github.com/mohawk-distill/mohawk/backends/cpu/cmd/mohawk-backend-cpu"

var (
	buildDir  string
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// goTool is the go command of the toolchain that runs the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// pluginBinary builds mohawk-backend-cpu once per test binary.
func pluginBinary(tb testing.TB) string {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "mohawk-backend-plugin-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "mohawk-backend-cpu")
		out, err := exec.Command(goTool(), "build", "-o", buildPath, pluginPackage).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build %s: %v\n%s", pluginPackage, err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildPath
}

// startPlugin launches the CPU backend plugin and dispenses its Backend.
// The plugin is killed when tb ends.
func startPlugin(tb testing.TB) (*backend.Client, *plugin.Client) {
	cfg := backend.ClientConfig(exec.Command(pluginBinary(tb)))
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: os.Stderr})
	cfg.StartTimeout = 30 * time.Second
	pc := plugin.NewClient(cfg)
	tb.Cleanup(pc.Kill)
	rpc, err := pc.Client()
	if err != nil {
		tb.Fatalf("starting the plugin: %v", err)
	}
	raw, err := rpc.Dispense(backend.PluginName)
	if err != nil {
		tb.Fatalf("dispensing %q: %v", backend.PluginName, err)
	}
	c, ok := raw.(*backend.Client)
	if !ok {
		tb.Fatalf("dispensed %T, expected *backend.Client", raw)
	}
	if v := pc.NegotiatedVersion(); v != backend.ProtocolVersion {
		tb.Fatalf("negotiated wire protocol %d, expected %d", v, backend.ProtocolVersion)
	}
	return c, pc
}

// inProcess is the CPU backend in this process, the reference for the plugin.
func inProcess(tb testing.TB) *cpu.Service {
	s := cpu.NewService(cpu.Options{})
	tb.Cleanup(s.Close)
	return s
}

// sameBits reports whether a and b have the same type and the same bits.
func sameBits(a, b *graph.Tensor) error {
	if a == nil || b == nil {
		return fmt.Errorf("nil tensor: %v, %v", a, b)
	}
	if !a.Type.Equal(b.Type) {
		return fmt.Errorf("type %v, expected %v", a.Type, b.Type)
	}
	if a.Len() != b.Len() {
		return fmt.Errorf("%d elements, expected %d", a.Len(), b.Len())
	}
	for i := range a.Len() {
		var x, y uint64
		switch a.DType {
		case graph.F32:
			x, y = uint64(math.Float32bits(a.F32[i])), uint64(math.Float32bits(b.F32[i]))
		case graph.F64:
			x, y = math.Float64bits(a.F64[i]), math.Float64bits(b.F64[i])
		case graph.I32:
			x, y = uint64(uint32(a.I32[i])), uint64(uint32(b.I32[i]))
		}
		if x != y {
			return fmt.Errorf("element %d: bits %#x (%v), expected %#x (%v)", i, x, a.At(i), y, b.At(i))
		}
	}
	return nil
}

// randomTensor fills a tensor of the given type with random bits (NaNs,
// infinities and negative zeros included for floats).
func randomTensor(rng *rand.Rand, dt graph.DType, shape ...int) *graph.Tensor {
	t := graph.NewTensor(dt, shape...)
	for i := range t.Len() {
		switch dt {
		case graph.F32:
			t.F32[i] = math.Float32frombits(rng.Uint32())
		case graph.F64:
			t.F64[i] = math.Float64frombits(rng.Uint64())
		case graph.I32:
			t.I32[i] = int32(rng.Uint32())
		}
	}
	return t
}

func TestPluginInfo(t *testing.T) {
	ctx := context.Background()
	c, _ := startPlugin(t)
	got, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := inProcess(t).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Info through the plugin:\n%+v\nin process:\n%+v", got, want)
	}
	if got.APIVersion != backend.APIVersion || got.Name != "cpu" {
		t.Errorf("Info: %+v", got)
	}
}

func TestPluginTensorRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, _ := startPlugin(t)
	rng := rand.New(rand.NewPCG(1, 2))
	const f32PerChunk, f64PerChunk = backend.ChunkSize / 4, backend.ChunkSize / 8
	cases := []struct {
		dt    graph.DType
		shape []int
	}{
		{graph.F32, nil},
		{graph.F32, []int{0}},
		{graph.F64, []int{3, 0, 2}},
		{graph.I32, []int{0}},
		{graph.F32, []int{1}},
		{graph.F32, []int{7, 13}},
		{graph.F64, []int{5, 3, 1}},
		{graph.I32, []int{11, 17}},
		{graph.F32, []int{f32PerChunk}},
		{graph.F32, []int{f32PerChunk + 1}},
		{graph.F32, []int{3, f32PerChunk/3 + 7}},
		{graph.F64, []int{2*f64PerChunk + 5}},
		{graph.I32, []int{5, 100003}},
	}
	for i, tc := range cases {
		name := fmt.Sprintf("t%d/%v%v", i, tc.dt, tc.shape)
		x := randomTensor(rng, tc.dt, tc.shape...)
		if err := c.SetTensor(ctx, name, x); err != nil {
			t.Fatalf("SetTensor %s: %v", name, err)
		}
		y, err := c.Tensor(ctx, name)
		if err != nil {
			t.Fatalf("Tensor %s: %v", name, err)
		}
		if err := sameBits(y, x); err != nil {
			t.Errorf("%s: round trip: %v", name, err)
		}
		// Overwrite in place, read back again.
		x2 := randomTensor(rng, tc.dt, tc.shape...)
		if err := c.SetTensor(ctx, name, x2); err != nil {
			t.Fatalf("SetTensor %s again: %v", name, err)
		}
		if y, err = c.Tensor(ctx, name); err != nil {
			t.Fatal(err)
		} else if err := sameBits(y, x2); err != nil {
			t.Errorf("%s: overwrite: %v", name, err)
		}
		if err := c.DeleteTensor(ctx, name); err != nil {
			t.Errorf("DeleteTensor %s: %v", name, err)
		}
	}
}

// trainingGraph is a small training step: a linear softmax classifier
// (matmul, bias, softmax, cross-entropy) whose params are updated by SGD in
// place, with a step counter as state. B×D inputs x, B labels, a scalar lr.
func trainingGraph(t testing.TB, dt graph.DType) *graph.Graph {
	const B, D, V = 6, 9, 5
	b := graph.NewBuilder()
	x := b.Input("x", dt, B, D)
	labels := b.Input("labels", graph.I32, B)
	lr := b.Input("lr", dt)
	w := b.Param("w", dt, D, V)
	bias := b.Param("bias", dt, V)
	steps := b.State("steps", dt)
	logits := b.Add(b.MatMul(x, w), bias)
	probs := b.Softmax(logits)
	loss := b.Reshape(b.Mean(b.CrossEntropy(logits, labels)))
	grads, err := graph.Grad(b, loss, []graph.Value{w, bias})
	if err != nil {
		t.Fatal(err)
	}
	b.Update(w, b.Sub(w, b.Mul(lr, grads[0])))
	b.Update(bias, b.Sub(bias, b.Mul(lr, grads[1])))
	b.Update(steps, b.AddScalar(steps, 1))
	b.Output("loss", loss)
	b.Output("probs", probs)
	b.Output("grad_w", grads[0])
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestPluginCompileRun(t *testing.T) {
	ctx := context.Background()
	for _, dt := range []graph.DType{graph.F32, graph.F64} {
		t.Run(dt.String(), func(t *testing.T) {
			c, _ := startPlugin(t)
			ref := inProcess(t)
			backends := []backend.Backend{c, ref}
			rng := rand.New(rand.NewPCG(7, 8))
			g := trainingGraph(t, dt)
			w := graph.NewTensor(dt, 9, 5)
			for i := range w.Len() {
				w.Set(i, rng.NormFloat64())
			}
			var ids [2]backend.ProgramID
			for k, be := range backends {
				for name, v := range map[string]*graph.Tensor{"w": w, "bias": graph.NewTensor(dt, 5), "steps": graph.NewTensor(dt)} {
					if err := be.SetTensor(ctx, name, v); err != nil {
						t.Fatal(err)
					}
				}
				id, err := be.Compile(ctx, g)
				if err != nil {
					t.Fatalf("Compile on %T: %v", be, err)
				}
				ids[k] = id
			}
			for step := range 4 {
				x := graph.NewTensor(dt, 6, 9)
				for i := range x.Len() {
					x.Set(i, rng.NormFloat64())
				}
				labels := graph.NewTensor(graph.I32, 6)
				for i := range labels.I32 {
					labels.I32[i] = int32(rng.IntN(5))
				}
				lr := graph.NewTensor(dt)
				lr.Set(0, 0.5)
				inputs := map[string]*graph.Tensor{"x": x, "labels": labels, "lr": lr}
				got, err := c.Run(ctx, ids[0], inputs)
				if err != nil {
					t.Fatalf("step %d through the plugin: %v", step, err)
				}
				want, err := ref.Run(ctx, ids[1], inputs)
				if err != nil {
					t.Fatalf("step %d in process: %v", step, err)
				}
				if len(got) != len(want) {
					t.Fatalf("step %d: outputs %d, expected %d", step, len(got), len(want))
				}
				for name := range want {
					if err := sameBits(got[name], want[name]); err != nil {
						t.Errorf("step %d: output %q: %v", step, name, err)
					}
				}
			}
			for _, name := range []string{"w", "bias", "steps"} {
				got, err := c.Tensor(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				want, err := ref.Tensor(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				if err := sameBits(got, want); err != nil {
					t.Errorf("resident %q after 4 steps: %v", name, err)
				}
			}
			if s, _ := c.Tensor(ctx, "steps"); s == nil || s.At(0) != 4 {
				t.Errorf("steps = %v, expected 4", s)
			}
			for k, be := range backends {
				if err := be.Release(ctx, ids[k]); err != nil {
					t.Errorf("Release on %T: %v", be, err)
				}
			}
		})
	}
}

// sameRemoteError checks that err from the plugin is a RemoteError whose
// message is want's.
func sameRemoteError(t *testing.T, what string, err, want error) {
	t.Helper()
	var re *backend.RemoteError
	switch {
	case want == nil:
		t.Errorf("%s: the in-process backend gave no error", what)
	case err == nil:
		t.Errorf("%s: no error through the plugin, expected %q", what, want)
	case !errors.As(err, &re):
		t.Errorf("%s: error %T %q, expected a *backend.RemoteError", what, err, err)
	case err.Error() != want.Error():
		t.Errorf("%s: error through the plugin\n%q\nin process\n%q", what, err, want)
	}
}

func TestPluginErrors(t *testing.T) {
	ctx := context.Background()
	c, _ := startPlugin(t)
	ref := inProcess(t)
	g := trainingGraph(t, graph.F32)
	var ids [2]backend.ProgramID
	for k, be := range []backend.Backend{c, ref} {
		for name, v := range map[string]*graph.Tensor{"w": graph.NewTensor(graph.F32, 9, 5), "bias": graph.NewTensor(graph.F32, 5), "steps": graph.NewTensor(graph.F32)} {
			if err := be.SetTensor(ctx, name, v); err != nil {
				t.Fatal(err)
			}
		}
		id, err := be.Compile(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = id
	}
	good := func() map[string]*graph.Tensor {
		return map[string]*graph.Tensor{"x": graph.NewTensor(graph.F32, 6, 9), "labels": graph.NewTensor(graph.I32, 6), "lr": graph.NewTensor(graph.F32)}
	}
	run := func(mod func(map[string]*graph.Tensor), id int) (error, error) {
		in := good()
		mod(in)
		_, err := c.Run(ctx, ids[0]+backend.ProgramID(id), in)
		_, want := ref.Run(ctx, ids[1]+backend.ProgramID(id), in)
		return err, want
	}

	err, want := run(func(in map[string]*graph.Tensor) { delete(in, "labels") }, 0)
	sameRemoteError(t, "missing input", err, want)
	err, want = run(func(in map[string]*graph.Tensor) { in["x"] = graph.NewTensor(graph.F64, 6, 9) }, 0)
	sameRemoteError(t, "input of the wrong dtype", err, want)
	err, want = run(func(in map[string]*graph.Tensor) { in["x"] = graph.NewTensor(graph.F32, 9, 6) }, 0)
	sameRemoteError(t, "input of the wrong shape", err, want)
	err, want = run(func(map[string]*graph.Tensor) {}, 100)
	sameRemoteError(t, "unknown program", err, want)
	sameRemoteError(t, "Release of an unknown program", c.Release(ctx, ids[0]+100), ref.Release(ctx, ids[1]+100))

	// A failed run applies no update.
	if s, err := c.Tensor(ctx, "steps"); err != nil || s.At(0) != 0 {
		t.Errorf("steps after failed runs: %v, %v", s, err)
	}

	_, err = c.Tensor(ctx, "nope")
	_, want = ref.Tensor(ctx, "nope")
	sameRemoteError(t, "unknown tensor", err, want)
	sameRemoteError(t, "DeleteTensor of an unknown tensor", c.DeleteTensor(ctx, "nope"), ref.DeleteTensor(ctx, "nope"))
	sameRemoteError(t, "SetTensor of another type", c.SetTensor(ctx, "w", graph.NewTensor(graph.F32, 5, 9)), ref.SetTensor(ctx, "w", graph.NewTensor(graph.F32, 5, 9)))
	sameRemoteError(t, "SetTensor with no name", c.SetTensor(ctx, "", graph.NewTensor(graph.F32, 1)), ref.SetTensor(ctx, "", graph.NewTensor(graph.F32, 1)))

	// A graph in a dtype the CPU backend does not run: valid, refused by the backend.
	{
		b := graph.NewBuilder()
		b.Output("y", b.Neg(b.Input("x", graph.F16, 2)))
		g16, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Compile(ctx, g16)
		_, want := ref.Compile(ctx, g16)
		sameRemoteError(t, "Compile of an f16 graph", err, want)
	}

	// An invalid graph: refused by the plugin's decoder with Validate's message.
	{
		bad := &graph.Graph{
			Nodes: []graph.Node{
				{Op: graph.OpInput, Name: "a", Type: graph.Type{DType: graph.F32, Shape: graph.Shape{2, 3}}},
				{Op: graph.OpInput, Name: "b", Type: graph.Type{DType: graph.F32, Shape: graph.Shape{3, 2}}},
				{Op: graph.OpAdd, Inputs: []graph.Value{0, 1}, Type: graph.Type{DType: graph.F32, Shape: graph.Shape{2, 3}}},
			},
			Outputs: []graph.Output{{Name: "y", Value: 2}},
		}
		data, err := bad.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		_, decodeErr := graph.Decode(data, graph.DefaultLimits)
		if decodeErr == nil {
			t.Fatal("the invalid graph decodes")
		}
		_, err = c.Compile(ctx, bad)
		sameRemoteError(t, "Compile of an invalid graph", err, errors.New("backend: Compile: "+decodeErr.Error()))
		if _, refErr := ref.Compile(ctx, bad); refErr == nil || !strings.Contains(err.Error(), strings.TrimPrefix(refErr.Error(), "cpu: ")) {
			t.Errorf("the plugin's message %q does not hold the backend's %q", err, refErr)
		}
	}

	// Local checks: a tensor whose data does not match its type never leaves the host.
	broken := &graph.Tensor{Type: graph.Type{DType: graph.F32, Shape: graph.Shape{4}}, F32: make([]float32, 3)}
	if err := c.SetTensor(ctx, "x", broken); err == nil || !strings.Contains(err.Error(), `SetTensor "x": tensor f32[4] holds 3 elements, expected 4`) {
		t.Errorf("SetTensor of a broken tensor: %v", err)
	}
	in := good()
	in["x"] = nil
	if _, err := c.Run(ctx, ids[0], in); err == nil || !strings.Contains(err.Error(), `input "x": nil tensor`) {
		t.Errorf("Run with a nil input: %v", err)
	}

	// The plugin still works after all of this.
	if _, err := c.Run(ctx, ids[0], good()); err != nil {
		t.Errorf("Run after the errors: %v", err)
	}
}

// rawStream opens the gRPC connection of a started plugin, to send what no
// Client sends.
func rawClient(t *testing.T) pb.BackendClient {
	_, pc := startPlugin(t)
	rpc, err := pc.Client()
	if err != nil {
		t.Fatal(err)
	}
	gc, ok := rpc.(*plugin.GRPCClient)
	if !ok {
		t.Fatalf("protocol client %T, expected *plugin.GRPCClient", rpc)
	}
	return pb.NewBackendClient(gc.Conn)
}

// The plugin's side of the wire refuses bad headers and chunks that do not
// fit, naming the tensor and what was wrong.
func TestPluginRefusesBadTransfers(t *testing.T) {
	ctx := context.Background()
	rc := rawClient(t)
	header := func(name, dt string, shape ...int64) *pb.SetTensorRequest {
		return &pb.SetTensorRequest{Part: &pb.SetTensorRequest_Header{Header: &pb.TensorHeader{Name: name, Dtype: dt, Shape: shape}}}
	}
	data := func(n int) *pb.SetTensorRequest {
		return &pb.SetTensorRequest{Part: &pb.SetTensorRequest_Data{Data: make([]byte, n)}}
	}
	cases := []struct {
		msgs []*pb.SetTensorRequest
		want string
	}{
		{[]*pb.SetTensorRequest{header("a", "f16", 2)}, `backend: SetTensor "a": dtype f16 cannot be transferred (only f32, f64 and i32 tensors hold data)`},
		{[]*pb.SetTensorRequest{header("b", "q4", 2)}, `backend: SetTensor "b": unknown dtype "q4" (expected f32, f64, i32, f16 or bf16)`},
		{[]*pb.SetTensorRequest{header("c", "f32", 1<<20, 1<<20)}, `backend: SetTensor "c": shape [1048576 1048576] has more than 17179869184 elements`},
		{[]*pb.SetTensorRequest{header("d", "f32", 2, -3)}, `backend: SetTensor "d": dimension 1 of shape [2 -3] is -3, expected 0..17179869184`},
		{[]*pb.SetTensorRequest{header("e", "f32", 2, 3), data(28)}, `backend: SetTensor "e" (f32[2,3]): a chunk of 28 bytes overruns the declared size: 0 of the 24 declared bytes were received before it`},
		{[]*pb.SetTensorRequest{header("f", "f32", 2, 3), data(16), data(16)}, `backend: SetTensor "f" (f32[2,3]): a chunk of 16 bytes overruns the declared size: 16 of the 24 declared bytes were received before it`},
		{[]*pb.SetTensorRequest{header("g", "f32", 2, 3), data(16)}, `backend: SetTensor "g" (f32[2,3]): the stream ended after 16 of the 24 declared bytes`},
		{[]*pb.SetTensorRequest{header("h", "f32", 2, 3), data(24), data(4)}, `backend: SetTensor "h" (f32[2,3]): found a data chunk of 4 bytes beyond the declared size`},
		{[]*pb.SetTensorRequest{header("i", "i32", 0), data(1)}, `backend: SetTensor "i" (i32[0]): found a data chunk of 1 bytes beyond the declared size`},
		{[]*pb.SetTensorRequest{header("j", "f32", 2), data(4), header("k", "f32", 1)}, `backend: SetTensor "j" (f32[2]): expected data (4 of the 8 declared bytes received), found another message`},
		{[]*pb.SetTensorRequest{data(4)}, `backend: SetTensor: the first message is not a tensor header`},
		{nil, `backend: SetTensor: the stream ended before the tensor header`},
	}
	for _, tc := range cases {
		stream, err := rc.SetTensor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tc.msgs {
			if err := stream.Send(m); err != nil && err != io.EOF {
				t.Fatal(err)
			}
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			t.Fatalf("%s: transport error %v", tc.want, err)
		}
		if resp.GetError() != tc.want {
			t.Errorf("error\n%q\nexpected\n%q", resp.GetError(), tc.want)
		}
	}

	// A refused header ends the stream at once: the sender is not made to
	// send the 64 GiB it declared.
	stream, err := rc.SetTensor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(header("big", "f16", 1<<35)); err != nil {
		t.Fatal(err)
	}
	chunk := data(backend.ChunkSize)
	sent := 0
	for ; sent < 1<<16; sent++ {
		if err := stream.Send(chunk); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if sent == 1<<16 {
		t.Error("the plugin read 64 GiB of chunks after refusing the header")
	}
	if resp, err := stream.CloseAndRecv(); err != nil || !strings.Contains(resp.GetError(), `SetTensor "big": dtype f16`) {
		t.Errorf("refused early: %v, %v", resp, err)
	}

	// Compile: a size beyond the bound, then a truncated encoding.
	cs, err := rc.Compile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cs.Send(&pb.CompileRequest{Part: &pb.CompileRequest_Header{Header: &pb.CompileHeader{Size: 1 << 40}}})
	if resp, err := cs.CloseAndRecv(); err != nil || !strings.Contains(resp.GetError(), "backend: Compile: a graph encoding of 1099511627776 bytes exceeds") {
		t.Errorf("Compile of 1 TiB: %v, %v", resp, err)
	}
	cs, err = rc.Compile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cs.Send(&pb.CompileRequest{Part: &pb.CompileRequest_Header{Header: &pb.CompileHeader{Size: 100}}})
	cs.Send(&pb.CompileRequest{Part: &pb.CompileRequest_Data{Data: make([]byte, 60)}})
	if resp, err := cs.CloseAndRecv(); err != nil || resp.GetError() != "backend: Compile: graph encoding of 100 bytes: the stream ended after 60 of the 100 declared bytes" {
		t.Errorf("truncated Compile: %v, %v", resp, err)
	}

	// Run: an input sent twice, and more inputs than declared.
	runErr := func(msgs ...*pb.RunRequest) string {
		rs, err := rc.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if err := rs.Send(m); err != nil && err != io.EOF {
				t.Fatal(err)
			}
		}
		rs.CloseSend()
		resp, err := rs.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetResult().GetError()
	}
	hdr := &pb.RunRequest{Part: &pb.RunRequest_Header{Header: &pb.RunHeader{ProgramId: 1, Inputs: 2}}}
	in := &pb.RunRequest{Part: &pb.RunRequest_Input{Input: &pb.TensorHeader{Name: "x", Dtype: "f32", Shape: []int64{1}}}}
	four := &pb.RunRequest{Part: &pb.RunRequest_Data{Data: make([]byte, 4)}}
	if got, want := runErr(hdr, in, four, in, four), `backend: Run program 1: input "x" is sent twice`; got != want {
		t.Errorf("duplicate input: %q, expected %q", got, want)
	}
	hdr1 := &pb.RunRequest{Part: &pb.RunRequest_Header{Header: &pb.RunHeader{ProgramId: 1, Inputs: 1}}}
	if got, want := runErr(hdr1, in, four, in), "backend: Run program 1: after the 1 declared inputs: found a message after the last expected one"; got != want {
		t.Errorf("extra input: %q, expected %q", got, want)
	}
	if got, want := runErr(hdr1, in, four, four), "backend: Run program 1: after the 1 declared inputs: found a data chunk of 4 bytes beyond the declared size"; got != want {
		t.Errorf("extra data: %q, expected %q", got, want)
	}
}

// A plugin that dies turns every later call into a transport error that
// says what was being done.
func TestPluginDeath(t *testing.T) {
	ctx := context.Background()
	c, pc := startPlugin(t)
	if err := c.SetTensor(ctx, "x", graph.NewTensor(graph.F32, 3)); err != nil {
		t.Fatal(err)
	}
	pid := pc.ReattachConfig().Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !pc.Exited() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_, err := c.Tensor(ctx, "x")
	var re *backend.RemoteError
	if err == nil || errors.As(err, &re) || !strings.HasPrefix(err.Error(), `backend plugin: Tensor "x": `) {
		t.Errorf("Tensor after the plugin died: %v", err)
	}
}

// processGone reports whether pid has exited (a zombie counts as gone).
func processGone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	return err != nil || strings.Contains(string(status), "State:\tZ")
}

// A plugin whose host dies exits by itself: when the host dies while the
// plugin serves (it sees its parent change), and when the host dies before
// the plugin's runtime has started (its parent may be init from the start;
// it knows the host from the environment, as ClientConfig sets it).
func TestPluginExitsWithItsHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses /proc and sh")
	}
	for name, script := range map[string]string{
		// The "host" is a shell that starts the plugin, waits until it
		// runs and exits without ending it.
		"while serving": `"$0" >/dev/null 2>&1 </dev/null & echo $!; sleep 1`,
		// The host exits at once, naming itself as ClientConfig does.
		"while starting": parentwatchVar + `=$$ "$0" >/dev/null 2>&1 </dev/null & echo $!`,
	} {
		t.Run(name, func(t *testing.T) {
			sh := exec.Command("sh", "-c", script, pluginBinary(t))
			sh.Env = append(os.Environ(), backend.Handshake.MagicCookieKey+"="+backend.Handshake.MagicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1")
			out, err := sh.Output()
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
			if err != nil {
				t.Fatalf("pid %q: %v", out, err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !processGone(pid) {
				if time.Now().After(deadline) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("the plugin (process %d) still runs 5 s after its host exited", pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// parentwatchVar is the variable through which a host names itself to the
// plugins it starts (sdk/internal/parentwatch.HostPIDVar).
const parentwatchVar = "MOHAWK_PLUGIN_HOST_PID"

// ClientConfig names the host in the plugin's environment.
func TestClientConfigNamesTheHost(t *testing.T) {
	cmd := exec.Command("true")
	backend.ClientConfig(cmd)
	want := parentwatchVar + "=" + strconv.Itoa(os.Getpid())
	if !slices.Contains(cmd.Env, want) {
		t.Errorf("cmd.Env = %q, expected it to hold %q", cmd.Env, want)
	}
}

func TestPluginBinaryByHand(t *testing.T) {
	out, err := exec.Command(pluginBinary(t), "-version").Output()
	if err != nil || !strings.HasPrefix(string(out), "mohawk-backend-cpu "+cpu.Version+" (backend API 1, wire protocol 1, ") {
		t.Errorf("-version: %q, %v", out, err)
	}
	// Without the cookie it refuses to serve, and prints nothing on stdout.
	cmd := exec.Command(pluginBinary(t))
	cmd.Env = []string{}
	out, err = cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || len(out) != 0 || !strings.Contains(string(ee.Stderr), "This binary is a plugin") {
		t.Errorf("run by hand: stdout %q, %v", out, err)
	}
}
