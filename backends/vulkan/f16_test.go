//go:build cgo

package vulkan_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/vulkan"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// newF16 skips where b's device runs no f16 (it lacks shaderFloat16 or
// storageBuffer16BitAccess) and reports whether f16 matmuls run on
// cooperative matrices there.
func newF16(t testing.TB, b *vulkan.Backend) (coop bool) {
	desc, f16, coop := vulkan.Features(b)
	if !f16 {
		t.Skipf("%s runs no f16 (%s)", b.DeviceName(), desc)
	}
	t.Logf("%s: %s", b.DeviceName(), desc)
	return coop
}

// f16Kernels are the f16 matmul kernels the device runs: matmul16.comp
// everywhere, the gemm_coopmat.comp variants with cooperative matrices.
func f16Kernels(coop bool) []string {
	if coop {
		return append(vulkan.CoopVariants(), "")
	}
	return []string{""}
}

// f16Exact is a random value in [-1, 1] that f16 holds exactly (11
// significant bits), so casting it is exact whatever the rounding.
func f16Exact(r *rand.Rand) float32 { return float32(r.IntN(2049)-1024) / 1024 }

// TestF16MatMul checks f16 matmuls (cast from f32, multiplied with f32
// accumulation, cast back) against a float64 product of the same
// (f16-exact) inputs, on every f16 kernel the device runs: ragged edges,
// rows that are and are not multiples of 8, both transpose flags, batches
// on either side or both. Tolerance per element: the f16 rounding of the
// result (2^-10 relative, room for round-to-zero) plus the f32
// accumulation (K·2^-23 of the sum of |products|).
func TestF16MatMul(t *testing.T) {
	b := newBackend(t)
	coop := newF16(t, b)
	cases := withTransposes(
		matmulCase{m: 136, n: 264, k: 72},  // rows multiples of 8, ragged tiles
		matmulCase{m: 130, n: 70, k: 37},   // nothing a multiple of 8
		matmulCase{m: 4, n: 4, k: 4},       // smaller than a fragment
		matmulCase{m: 256, n: 256, k: 256}, // whole tiles
		matmulCase{batchA: []int{3}, batchB: []int{3}, m: 40, n: 24, k: 48},
		matmulCase{batchA: []int{2}, m: 260, n: 8, k: 20},
		matmulCase{batchB: []int{2}, m: 12, n: 136, k: 264})
	r := rand.New(rand.NewPCG(5, 6))
	for _, kernel := range f16Kernels(coop) {
		name := kernel
		if name == "" {
			name = "matmul16"
		}
		t.Run(name, func(t *testing.T) {
			old := vulkan.SetCoopKernel(kernel)
			t.Cleanup(func() { vulkan.SetCoopKernel(old) })
			for _, c := range cases {
				t.Run(c.String(), func(t *testing.T) {
					as, bs := c.shapes()
					gb := graph.NewBuilder()
					a16 := gb.Cast(gb.Input("a", graph.F32, as...), graph.F16)
					b16 := gb.Cast(gb.Input("b", graph.F32, bs...), graph.F16)
					gb.Output("c", gb.Cast(gb.MatMulT(a16, b16, c.ta, c.tb), graph.F32))
					g, err := gb.Build()
					if err != nil {
						t.Fatal(err)
					}
					in := map[string]*graph.Tensor{"a": graph.NewTensor(graph.F32, as...), "b": graph.NewTensor(graph.F32, bs...)}
					for _, x := range in {
						for i := range x.F32 {
							x.F32[i] = f16Exact(r)
						}
					}
					ctx := context.Background()
					id, err := b.Compile(ctx, g)
					if err != nil {
						t.Fatal(err)
					}
					defer b.Release(ctx, id)
					got, err := b.Run(ctx, id, in)
					if err != nil {
						t.Fatal(err)
					}
					checkProduct(t, got["c"].F32, in["a"], in["b"], len(c.batchA) > 0, len(c.batchB) > 0, c.m, c.n, c.k, c.ta, c.tb)
				})
			}
		})
	}
}

// checkProduct compares o with the float64 product of a and b (batch 3, 2
// or none as the shapes say) within the tolerance of TestF16MatMul.
func checkProduct(t *testing.T, o []float32, a, b *graph.Tensor, batchedA, batchedB bool, m, n, k int, ta, tb bool) {
	t.Helper()
	batch := max(len(a.F32)/(m*k), len(b.F32)/(k*n))
	if len(o) != batch*m*n {
		t.Fatalf("%d elements, expected %d", len(o), batch*m*n)
	}
	bad := 0
	for z := 0; z < batch; z++ {
		ao, bo := 0, 0
		if batchedA {
			ao = z * m * k
		}
		if batchedB {
			bo = z * k * n
		}
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var sum, abs float64
				for l := 0; l < k; l++ {
					x := a.F32[ao+i*k+l]
					if ta {
						x = a.F32[ao+l*m+i]
					}
					y := b.F32[bo+l*n+j]
					if tb {
						y = b.F32[bo+j*k+l]
					}
					sum += float64(x) * float64(y)
					abs += math.Abs(float64(x) * float64(y))
				}
				got := float64(o[z*m*n+i*n+j])
				tol := math.Abs(sum)*0x1p-10 + float64(k)*abs*0x1p-23 + 0x1p-24
				if math.Abs(got-sum) > tol {
					if bad < 5 {
						t.Errorf("c[%d][%d][%d] = %v, expected %v (±%.3g)", z, i, j, got, sum, tol)
					}
					bad++
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d elements off", bad, len(o))
	}
}

// TestF16Cast: f32 → f16 → f32 gives a neighbouring f16 of each value
// (rounding to nearest or toward zero), infinities beyond f16's range,
// NaN for NaN, and exact values back for values f16 holds; odd lengths
// and lengths around the grid stride included.
func TestF16Cast(t *testing.T) {
	b := newBackend(t)
	newF16(t, b)
	r := rand.New(rand.NewPCG(7, 8))
	for _, size := range []int{1, 7, 1000, 1 << 17} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			gb := graph.NewBuilder()
			x := gb.Input("x", graph.F32, size)
			gb.Output("y", gb.Cast(gb.Reshape(gb.Cast(x, graph.F16), size), graph.F32))
			g, err := gb.Build()
			if err != nil {
				t.Fatal(err)
			}
			in := graph.NewTensor(graph.F32, size)
			special := []float32{0, float32(math.Copysign(0, -1)), 1, -2.5, 65504, 65520, 1e6, -1e6, float32(math.Inf(1)),
				float32(math.Inf(-1)), float32(math.NaN()), 0x1p-24, 0x1p-14, 3e-8, 1.0009765625}
			for i := range in.F32 {
				if i < len(special) {
					in.F32[i] = special[i]
				} else {
					in.F32[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-4)))
				}
			}
			ctx := context.Background()
			id, err := b.Compile(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Release(ctx, id)
			out, err := b.Run(ctx, id, map[string]*graph.Tensor{"x": in})
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range in.F32 {
				got := out["y"].F32[i]
				if !castOK(v, got) {
					t.Fatalf("element %d: %v cast to f16 and back is %v, expected %v or %v", i, v, got, f16Round(v, false), f16Round(v, true))
				}
			}
		})
	}
}

// castOK: got is v rounded to f16 to nearest (even) or toward zero, where
// both round to infinity beyond f16's range (a driver's round-toward-zero
// may give 65504 instead).
func castOK(v, got float32) bool {
	if math.IsNaN(float64(v)) {
		return math.IsNaN(float64(got))
	}
	same := func(x float32) bool { return math.Float32bits(x) == math.Float32bits(got) }
	return same(f16Round(v, false)) || same(f16Round(v, true)) || (math.Abs(float64(v)) > 65504 && math.Abs(float64(got)) == 65504)
}

// f16Round rounds v to the nearest f16 (ties to even), or toward zero.
func f16Round(v float32, towardZero bool) float32 {
	x := float64(v)
	if math.IsInf(x, 0) || math.IsNaN(x) || x == 0 {
		return v
	}
	ax := math.Abs(x)
	e := math.Floor(math.Log2(ax))
	if e < -14 {
		e = -14 // subnormals: a fixed step
	}
	step := math.Ldexp(1, int(e)-10)
	q := ax / step
	if towardZero {
		q = math.Floor(q)
	} else {
		q = math.RoundToEven(q)
	}
	r := q * step
	if r > 65504 {
		if towardZero {
			r = 65504
		} else {
			r = math.Inf(1)
		}
	}
	if !towardZero && ax >= 65520 {
		r = math.Inf(1)
	}
	return float32(math.Copysign(r, x))
}

// TestF16Refused: f16 where the backend has no kernel fails at Compile
// with the op, node and dtype named; no tensor of f16 can be set.
func TestF16Refused(t *testing.T) {
	b := newBackend(t)
	newF16(t, b)
	ctx := context.Background()
	build := func(f func(gb *graph.Builder)) *graph.Graph {
		gb := graph.NewBuilder()
		f(gb)
		g, err := gb.Build()
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	cases := map[string]struct {
		g    *graph.Graph
		want []string
	}{
		"add": {build(func(gb *graph.Builder) {
			x := gb.Cast(gb.Input("x", graph.F32, 4), graph.F16)
			gb.Output("y", gb.Cast(gb.Add(x, x), graph.F32))
		}), []string{"node 2", "add", "f16"}},
		"input": {build(func(gb *graph.Builder) {
			gb.Output("y", gb.Cast(gb.Input("x", graph.F16, 4), graph.F32))
		}), []string{"node 0", "input", "f16", `"x"`}},
		"output": {build(func(gb *graph.Builder) {
			gb.Output("y", gb.Cast(gb.Input("x", graph.F32, 4), graph.F16))
		}), []string{"node 1", "cast", "f16", `"y"`}},
		"cast-i32": {build(func(gb *graph.Builder) {
			gb.Output("y", gb.Cast(gb.Cast(gb.Input("x", graph.F32, 4), graph.F16), graph.I32))
		}), []string{"node 2", "cast", "f16", "i32"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			id, err := b.Compile(ctx, c.g)
			if err == nil {
				b.Release(ctx, id)
				t.Fatal("compiled")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
	if err := b.SetTensor(ctx, "h", graph.NewTensor(graph.F16, 2)); err == nil || !strings.Contains(err.Error(), "f16") {
		t.Errorf("SetTensor of f16: %v, expected an error naming f16", err)
	}
}

// benchMatMul16 times n×n×n f16 matmuls for BenchmarkMatMul
// (MOHAWK_VULKAN_GEMM_DTYPE=f16): resident f32 A and B cast to f16 on the
// device, multiplied, and the product cast back into a state, so a run
// reads nothing back. kernel-GFLOP/s counts the matmul dispatch only,
// GFLOP/s the whole Run (the three casts, the update copy, submit and
// wait included).
func benchMatMul16(bm *testing.B, sizes []int, kernels []string) {
	for _, n := range sizes {
		for _, k := range kernels {
			kernel := "gemm_coopmat_" + k
			switch k {
			case "auto": // the default
				kernel = vulkan.SetCoopKernel("")
				vulkan.SetCoopKernel(kernel)
			case "coop":
				kernel = "gemm_coopmat"
			case "plain":
				kernel = ""
			}
			if kernel != "" && !slices.Contains(vulkan.CoopVariants(), kernel) {
				bm.Fatalf("MOHAWK_VULKAN_GEMM_KERNELS: unknown f16 kernel %q (auto, coop, plain, or a variant's suffix: %v)", k, vulkan.CoopVariants())
			}
			bm.Run(fmt.Sprintf("f16/%d/%s", n, k), func(bm *testing.B) {
				old := vulkan.SetCoopKernel(kernel)
				defer vulkan.SetCoopKernel(old)
				b := newProfiled(bm)
				newF16(bm, b)
				timeMatMul(bm, b, matmulProgram(bm, b, n, true), n)
			})
		}
	}
}
