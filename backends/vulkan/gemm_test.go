//go:build cgo

package vulkan_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/vulkan"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/backendtest"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// matmulCase is a product of the shape tests: A of batchA×m×k (batchA×k×m
// with ta), B of batchB×k×n (batchB×n×k with tb).
type matmulCase struct {
	batchA, batchB []int
	m, n, k        int
	ta, tb         bool
}

func (c matmulCase) String() string {
	return fmt.Sprintf("%v%v_%dx%dx%d_%v%v", c.batchA, c.batchB, c.m, c.n, c.k, c.ta, c.tb)
}

// shapes are the shapes of A and B as stored.
func (c matmulCase) shapes() (as, bs []int) {
	as = append(append([]int{}, c.batchA...), c.m, c.k)
	if c.ta {
		as = append(append([]int{}, c.batchA...), c.k, c.m)
	}
	bs = append(append([]int{}, c.batchB...), c.k, c.n)
	if c.tb {
		bs = append(append([]int{}, c.batchB...), c.n, c.k)
	}
	return as, bs
}

// withTransposes gives each case with the four pairs of transpose flags.
func withTransposes(cases ...matmulCase) []matmulCase {
	var out []matmulCase
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, c := range cases {
				c.ta, c.tb = ta, tb
				out = append(out, c)
			}
		}
	}
	return out
}

// TestGemmShapes checks gemm.comp (both tile heights) against the
// reference interpreter on products with ragged edges, both transpose
// flags, batches on either side and K not a multiple of its step.
func TestGemmShapes(t *testing.T) {
	for _, tm := range []int{8, 4} {
		big := 1
		if tm == 4 {
			big = math.MaxInt
		}
		t.Run(fmt.Sprintf("TM%d", tm), func(t *testing.T) {
			b := newBackend(t)
			oldFrom, oldBig := vulkan.SetGemm(1, big)
			t.Cleanup(func() { vulkan.SetGemm(oldFrom, oldBig) })
			cases := withTransposes(
				matmulCase{m: 132, n: 136, k: 36},
				matmulCase{m: 4, n: 4, k: 4},
				matmulCase{batchA: []int{3}, batchB: []int{3}, m: 68, n: 196, k: 12},
				matmulCase{batchA: []int{2}, m: 260, n: 8, k: 20},
				matmulCase{batchB: []int{2}, m: 12, n: 132, k: 264})
			r := rand.New(rand.NewPCG(3, 4))
			for _, c := range cases {
				t.Run(c.String(), func(t *testing.T) {
					as, bs := c.shapes()
					gb := graph.NewBuilder()
					gb.Output("c", gb.MatMulT(gb.Input("a", graph.F32, as...), gb.Input("b", graph.F32, bs...), c.ta, c.tb))
					g, err := gb.Build()
					if err != nil {
						t.Fatal(err)
					}
					in := map[string]*graph.Tensor{"a": graph.NewTensor(graph.F32, as...), "b": graph.NewTensor(graph.F32, bs...)}
					for _, x := range in {
						for i := range x.F32 {
							x.F32[i] = r.Float32() - 0.5
						}
					}
					want, _, err := graph.Evaluate(g, in)
					if err != nil {
						t.Fatal(err)
					}
					ctx := context.Background()
					id, err := b.Compile(ctx, g)
					if err != nil {
						t.Fatal(err)
					}
					got, err := b.Run(ctx, id, in)
					if err != nil {
						t.Fatal(err)
					}
					w, o := want["c"].F32, got["c"].F32
					if len(w) != len(o) {
						t.Fatalf("%d elements, expected %d", len(o), len(w))
					}
					for i := range w {
						if d := math.Abs(float64(w[i] - o[i])); d > 1e-5*float64(c.k) {
							t.Fatalf("element %d: %v, expected %v", i, o[i], w[i])
						}
					}
				})
			}
		})
	}
}

// TestGemmConformance runs the conformance suite with every matmul whose
// rows allow it on gemm.comp with 128x128 tiles.
func TestGemmConformance(t *testing.T) {
	newBackend(t)
	oldFrom, oldBig := vulkan.SetGemm(1, 1)
	t.Cleanup(func() { vulkan.SetGemm(oldFrom, oldBig) })
	backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t) },
		backendtest.Options{Large: !testing.Short(), Skip: noF64})
}
