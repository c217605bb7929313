// Tests of the wire against a real plugin process: the test mixer of
// internal/testmixer, built once in TestMain, launched through ClientConfig
// and dispensed as a *Client.

package mixer_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/mixertest"
)

// testMixerBin is the test mixer plugin, built by TestMain.
var testMixerBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "mixer-plugin-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		testMixerBin = filepath.Join(dir, "mohawk-mixer-mean")
		build := exec.Command("go", "build", "-o", testMixerBin, "./internal/testmixer")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building the test mixer plugin: %v\n", err)
			return 1
		}
		return m.Run()
	}())
}

// launch starts the test mixer in mode (TESTMIXER_MODE) and dispenses it.
// The plugin is killed when the test ends.
func launch(t *testing.T, mode string) (*plugin.Client, *mixer.Client) {
	t.Helper()
	pc, err := start(t, mode)
	if err != nil {
		t.Fatal(err)
	}
	rpc, err := pc.Client()
	if err != nil {
		t.Fatalf("starting the plugin: %v", err)
	}
	raw, err := rpc.Dispense(mixer.PluginName)
	if err != nil {
		t.Fatalf("dispensing %q: %v", mixer.PluginName, err)
	}
	m, ok := raw.(*mixer.Client)
	if !ok {
		t.Fatalf("dispensed a %T, expected a *mixer.Client", raw)
	}
	return pc, m
}

func start(t *testing.T, mode string) (*plugin.Client, error) {
	cmd := exec.Command(testMixerBin)
	cmd.Env = []string{"TESTMIXER_MODE=" + mode}
	cfg := mixer.ClientConfig(cmd)
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "test-mixer", Level: hclog.Warn, Output: testWriter{t}})
	cfg.StartTimeout = 20 * time.Second
	pc := plugin.NewClient(cfg)
	t.Cleanup(pc.Kill)
	return pc, nil
}

// testWriter logs the plugin's stderr through t.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var testDims = mixer.Dims{Batch: 2, SeqLen: 5, DModel: 3, Heads: 1, KVHeads: 1, DType: graph.F64}

func layer(scale float64) mixer.Layer {
	return mixer.Layer{
		Config: cty.ObjectVal(map[string]cty.Value{"scale": cty.NumberFloatVal(scale), "name": cty.NullVal(cty.String)}),
		Dims:   testDims,
	}
}

func TestPluginInfo(t *testing.T) {
	_, m := launch(t, "")
	info, err := m.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "mean" || info.Version != "0.0.1" || info.APIVersion != mixer.APIVersion {
		t.Errorf("Info = %q %q API %d, expected \"mean\" \"0.0.1\" API %d", info.Name, info.Version, info.APIVersion, mixer.APIVersion)
	}
	want := mixer.Capabilities{MixingMatrix: true, Step: true}
	if info.Capabilities != want {
		t.Errorf("capabilities %+v, expected %+v", info.Capabilities, want)
	}
	attrs := info.Schema.Attributes
	if len(attrs) != 2 {
		t.Fatalf("schema has %d attributes, expected 2", len(attrs))
	}
	s, n := attrs[0], attrs[1]
	if s.Name != "scale" || !s.Type.Equals(cty.Number) || s.Required || !s.Default.RawEquals(cty.NumberIntVal(1)) || s.Description == "" {
		t.Errorf("scale attribute came back as %+v", s)
	}
	if n.Name != "name" || !n.Type.Equals(cty.String) || n.Required || n.HasDefault() {
		t.Errorf("name attribute came back as %+v", n)
	}
}

func TestPluginParams(t *testing.T) {
	_, m := launch(t, "")
	specs, err := m.Params(context.Background(), layer(1))
	if err != nil {
		t.Fatal(err)
	}
	want := []mixer.ParamSpec{{Name: "w", Shape: []int{3, 3}, Init: mixer.Init{Kind: mixer.InitNormal, Std: 0.1}}}
	if fmt.Sprint(specs) != fmt.Sprint(want) {
		t.Errorf("Params = %v, expected %v", specs, want)
	}
}

// evalFragment inlines frag (its param "w" prefixed "p.") with the given
// inputs bound to new inputs of the same names, and evaluates every output.
func evalFragment(t *testing.T, frag *graph.Graph, bind map[string]*graph.Tensor) map[string]*graph.Tensor {
	t.Helper()
	b := graph.NewBuilder()
	in := map[string]graph.Value{}
	for _, n := range frag.Nodes {
		if n.Op == graph.OpInput {
			in[n.Name] = b.Input(n.Name, n.Type.DType, n.Type.Shape...)
		}
	}
	out, err := b.Inline(frag, "p.", in)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range out {
		b.Output(name, v)
	}
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func randTensor(r *rand.Rand, shape ...int) *graph.Tensor {
	x := graph.NewTensor(graph.F64, shape...)
	for i := range x.F64 {
		x.F64[i] = r.NormFloat64()
	}
	return x
}

func maxDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// TestPluginFragments checks every fragment after its round trip: Forward
// against the definition of the mixer and against matrix·values from
// MixingMatrix, and Step over T tokens against Forward.
func TestPluginFragments(t *testing.T) {
	_, m := launch(t, "")
	ctx := context.Background()
	const scale = 1.5
	l := layer(scale)
	d := l.Dims
	B, T, C := d.Batch, d.SeqLen, d.DModel
	r := rand.New(rand.NewPCG(3, 4))
	u, w := randTensor(r, B, T, C), randTensor(r, C, C)

	fwd, err := m.Forward(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	out := evalFragment(t, fwd, map[string]*graph.Tensor{"u": u, "p.w": w})
	y := out[mixer.OutputY]

	// The definition: y_t = scale · W · mean_{s≤t} u_s.
	want := make([]float64, B*T*C)
	for b := range B {
		for tt := range T {
			for i := range C {
				acc := 0.0
				for s := 0; s <= tt; s++ {
					for j := range C {
						acc += w.F64[i*C+j] * u.F64[(b*T+s)*C+j]
					}
				}
				want[(b*T+tt)*C+i] = scale * acc / float64(tt+1)
			}
		}
	}
	if e := maxDiff(y.F64, want); e > 1e-12 {
		t.Errorf("Forward differs from scale·W·mean(u) by %g", e)
	}

	mm, err := m.MixingMatrix(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	mo := evalFragment(t, mm, map[string]*graph.Tensor{"u": u, "p.w": w})
	mat, vals := mo[mixer.OutputMatrix], mo[mixer.OutputValues]
	if !mat.Shape.Equal(graph.Shape{B, 1, T, T}) || !vals.Shape.Equal(graph.Shape{B, 1, T, C}) {
		t.Fatalf("matrix %v, values %v; expected [%d,1,%d,%d] and [%d,1,%d,%d]", mat.Shape, vals.Shape, B, T, T, B, T, C)
	}
	for tt := range T {
		for s := range T {
			want := 0.0
			if s <= tt {
				want = scale / float64(tt+1)
			}
			if got := mat.F64[tt*T+s]; math.Abs(got-want) > 1e-15 {
				t.Fatalf("matrix[%d,%d] = %v, expected %v", tt, s, got, want)
			}
		}
	}
	mixed := make([]float64, B*T*C)
	for b := range B {
		for tt := range T {
			for s := range T {
				for c := range C {
					mixed[(b*T+tt)*C+c] += mat.F64[(b*T+tt)*T+s] * vals.F64[(b*T+s)*C+c]
				}
			}
		}
	}
	if e := maxDiff(y.F64, mixed); e > 1e-12 {
		t.Errorf("Forward differs from MixingMatrix's matrix·values by %g", e)
	}

	st, err := m.Step(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	sum := graph.NewTensor(graph.F64, B, C)
	for tt := range T {
		ut := graph.NewTensor(graph.F64, B, 1, C)
		for b := range B {
			copy(ut.F64[b*C:(b+1)*C], u.F64[(b*T+tt)*C:])
		}
		so := evalFragment(t, st, map[string]*graph.Tensor{
			"u": ut, "position": graph.FromI32([]int32{int32(tt)}), "state/sum": sum, "p.w": w,
		})
		sum = so["state/sum"]
		for b := range B {
			got, want := so[mixer.OutputY].F64[b*C:(b+1)*C], y.F64[(b*T+tt)*C:(b*T+tt+1)*C]
			if e := maxDiff(got, want); e > 1e-12 {
				t.Fatalf("Step at t=%d (batch %d) differs from Forward by %g", tt, b, e)
			}
		}
	}
}

// TestPluginConformance runs the conformance kit on the mixer through the
// wire.
func TestPluginConformance(t *testing.T) {
	_, m := launch(t, "")
	mixertest.Run(t, m, []mixertest.Case{{Name: "small", Layer: layer(2)}})
}

func TestPluginConfigErrorTravelsIntact(t *testing.T) {
	_, m := launch(t, "")
	ctx := context.Background()
	const msg = "scale: must be positive, found -1"
	_, err := m.Params(ctx, layer(-1))
	var re *mixer.RemoteError
	if !errors.As(err, &re) || re.Message != msg || err.Error() != msg {
		t.Errorf("Params with scale -1: %v (%T), expected the RemoteError %q", err, err, msg)
	}
	for name, call := range map[string]func(context.Context, mixer.Layer) (*graph.Graph, error){
		"Forward": m.Forward, "MixingMatrix": m.MixingMatrix, "Step": m.Step,
	} {
		_, err := call(ctx, layer(-1))
		if !errors.As(err, &re) || re.Message != msg {
			t.Errorf("%s with scale -1: %v, expected the RemoteError %q", name, err, msg)
		}
	}
}

func TestPluginUndeclaredCapability(t *testing.T) {
	_, m := launch(t, "")
	_, err := m.InitFromTeacher(context.Background(), layer(1))
	if err == nil {
		t.Fatal("InitFromTeacher of a mixer without the capability succeeded")
	}
	var re *mixer.RemoteError
	if errors.As(err, &re) {
		t.Errorf("the error came from the plugin (%v); the Client should refuse without calling it", err)
	}
	for _, s := range []string{`"mean"`, "InitFromTeacher", "capability"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
}

func TestPluginBadLayerIsRefusedLocally(t *testing.T) {
	_, m := launch(t, "")
	ctx := context.Background()
	l := layer(1)
	l.Config = cty.ObjectVal(map[string]cty.Value{"scale": cty.StringVal("big")})
	if _, err := m.Forward(ctx, l); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Errorf("a configuration that does not conform to the schema: %v", err)
	}
	l = layer(1)
	l.Dims.SeqLen = 0
	if _, err := m.Forward(ctx, l); err == nil || !strings.Contains(err.Error(), "seq_len") {
		t.Errorf("dims with seq_len 0: %v", err)
	}
}

// TestPluginHostileFragments checks that fragments which break the contract
// are refused by CheckFragment, with an error that names the mixer, the
// fragment and the fault.
func TestPluginHostileFragments(t *testing.T) {
	for mode, fault := range map[string]string{
		"update":      "update",
		"extra-input": `input "mask"`,
		"no-mixed":    `does not output "mixed"`,
	} {
		t.Run(mode, func(t *testing.T) {
			_, m := launch(t, mode)
			g, err := m.Forward(context.Background(), layer(1))
			if err == nil {
				t.Fatalf("the fragment was accepted: %d nodes, %d updates", len(g.Nodes), len(g.Updates))
			}
			for _, s := range []string{`mixer "mean"`, "Forward fragment", fault} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
		})
	}
}

// TestPluginBigFragment receives a fragment that takes several chunks.
func TestPluginBigFragment(t *testing.T) {
	_, m := launch(t, "big")
	g, err := m.Forward(context.Background(), layer(1))
	if err != nil {
		t.Fatal(err)
	}
	data, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 3*mixer.ChunkSize {
		t.Fatalf("the fragment is %d bytes, expected more than 3 chunks", len(data))
	}
	found := false
	for _, n := range g.Nodes {
		if n.Op == graph.OpConst && len(n.Attrs.Values) > 1000 {
			found = true
			for i, v := range n.Attrs.Values {
				if v != float64(i%7)/7 {
					t.Fatalf("constant value %d is %v, expected %v", i, v, float64(i%7)/7)
				}
			}
		}
	}
	if !found {
		t.Error("the big constant did not come through")
	}
}

// TestPluginDeath checks that a call to a dead plugin fails with a
// transport error that names the mixer and the call.
func TestPluginDeath(t *testing.T) {
	pc, m := launch(t, "")
	ctx := context.Background()
	if _, err := m.Info(ctx); err != nil {
		t.Fatal(err)
	}
	pc.Kill()
	_, err := m.Forward(ctx, layer(1))
	if err == nil {
		t.Fatal("Forward on a dead plugin succeeded")
	}
	var re *mixer.RemoteError
	if errors.As(err, &re) {
		t.Errorf("a dead plugin gave a RemoteError: %v", err)
	}
	if s, ok := status.FromError(errors.Unwrap(err)); !ok || s.Code() == codes.OK {
		t.Errorf("error %v does not wrap a gRPC status", err)
	}
	if !strings.Contains(err.Error(), `"mean"`) {
		t.Errorf("error %q does not name the mixer", err)
	}
}

// TestPluginPrintBeforeServe: a line on stdout before Serve breaks the
// handshake, and the start fails with an error instead of hanging.
func TestPluginPrintBeforeServe(t *testing.T) {
	pc, _ := start(t, "print")
	if _, err := pc.Client(); err == nil {
		t.Fatal("a plugin that printed before Serve started")
	}
}

// TestPluginRunByHand: without the handshake cookie the plugin says what it
// is and exits.
func TestPluginRunByHand(t *testing.T) {
	out, err := exec.Command(testMixerBin).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "This binary is a plugin") {
		t.Errorf("running the plugin by hand: %v, %q", err, out)
	}
}

// TestPluginExitsWithItsHost starts the plugin from a shell (the host)
// that exits, and checks that the orphaned plugin ends by itself: when the
// host dies while the plugin serves (it sees its parent change), and when
// the host dies before the plugin's runtime has started (its parent is init
// from the start; it knows the host from the environment, as ClientConfig
// sets it).
func TestPluginExitsWithItsHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks the process through /proc")
	}
	for name, script := range map[string]string{
		"while serving":  `"$0" >/dev/null 2>&1 </dev/null & echo $!; sleep 1`,
		"while starting": `MOHAWK_PLUGIN_HOST_PID=$$ "$0" >/dev/null 2>&1 </dev/null & echo $!`,
	} {
		t.Run(name, func(t *testing.T) {
			sh := exec.Command("sh", "-c", script, testMixerBin)
			sh.Env = append(os.Environ(), mixer.Handshake.MagicCookieKey+"="+mixer.Handshake.MagicCookieValue,
				"PLUGIN_PROTOCOL_VERSIONS="+strconv.Itoa(mixer.ProtocolVersion))
			out, err := sh.Output()
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
			if err != nil {
				t.Fatalf("pid %q: %v", out, err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for running(pid) {
				if time.Now().After(deadline) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("the plugin (process %d) still runs 10 s after its host exited", pid)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// running reports whether the process pid exists and is not a zombie (a
// zombie has exited and waits for its new parent to reap it).
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
