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

// TestUpdateInPlace: an update computed elementwise from its target is
// written straight into it (no copy dispatch), gated so that a run whose
// gather fails leaves the target as it was.
func TestUpdateInPlace(t *testing.T) {
	b := newProfiled(t)
	ctx := context.Background()
	gb := graph.NewBuilder()
	w := gb.Param("w", graph.F32, 4, 3)
	rows := gb.Gather(w, gb.Input("ids", graph.I32, 2))
	gb.Output("loss", gb.ReduceSum(rows, 0, 1))
	gb.Update(w, gb.Sub(w, gb.MulScalar(gb.Input("g", graph.F32, 4, 3), 0.5)))
	g, err := gb.Build()
	if err != nil {
		t.Fatal(err)
	}
	w0 := graph.FromF32([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 4, 3)
	if err := b.SetTensor(ctx, "w", w0); err != nil {
		t.Fatal(err)
	}
	id, err := b.Compile(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	grad := graph.NewTensor(graph.F32, 4, 3)
	for i := range grad.F32 {
		grad.F32[i] = 2
	}
	if _, err := b.Run(ctx, id, map[string]*graph.Tensor{"ids": graph.FromI32([]int32{0, 9}, 2), "g": grad}); err == nil {
		t.Fatal("a gather id out of range did not fail the run")
	}
	got, err := b.Tensor(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got.F32 {
		if v != w0.F32[i] {
			t.Fatalf("after a failed run w[%d] = %v, expected %v (unchanged)", i, v, w0.F32[i])
		}
	}
	out, err := b.Run(ctx, id, map[string]*graph.Tensor{"ids": graph.FromI32([]int32{0, 3}, 2), "g": grad})
	if err != nil {
		t.Fatal(err)
	}
	if l := out["loss"].F32[0]; l != 1+2+3+10+11+12 {
		t.Errorf("loss %v, expected the sum of rows 0 and 3 before the update (39)", l)
	}
	if got, err = b.Tensor(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	for i, v := range got.F32 {
		if v != w0.F32[i]-1 {
			t.Fatalf("after a run w[%d] = %v, expected %v", i, v, w0.F32[i]-1)
		}
	}
	steps, err := b.Profile(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.Kernel == "eltwise/update" {
			t.Errorf("the update was copied, not written in place: %+v", steps)
		}
	}
}

// BenchmarkFused times one fused chain over a large broadcast tensor: the
// causal mask and scale of attention scores (h·t·t elements, a t×t mask),
// reporting the GPU time of the dispatch and the bytes it moves per second.
func BenchmarkFused(bm *testing.B) {
	b := newProfiled(bm)
	const h, t = 8, 1024
	gb := graph.NewBuilder()
	s := gb.Input("s", graph.F32, h, t, t)
	keep := gb.Input("keep", graph.F32, t, t)
	y := gb.Where(gb.Less(gb.Scalar(graph.F32, 0.5), keep), gb.MulScalar(s, 0.125), gb.Scalar(graph.F32, -1e9))
	gb.Output("y", gb.ReduceSum(y, 0, 1, 2))
	g, err := gb.Build()
	if err != nil {
		bm.Fatal(err)
	}
	ctx := context.Background()
	id, err := b.Compile(ctx, g)
	if err != nil {
		bm.Fatal(err)
	}
	in := map[string]*graph.Tensor{"s": graph.NewTensor(graph.F32, h, t, t), "keep": graph.NewTensor(graph.F32, t, t)}
	var nanos float64
	for i := 0; i < bm.N; i++ {
		if _, err := b.Run(ctx, id, in); err != nil {
			bm.Fatal(err)
		}
		steps, err := b.Profile(id)
		if err != nil {
			bm.Fatal(err)
		}
		for _, st := range steps {
			if st.Kernel != "reduce/reduce_sum" {
				nanos += st.Nanos
			}
		}
	}
	bm.ReportMetric(nanos/float64(bm.N)/1e3, "µs/chain")
	bm.ReportMetric(float64(8*h*t*t)*float64(bm.N)/nanos, "GB/s")
}
