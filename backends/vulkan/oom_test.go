//go:build cgo

package vulkan_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// TestOutOfDeviceMemory compiles a program whose live values need more
// memory than a 141 GB GPU has (40 buffers of 4 GiB, each alive until the
// end): Compile must fail with an error that says the device ran out of
// memory and suggests the cpu backend, and the backend must go on working.
// It runs only with MOHAWK_VULKAN_OOM=1, on a real GPU: on lavapipe the
// driver's memory is the host's.
func TestOutOfDeviceMemory(t *testing.T) {
	if os.Getenv("MOHAWK_VULKAN_OOM") != "1" {
		t.Skip("set MOHAWK_VULKAN_OOM=1 to exhaust the device's memory (a GPU with less than 160 GB)")
	}
	b := newBackend(t)
	ctx := context.Background()
	const n, count = 1<<30 - 1024, 40
	gb := graph.NewBuilder()
	x := gb.Input("x", graph.F32, 1)
	var wide []graph.Value
	for i := range count {
		wide = append(wide, gb.Broadcast(gb.AddScalar(x, float64(i)), n))
	}
	sum := gb.ReduceSum(wide[0], 0)
	for _, w := range wide[1:] {
		sum = gb.Add(sum, gb.ReduceSum(w, 0))
	}
	gb.Output("sum", sum)
	g, err := gb.Build()
	if err != nil {
		t.Fatal(err)
	}
	id, err := b.Compile(ctx, g)
	if err == nil {
		b.Release(ctx, id)
		t.Fatalf("a program of %d live 4 GiB values compiled on %s", count, b.DeviceName())
	}
	t.Logf("Compile: %v", err)
	for _, want := range []string{"out of", "memory", "cpu backend"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	small := graph.NewBuilder()
	y := small.Input("y", graph.F32, 4)
	small.Output("z", small.MulScalar(y, 2))
	sg, err := small.Build()
	if err != nil {
		t.Fatal(err)
	}
	sid, err := b.Compile(ctx, sg)
	if err != nil {
		t.Fatalf("after the failed Compile: %v", err)
	}
	out, err := b.Run(ctx, sid, map[string]*graph.Tensor{"y": graph.FromF32([]float32{1, 2, 3, 4}, 4)})
	if err != nil {
		t.Fatalf("after the failed Compile: %v", err)
	}
	if z := out["z"].F32; z[0] != 2 || z[3] != 8 {
		t.Errorf("after the failed Compile: 2·[1 2 3 4] = %v", z)
	}
}
