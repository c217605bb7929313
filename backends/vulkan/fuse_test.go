//go:build cgo

package vulkan_test

import (
	"context"
	"math"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// TestFusion: a chain of elementwise ops over broadcast inputs (with a cast
// and a where in it) runs in few dispatches and matches the reference.
func TestFusion(t *testing.T) {
	b := newProfiled(t)
	gb := graph.NewBuilder()
	x := gb.Input("x", graph.F32, 4, 33)
	bias := gb.Input("bias", graph.F32, 33)
	ids := gb.Input("ids", graph.I32, 4, 1)
	y := gb.Add(x, bias)
	for i := 0; i < 10; i++ {
		y = gb.Tanh(gb.AddScalar(gb.MulScalar(y, 1.5), -0.25))
	}
	mask := gb.Less(gb.Cast(ids, graph.F32), gb.Scalar(graph.F32, 2))
	y = gb.Where(mask, y, gb.Neg(y))
	gb.Output("y", gb.Exp(y))
	g, err := gb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := b.Compile(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*graph.Tensor{
		"x": graph.NewTensor(graph.F32, 4, 33), "bias": graph.NewTensor(graph.F32, 33),
		"ids": graph.FromI32([]int32{0, 1, 2, 3}, 4, 1),
	}
	for i := range in["x"].F32 {
		in["x"].F32[i] = float32(math.Sin(float64(i)))
	}
	for i := range in["bias"].F32 {
		in["bias"].F32[i] = float32(i) / 33
	}
	out, err := b.Run(ctx, id, in)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := graph.Evaluate(g, in)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want["y"].F32 {
		if d := math.Abs(float64(out["y"].F32[i] - w)); d > 1e-5*(math.Abs(float64(w))+1) {
			t.Fatalf("y[%d] = %v, expected %v", i, out["y"].F32[i], w)
		}
	}
	steps, err := b.Profile(id)
	if err != nil {
		t.Fatal(err)
	}
	// 37 elementwise ops: at most 16 per fused dispatch.
	if len(steps) > 4 {
		t.Errorf("%d dispatches for one elementwise chain: %+v", len(steps), steps)
	}
	t.Logf("%d dispatches: %+v", len(steps), steps)
}
