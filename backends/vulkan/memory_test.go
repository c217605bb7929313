//go:build cgo

package vulkan_test

import (
	"context"
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
