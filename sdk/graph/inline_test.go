package graph

import (
	"strings"
	"testing"
)

// A fragment spliced twice shares its params, binds its inputs and computes
// what it computed alone.
func TestInline(t *testing.T) {
	fb := NewBuilder()
	u := fb.Input("u", F64, 2, 3)
	w := fb.Param("w", F64, 3, 3)
	fb.Output("y", fb.MatMul(u, w))
	frag, err := fb.Build()
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder()
	x := b.Input("x", F64, 2, 3)
	o1, err := b.Inline(frag, "layer.", map[string]Value{"u": x})
	if err != nil {
		t.Fatal(err)
	}
	o2, err := b.Inline(frag, "layer.", map[string]Value{"u": o1["y"]})
	if err != nil {
		t.Fatal(err)
	}
	b.Output("z", o2["y"])
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(g.Leaves(OpParam)); n != 1 {
		t.Fatalf("%d params, want the one shared layer.w", n)
	}
	out, _, err := Evaluate(g, map[string]*Tensor{
		"x":       FromF64([]float64{1, 2, 3, 4, 5, 6}, 2, 3),
		"layer.w": FromF64([]float64{0, 1, 0, 0, 0, 1, 1, 0, 0}, 3, 3), // rotates columns
	})
	if err != nil {
		t.Fatal(err)
	}
	// Two column rotations: [a b c] → [c a b] → [b c a].
	want := []float64{2, 3, 1, 5, 6, 4}
	for i, v := range want {
		if out["z"].F64[i] != v {
			t.Fatalf("z = %v, want %v", out["z"].F64, want)
		}
	}
	// Errors leave the builder as it was.
	before := b.NumValues()
	if _, err := b.Inline(frag, "layer.", map[string]Value{}); err == nil || !strings.Contains(err.Error(), `input "u"`) {
		t.Fatalf("unbound input: %v", err)
	}
	if _, err := b.Inline(frag, "layer.", map[string]Value{"u": b.Input("bad", F32, 2, 3)}); err == nil || !strings.Contains(err.Error(), "f32[2,3]") {
		t.Fatalf("mistyped input: %v", err)
	}
	if b.NumValues() != before+1 || b.Err() != nil {
		t.Fatalf("a failed inline changed the builder")
	}
}
