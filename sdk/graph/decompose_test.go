package graph

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Each fused op equals its decomposition into core ops (the definition),
// both evaluated by the float64 reference: tolerance 1e-12 relative.
func TestFusedOpsMatchDecomposition(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := NewBuilder()
	x := b.Input("x", F64, 3, 5, 7)
	gamma := b.Input("gamma", F64, 7)
	beta := b.Input("beta", F64, 7)
	labels := b.Input("labels", I32, 3, 5)
	b.Output("softmax", b.Softmax(x))
	b.Output("log_softmax", b.LogSoftmax(x))
	b.Output("layer_norm", b.LayerNorm(x, gamma, beta, 1e-5))
	b.Output("rms_norm", b.RMSNorm(x, gamma, 1e-6))
	b.Output("cross_entropy", b.CrossEntropy(x, labels))
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	core, err := Decompose(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range core.Nodes {
		if n.Op.Fused() {
			t.Fatalf("decomposition still holds fused op %s", n.Op)
		}
	}
	bind := map[string]*Tensor{"x": NewTensor(F64, 3, 5, 7), "gamma": NewTensor(F64, 7), "beta": NewTensor(F64, 7), "labels": NewTensor(I32, 3, 5)}
	for _, name := range []string{"x", "gamma", "beta"} {
		for i := range bind[name].F64 {
			bind[name].F64[i] = 4*r.Float64() - 2
		}
	}
	for i := range bind["labels"].I32 {
		bind["labels"].I32[i] = int32(r.IntN(7))
	}
	want, _, err := Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := Evaluate(core, bind)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		for i := range w.F64 {
			if d := math.Abs(got[name].F64[i] - w.F64[i]); d > 1e-12*(1+math.Abs(w.F64[i])) {
				t.Fatalf("%s[%d]: fused %v, decomposed %v", name, i, w.F64[i], got[name].F64[i])
			}
		}
	}
}

// Shape errors name the op, its inputs with their types and the caller.
func TestShapeErrorsAreReadable(t *testing.T) {
	cases := []struct {
		build func(b *Builder)
		want  []string
	}{
		{func(b *Builder) { b.MatMul(b.Input("a", F32, 2, 3), b.Input("b", F32, 4, 5)) },
			[]string{"matmul(f32[2,3], f32[4,5])", "inner dimensions differ: 3 vs 4", "decompose_test.go:"}},
		{func(b *Builder) { b.Add(b.Input("a", F32, 2, 3), b.Input("b", F32, 4)) },
			[]string{"add(f32[2,3], f32[4])", "do not broadcast"}},
		{func(b *Builder) { b.Add(b.Input("a", F32, 2), b.Input("b", F64, 2)) },
			[]string{"add(f32[2], f64[2])", "dtypes differ"}},
		{func(b *Builder) { b.Reshape(b.Input("a", F32, 2, 3), 4, 2) },
			[]string{"reshape(f32[2,3])", "cannot reshape 6 elements to [4,2]"}},
		{func(b *Builder) { b.Gather(b.Input("t", F32, 5, 2), b.Input("i", F32, 3)) },
			[]string{"gather", "ids must be i32, found f32"}},
		{func(b *Builder) { b.Transpose(b.Input("a", F32, 2, 3), 0, 0) },
			[]string{"transpose", "not a permutation"}},
		{func(b *Builder) { b.Input("a", F32, 2); b.Input("a", F32, 3) },
			[]string{`name "a" is already used`}},
	}
	for _, c := range cases {
		b := NewBuilder()
		c.build(b)
		_, err := b.Build()
		if err == nil {
			t.Fatalf("expected an error containing %q", c.want)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
	}
}
