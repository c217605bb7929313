package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Transfer checks: SetTensor then Tensor returns the same bits (±Inf, -0,
// subnormals, the extremes and quiet NaNs with their payloads and signs
// included) at sizes 0, 1, 1000 and 2²⁰+3; both calls copy; an overwrite
// keeps the type; an overwrite of another type fails and changes nothing;
// after DeleteTensor the name is free for any type.

func (s *suite) testTransfers(t *testing.T) {
	e := s.env(t)
	for _, dt := range []graph.DType{graph.F32, graph.F64, graph.I32} {
		if !s.infoDTypes[dt] {
			continue
		}
		for _, shape := range [][]int{{0}, {3, 0, 2}, {}, {1}, {8, 125}, {1<<20 + 3}} {
			t.Run(fmt.Sprintf("%v%v", dt, graph.Shape(shape)), func(t *testing.T) {
				r := newRand(s.opts.Seed, t.Name())
				name := fmt.Sprintf("transfer.%v.%d", dt, len(shape))
				checkRoundTrip(t, e, name, dt, shape, r)
			})
		}
	}
	t.Run("overwrite", func(t *testing.T) { checkOverwrite(t, e, s.mainFloat()) })
}

// bitsTensor holds special values first, then random bit patterns (NaNs
// among them made quiet, keeping their payloads).
func bitsTensor(dt graph.DType, shape []int, r *rand.Rand) *graph.Tensor {
	x := graph.NewTensor(dt, shape...)
	switch dt {
	case graph.F32:
		special := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 0,
			math.Float32frombits(0x7fc12345), math.Float32frombits(0xffc00001), math.SmallestNonzeroFloat32,
			-math.MaxFloat32, math.MaxFloat32, 1.1754944e-38}
		for i := range x.F32 {
			if i < len(special) {
				x.F32[i] = special[i]
				continue
			}
			b := r.Uint32()
			if b&0x7f800000 == 0x7f800000 && b&0x007fffff != 0 {
				b |= 0x00400000
			}
			x.F32[i] = math.Float32frombits(b)
		}
	case graph.F64:
		special := []float64{math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0,
			math.Float64frombits(0x7ff8000012345678), math.Float64frombits(0xfff8000000000001), math.SmallestNonzeroFloat64,
			-math.MaxFloat64, math.MaxFloat64, 2.2250738585072014e-308}
		for i := range x.F64 {
			if i < len(special) {
				x.F64[i] = special[i]
				continue
			}
			b := r.Uint64()
			if b&0x7ff0000000000000 == 0x7ff0000000000000 && b&0x000fffffffffffff != 0 {
				b |= 0x0008000000000000
			}
			x.F64[i] = math.Float64frombits(b)
		}
	case graph.I32:
		special := []int32{math.MinInt32, math.MaxInt32, -1, 0, 1}
		for i := range x.I32 {
			if i < len(special) {
				x.I32[i] = special[i]
				continue
			}
			x.I32[i] = int32(r.Uint32())
		}
	}
	return x
}

func checkRoundTrip(t *testing.T, e *env, name string, dt graph.DType, shape []int, r *rand.Rand) {
	src := bitsTensor(dt, shape, r)
	keep := src.Clone()
	if err := e.setTensor(t, name, src); err != nil {
		t.Fatalf("SetTensor(%q, %v): %v", name, src.Type, err)
	}
	defer func() {
		if err := e.deleteTensor(t, name); err != nil {
			t.Errorf("DeleteTensor(%q): %v", name, err)
		}
	}()
	// SetTensor copies: the caller may reuse its tensor at once.
	if src.Len() > 0 {
		src.Set(0, 42)
	}
	got := e.mustTensor(t, name)
	if err := sameBits(keep, got); err != nil {
		t.Fatalf("Tensor after SetTensor: %v", err)
	}
	// Tensor returns a copy.
	if got.Len() > 0 {
		got.Set(got.Len()-1, 7)
	}
	if err := sameBits(keep, e.mustTensor(t, name)); err != nil {
		t.Fatalf("Tensor after the caller wrote to a previous Tensor's result: %v", err)
	}
	// Overwrite with new values of the same type.
	next := bitsTensor(dt, shape, r)
	for i := 0; i < next.Len(); i++ { // other values in the special slots too
		if i < 16 {
			next.Set(i, float64(i)-3.5)
		}
	}
	if err := e.setTensor(t, name, next); err != nil {
		t.Fatalf("SetTensor overwriting %v with the same type: %v", dt, err)
	}
	if err := sameBits(next, e.mustTensor(t, name)); err != nil {
		t.Fatalf("Tensor after an overwrite: %v", err)
	}
}

func checkOverwrite(t *testing.T, e *env, dt graph.DType) {
	const name = "overwrite.w"
	orig := fill(dt, []int{2, 3}, func(i int) float64 { return float64(i) })
	e.mustSet(t, name, orig)
	other := graph.F64
	if dt == graph.F64 {
		other = graph.F32
	}
	for _, c := range []struct {
		what string
		x    *graph.Tensor
	}{
		{"another dtype", graph.NewTensor(other, 2, 3)},
		{"i32", graph.NewTensor(graph.I32, 2, 3)},
		{"another shape of as many elements", graph.NewTensor(dt, 3, 2)},
		{"another rank", graph.NewTensor(dt, 6)},
		{"another size", graph.NewTensor(dt, 2, 4)},
	} {
		err := e.setTensor(t, name, c.x)
		wantErr(t, fmt.Sprintf("SetTensor(%q, %v) over %v (%s)", name, c.x.Type, orig.Type, c.what), err, name)
		got := e.mustTensor(t, name)
		if err := sameBits(orig, got); err != nil {
			t.Errorf("after a refused overwrite with %s: %v", c.what, err)
		}
	}
	// After DeleteTensor the name may hold any type.
	if err := e.deleteTensor(t, name); err != nil {
		t.Fatalf("DeleteTensor: %v", err)
	}
	_, err := e.tensor(t, name)
	wantErr(t, "Tensor of a deleted name", err, name)
	i := graph.FromI32([]int32{5, -5}, 2)
	if err := e.setTensor(t, name, i); err != nil {
		t.Fatalf("SetTensor of a deleted name with another type: %v", err)
	}
	if err := sameBits(i, e.mustTensor(t, name)); err != nil {
		t.Errorf("Tensor of a name set again with another type: %v", err)
	}
	if err := e.deleteTensor(t, name); err != nil {
		t.Errorf("DeleteTensor: %v", err)
	}
}
