package mamba2

import (
	"io"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/mohawk-distill/mohawk/sdk/graph"

	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/mixertest"
	"github.com/zclconf/go-cty/cty"
)

// cfg is a full configuration object: the schema's defaults with set
// overriding some of them.
func cfg(set map[string]cty.Value) cty.Value {
	m := map[string]cty.Value{}
	for _, a := range Schema.Attributes {
		m[a.Name] = a.Default
	}
	for k, v := range set {
		m[k] = v
	}
	return cty.ObjectVal(m)
}

func num(v int) cty.Value { return cty.NumberIntVal(int64(v)) }

var continuous = cty.StringVal(VariantContinuous)

func TestConformance(t *testing.T) {
	mixertest.Run(t, Mixer{}, []mixertest.Case{
		{Name: "discrete_defaults", Layer: mixer.Layer{Config: cfg(nil),
			Dims: mixer.Dims{Batch: 2, SeqLen: 11, DModel: 8, Heads: 2, KVHeads: 2}}},
		{Name: "discrete_chunk_not_dividing_T", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"chunk": num(4)}),
			Dims: mixer.Dims{Batch: 1, SeqLen: 10, DModel: 8, Heads: 2}}},
		{Name: "discrete_T_shorter_than_chunk", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"chunk": num(16)}),
			Dims: mixer.Dims{Batch: 2, SeqLen: 5, DModel: 6, Heads: 3}}},
		{Name: "discrete_grouped_expand2", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{
			"chunk": num(3), "n_qk_heads": num(2), "heads": num(4), "expand": num(2), "state_size": num(3), "conv_kernel": num(3)}),
			Dims: mixer.Dims{Batch: 2, SeqLen: 8, DModel: 6, Heads: 2}}},
		{Name: "discrete_attention_init_gqa", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"init": cty.StringVal(InitAttention), "chunk": num(4)}),
			Dims: mixer.Dims{Batch: 1, SeqLen: 9, DModel: 8, Heads: 4, KVHeads: 2}}},
		{Name: "discrete_kernel1", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"conv_kernel": num(1), "chunk": num(2)}),
			Dims: mixer.Dims{Batch: 1, SeqLen: 5, DModel: 4, Heads: 2}}},
		{Name: "continuous_defaults_small_state", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"variant": continuous, "state_size": num(8), "chunk": num(4)}),
			Dims: mixer.Dims{Batch: 2, SeqLen: 10, DModel: 8, Heads: 2}}},
		{Name: "continuous_T_shorter_than_chunk", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"variant": continuous, "state_size": num(4)}),
			Dims: mixer.Dims{Batch: 1, SeqLen: 6, DModel: 4, Heads: 2}}},
		{Name: "continuous_grouped", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{
			"variant": continuous, "state_size": num(4), "heads": num(4), "n_qk_heads": num(2), "expand": num(1), "chunk": num(3)}),
			Dims: mixer.Dims{Batch: 2, SeqLen: 7, DModel: 8, Heads: 2}}},
	})
}

func TestInitFromTeacherAttention(t *testing.T) {
	// Teacher: 4 query heads, 2 key/value heads, head dim 2, d_model 8.
	l := mixer.Layer{Config: cfg(map[string]cty.Value{"init": cty.StringVal(InitAttention)}),
		Dims: mixer.Dims{Batch: 1, SeqLen: 3, DModel: 8, Heads: 4, KVHeads: 2, DType: graph.F64}}
	g, err := Mixer{}.InitFromTeacher(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := Mixer{}.Params(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	if err := mixer.CheckFragment(mixer.FragmentInitFromTeacher, l, specs, g); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 9))
	teacher := map[string]*graph.Tensor{
		mixer.TeacherPrefix + "q_proj.weight": randTensor(r, 8, 8),
		mixer.TeacherPrefix + "k_proj.weight": randTensor(r, 4, 8),
		mixer.TeacherPrefix + "v_proj.weight": randTensor(r, 4, 8),
		mixer.TeacherPrefix + "o_proj.weight": randTensor(r, 8, 8),
	}
	out := evaluate(t, g, nil, teacher)
	in := out["in_proj.weight"]
	if !in.Shape.Equal(graph.Shape{8 + 8 + 8 + 8 + 4, 8}) {
		t.Fatalf("in_proj.weight is %v", in.Shape)
	}
	row := func(tn *graph.Tensor, i int) []float64 { return tn.F64[i*8 : (i+1)*8] }
	same := func(a, b []float64) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	for h := range 4 {
		for q := range 2 {
			kvRow := (h/2)*2 + q // query head h reads key/value head h/2
			if !same(row(in, h*2+q), row(teacher[mixer.TeacherPrefix+"v_proj.weight"], kvRow)) {
				t.Errorf("x row of head %d, dim %d is not W_V row %d", h, q, kvRow)
			}
			if !same(row(in, 8+h*2+q), row(teacher[mixer.TeacherPrefix+"k_proj.weight"], kvRow)) {
				t.Errorf("B row of head %d, dim %d is not W_K row %d", h, q, kvRow)
			}
			if !same(row(in, 16+h*2+q), row(teacher[mixer.TeacherPrefix+"q_proj.weight"], h*2+q)) {
				t.Errorf("C row of head %d, dim %d is not W_Q row %d", h, q, h*2+q)
			}
		}
	}
	for i := 24 * 8; i < len(in.F64); i++ {
		if in.F64[i] != 0 {
			t.Fatalf("z and a rows are not zero")
		}
	}
	if !same(out["out_proj.weight"].F64, teacher[mixer.TeacherPrefix+"o_proj.weight"].F64) {
		t.Error("out_proj.weight is not W_O")
	}
	for _, v := range out["z_bias"].F64 {
		if math.Abs(v/(1+math.Exp(-v))-1) > 1e-12 {
			t.Fatalf("z_bias %v does not make the gate 1", v)
		}
	}
}

func TestInitFromTeacherMohawkChangesNothing(t *testing.T) {
	for _, variant := range []string{VariantDiscrete, VariantContinuous} {
		l := mixer.Layer{Config: cfg(map[string]cty.Value{"variant": cty.StringVal(variant), "state_size": num(4)}),
			Dims: mixer.Dims{Batch: 1, SeqLen: 3, DModel: 8, Heads: 2, DType: graph.F64}}
		g, err := Mixer{}.InitFromTeacher(t.Context(), l)
		if err != nil {
			t.Fatal(err)
		}
		out := evaluate(t, g, nil, nil)
		if len(out) != 1 || out["D"] == nil {
			t.Fatalf("%s: outputs %v, expected only D", variant, out)
		}
		for _, v := range out["D"].F64 {
			if v != 1 {
				t.Fatalf("%s: D is %v, its init is 1", variant, v)
			}
		}
	}
}

// The built plugin, launched as a real process and driven over gRPC, passes
// the conformance kit for both variants.
func TestConformanceAsPlugin(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "mohawk-mixer-mamba2")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/mohawk-mixer-mamba2").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "-version").Output(); err != nil || !strings.HasPrefix(string(out), "mohawk-mixer-mamba2 "+Version) {
		t.Errorf("-version printed %q (%v)", out, err)
	}
	pcfg := mixer.ClientConfig(exec.Command(bin))
	pcfg.Stderr = io.Discard
	pc := plugin.NewClient(pcfg)
	t.Cleanup(pc.Kill)
	rpc, err := pc.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(mixer.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := raw.(mixer.Mixer)
	if !ok {
		t.Fatalf("dispensed a %T, expected a mixer.Mixer", raw)
	}
	mixertest.Run(t, m, []mixertest.Case{
		{Name: "discrete", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"chunk": num(4)}),
			Dims: mixer.Dims{Batch: 2, SeqLen: 7, DModel: 8, Heads: 2, KVHeads: 2}}},
		{Name: "continuous", Layer: mixer.Layer{Config: cfg(map[string]cty.Value{"variant": continuous, "state_size": num(4), "chunk": num(3)}),
			Dims: mixer.Dims{Batch: 1, SeqLen: 7, DModel: 4, Heads: 2}}},
	})
	// A configuration error crosses the boundary with its message.
	_, err = m.Params(t.Context(), mixer.Layer{Config: cfg(map[string]cty.Value{"heads": num(3)}), Dims: mixer.Dims{Batch: 1, SeqLen: 4, DModel: 8, Heads: 2, DType: graph.F32}})
	if err == nil || !strings.Contains(err.Error(), "heads: 3 heads must divide d_model·expand = 8·1 = 8") {
		t.Errorf("Params over gRPC: got %v", err)
	}
}

// Every fragment is well formed in float32 too (the kit checks float64).
func TestFragmentsFloat32(t *testing.T) {
	kinds := map[mixer.FragmentKind]func(Mixer, mixer.Layer) (*graph.Graph, error){
		mixer.FragmentForward:         func(m Mixer, l mixer.Layer) (*graph.Graph, error) { return m.Forward(t.Context(), l) },
		mixer.FragmentMixingMatrix:    func(m Mixer, l mixer.Layer) (*graph.Graph, error) { return m.MixingMatrix(t.Context(), l) },
		mixer.FragmentStep:            func(m Mixer, l mixer.Layer) (*graph.Graph, error) { return m.Step(t.Context(), l) },
		mixer.FragmentInitFromTeacher: func(m Mixer, l mixer.Layer) (*graph.Graph, error) { return m.InitFromTeacher(t.Context(), l) },
	}
	for _, set := range []map[string]cty.Value{
		{"init": cty.StringVal(InitAttention)},
		{"variant": continuous, "n_qk_heads": num(2)},
	} {
		l := mixer.Layer{Config: cfg(set), Dims: mixer.Dims{Batch: 2, SeqLen: 130, DModel: 16, Heads: 4, KVHeads: 2, DType: graph.F32}}
		specs, err := Mixer{}.Params(t.Context(), l)
		if err != nil {
			t.Fatal(err)
		}
		for kind, build := range kinds {
			g, err := build(Mixer{}, l)
			if err != nil {
				t.Fatalf("%v: %v", set, err)
			}
			if err := mixer.CheckFragment(kind, l, specs, g); err != nil {
				t.Errorf("%v: %v", set, err)
			}
		}
	}
}
