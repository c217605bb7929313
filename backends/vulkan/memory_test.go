//go:build cgo

package vulkan_test

import (
	"context"
	"math"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/vulkan"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// TestBufferReuse: a chain of 40 elementwise ops whose intermediate values
// die at once needs a few buffers, not one per value, and still computes
// the right result.
func TestBufferReuse(t *testing.T) {
	b := newBackend(t)
	const n = 1000
	gb := graph.NewBuilder()
	x := gb.Input("x", graph.F32, n)
	y := x
	for i := 0; i < 40; i++ {
		y = gb.AddScalar(gb.Neg(y), 1) // y -> 1 - y
	}
	gb.Output("y", y)
	g, err := gb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := b.Compile(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	in := graph.NewTensor(graph.F32, n)
	for i := range in.F32 {
		in.F32[i] = float32(i)
	}
	out, err := b.Run(ctx, id, map[string]*graph.Tensor{"x": in})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out["y"].F32 { // an even number of 1 - y is y
		if v != float32(i) {
			t.Fatalf("y[%d] = %v, expected %d", i, v, i)
		}
	}
	// x, y and the scalar 1 (40 equal constants: one buffer) are pinned;
	// the 79 values in between share a few buffers.
	if got := vulkan.DeviceBuffers(b, id); got > 3+4 {
		t.Errorf("the program owns %d buffers; expected intermediates to share a few", got)
	}
	t.Logf("%d device buffers", vulkan.DeviceBuffers(b, id))
}

// TestLongReductions: sums and maxima over many elements into few outputs
// (computed in chunks, then over the chunks) agree with float64 sums, NaN
// included.
func TestLongReductions(t *testing.T) {
	b := newBackend(t)
	const rows, cols = 3, 70001
	gb := graph.NewBuilder()
	x := gb.Input("x", graph.F32, rows, cols)
	gb.Output("sum", gb.ReduceSum(x, 1))
	gb.Output("max", gb.ReduceMax(x, 1))
	gb.Output("all", gb.ReduceSum(x, 0, 1))
	g, err := gb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := b.Compile(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	in := graph.NewTensor(graph.F32, rows, cols)
	for i := range in.F32 {
		in.F32[i] = float32((i*7919)%1000) / 1000
	}
	in.F32[2*cols+12345] = float32(math.NaN())
	out, err := b.Run(ctx, id, map[string]*graph.Tensor{"x": in})
	if err != nil {
		t.Fatal(err)
	}
	var all float64
	for r := 0; r < rows; r++ {
		var sum, mx float64 = 0, math.Inf(-1)
		for _, v := range in.F32[r*cols : (r+1)*cols] {
			sum += float64(v)
			if float64(v) > mx || v != v {
				mx = float64(v)
			}
		}
		all += sum
		got := float64(out["sum"].F32[r])
		if r == 2 {
			if !math.IsNaN(got) || !math.IsNaN(float64(out["max"].F32[r])) {
				t.Errorf("row %d holds a NaN: sum %v, max %v, expected NaN", r, got, out["max"].F32[r])
			}
			continue
		}
		if math.Abs(got-sum) > 1e-5*sum {
			t.Errorf("row %d: sum %v, expected %v", r, got, sum)
		}
		if float64(out["max"].F32[r]) != mx {
			t.Errorf("row %d: max %v, expected %v", r, out["max"].F32[r], mx)
		}
	}
	if v := out["all"].F32[0]; v == v {
		t.Errorf("the sum of everything is %v, expected NaN", v)
	}
}
