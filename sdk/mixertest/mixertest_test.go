package mixertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

// meanMixer is y_t = W·(mean of u_s for s ≤ t), with a flaw chosen by name
// so the kit can be shown to catch it.
type meanMixer struct{ flaw string }

func (m meanMixer) Info(context.Context) (*mixer.Info, error) {
	return &mixer.Info{Name: "mean", Version: "1", APIVersion: mixer.APIVersion,
		Capabilities: mixer.Capabilities{MixingMatrix: true, Step: true}}, nil
}

func (m meanMixer) Params(_ context.Context, l mixer.Layer) ([]mixer.ParamSpec, error) {
	c := l.Dims.DModel
	ps := []mixer.ParamSpec{{Name: "w", Shape: []int{c, c}, Init: mixer.Init{Kind: mixer.InitNormal, Std: 0.5}}}
	if m.flaw == "unused" {
		ps = append(ps, mixer.ParamSpec{Name: "spare", Shape: []int{c}, Init: mixer.Init{Kind: mixer.InitConstant, Value: 1}})
	}
	return ps, nil
}

// averaging is the [T,T] matrix of the running mean (all of the sequence for
// the "noncausal" flaw).
func (m meanMixer) averaging(b *graph.Builder, t int) graph.Value {
	a := make([]float64, t*t)
	for i := 0; i < t; i++ {
		n := i + 1
		if m.flaw == "noncausal" {
			n = t
		}
		for j := 0; j < n; j++ {
			a[i*t+j] = 1 / float64(n)
		}
	}
	return b.Const(graph.F64, []int{t, t}, a)
}

func (m meanMixer) Forward(_ context.Context, l mixer.Layer) (*graph.Graph, error) {
	d := l.Dims
	b := graph.NewBuilder()
	u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
	mixed := b.MatMul(m.averaging(b, d.SeqLen), u) // [B,T,C]
	b.Output(mixer.OutputMixed, b.Reshape(mixed, d.Batch, 1, d.SeqLen, d.DModel))
	b.Output(mixer.OutputY, b.MatMulT(mixed, b.Param("w", d.DType, d.DModel, d.DModel), false, true))
	return b.Build()
}

func (m meanMixer) MixingMatrix(_ context.Context, l mixer.Layer) (*graph.Graph, error) {
	d := l.Dims
	b := graph.NewBuilder()
	u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
	b.Output(mixer.OutputMatrix, b.Broadcast(m.averaging(b, d.SeqLen), d.Batch, 1, d.SeqLen, d.SeqLen))
	b.Output(mixer.OutputValues, b.Reshape(u, d.Batch, 1, d.SeqLen, d.DModel))
	return b.Build()
}

func (m meanMixer) Step(_ context.Context, l mixer.Layer) (*graph.Graph, error) {
	d := l.Dims
	b := graph.NewBuilder()
	u := b.Input(mixer.InputU, d.DType, d.Batch, 1, d.DModel)
	pos := b.Input(mixer.InputPosition, graph.I32)
	sum := b.Add(b.Input(mixer.StatePrefix+"sum", d.DType, d.Batch, 1, d.DModel), u)
	n := b.AddScalar(b.Cast(pos, d.DType), 1)
	if m.flaw == "badstep" {
		n = b.AddScalar(n, 1)
	}
	b.Output(mixer.StatePrefix+"sum", sum)
	y := b.MatMulT(b.Reshape(b.Div(sum, n), d.Batch, d.DModel), b.Param("w", d.DType, d.DModel, d.DModel), false, true)
	b.Output(mixer.OutputY, b.Reshape(y, d.Batch, 1, d.DModel))
	return b.Build()
}

func (m meanMixer) InitFromTeacher(context.Context, mixer.Layer) (*graph.Graph, error) {
	return nil, fmt.Errorf("not declared")
}

var meanCases = []Case{{Name: "small", Layer: mixer.Layer{Config: cty.EmptyObjectVal, Dims: mixer.Dims{Batch: 2, SeqLen: 6, DModel: 3, Heads: 1, KVHeads: 1}}}}

func TestSoundMixerPasses(t *testing.T) {
	Run(t, meanMixer{}, meanCases)
}

// TestFlawedMixer runs the kit on a flawed mixer when asked to by the
// environment; TestKitCatchesFlaws runs it in a child process and expects
// it to fail with the right message.
func TestFlawedMixer(t *testing.T) {
	flaw := os.Getenv("MIXERTEST_FLAW")
	if flaw == "" {
		t.Skip("run by TestKitCatchesFlaws")
	}
	Run(t, meanMixer{flaw: flaw}, meanCases)
}

func TestKitCatchesFlaws(t *testing.T) {
	for flaw, want := range map[string]string{
		"noncausal": "not causal",
		"badstep":   "Step over 6 tokens differs from Forward",
		"unused":    `param "spare" is declared but Forward does not use it`,
	} {
		t.Run(flaw, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFlawedMixer$", "-test.v")
			cmd.Env = append(os.Environ(), "MIXERTEST_FLAW="+flaw)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed a mixer with flaw %q:\n%s", flaw, out)
			}
			if !strings.Contains(string(out), want) {
				t.Fatalf("flaw %q: output lacks %q:\n%s", flaw, want, out)
			}
		})
	}
}
