//go:build cgo

package vulkan_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/vulkan"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

func newProfiled(t testing.TB) *vulkan.Backend {
	b, err := vulkan.New(vulkan.Options{Profile: true})
	if errors.Is(err, vulkan.ErrNoLoader) || errors.Is(err, vulkan.ErrNoDevice) {
		t.Skipf("no Vulkan here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// matmulProgram compiles C = A·B over resident A and B (n×n) whose result
// updates the state C, so that a run reads nothing back. With f16 the
// product is f32(f16(A)·f16(B)), of values f16 holds exactly.
func matmulProgram(t testing.TB, b *vulkan.Backend, n int, f16 bool) backend.ProgramID {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	for _, name := range []string{"a", "b", "c"} {
		x := graph.NewTensor(graph.F32, n, n)
		for i := range x.F32 {
			if f16 {
				x.F32[i] = f16Exact(r)
			} else {
				x.F32[i] = r.Float32() - 0.5
			}
		}
		if err := b.SetTensor(ctx, name, x); err != nil {
			t.Fatal(err)
		}
	}
	gb := graph.NewBuilder()
	c := gb.State("c", graph.F32, n, n)
	x, y := gb.Param("a", graph.F32, n, n), gb.Param("b", graph.F32, n, n)
	if f16 {
		gb.Update(c, gb.Cast(gb.MatMul(gb.Cast(x, graph.F16), gb.Cast(y, graph.F16)), graph.F32))
	} else {
		gb.Update(c, gb.MatMul(x, y))
	}
	g, err := gb.Build()
	if err != nil {
		t.Fatal(err)
	}
	id, err := b.Compile(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestProfile: a profiled program reports one time per dispatch, named by
// its kernel and node.
func TestProfile(t *testing.T) {
	b := newProfiled(t)
	id := matmulProgram(t, b, 70, false)
	if _, err := b.Run(context.Background(), id, nil); err != nil {
		t.Fatal(err)
	}
	steps, err := b.Profile(id)
	if err != nil {
		if strings.Contains(err.Error(), "no timestamps") {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	var kernels []string
	for _, s := range steps {
		kernels = append(kernels, s.Kernel)
		if s.Nanos < 0 {
			t.Errorf("%s: negative time %v", s.Kernel, s.Nanos)
		}
	}
	if got := strings.Join(kernels, ","); got != "matmul/matmul,eltwise/update" {
		t.Errorf("profiled kernels %s, expected matmul/matmul,eltwise/update", got)
	}
	t.Logf("%+v", steps)
}

// BenchmarkMatMul times n×n×n f32 matmuls (n from MOHAWK_VULKAN_GEMM, a
// comma-separated list, default 512); kernel-GFLOP/s counts the matmul
// dispatch's GPU time only, GFLOP/s the whole Run (submit and wait).
func BenchmarkMatMul(bm *testing.B) {
	sizes := []int{512}
	if s := os.Getenv("MOHAWK_VULKAN_GEMM"); s != "" {
		sizes = sizes[:0]
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				bm.Fatalf("MOHAWK_VULKAN_GEMM: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	// MOHAWK_VULKAN_GEMM_KERNELS picks kernels to compare (comma-separated):
	// auto (the usual choice by shape), gemm128 and gemm64 (gemm.comp with
	// 128x128 or 64x128 tiles), tiled (matmul.comp, 64x64).
	kernels := []string{"auto"}
	if s := os.Getenv("MOHAWK_VULKAN_GEMM_KERNELS"); s != "" {
		kernels = strings.Split(s, ",")
	}
	// MOHAWK_VULKAN_GEMM_DTYPE=f16 times f16 products (f32 accumulation)
	// instead; its kernels are auto (the default), coop (gemm_coopmat.comp),
	// the suffixes of its variants (k64, k48, k16, w8, m256, w4; see f16.go) and
	// plain (matmul16.comp).
	switch dt := os.Getenv("MOHAWK_VULKAN_GEMM_DTYPE"); dt {
	case "", "f32":
	case "f16":
		benchMatMul16(bm, sizes, kernels)
		return
	default:
		bm.Fatalf("MOHAWK_VULKAN_GEMM_DTYPE: %q is not f32 or f16", dt)
	}
	for _, n := range sizes {
		for _, k := range kernels {
			from, big := 0, 0
			switch k {
			case "auto":
				from, big = vulkan.SetGemm(0, 0)
				vulkan.SetGemm(from, big)
			case "gemm128":
				from, big = 1, 1
			case "gemm64":
				from, big = 1, math.MaxInt
			case "tiled":
				from, big = math.MaxInt, math.MaxInt
			default:
				bm.Fatalf("MOHAWK_VULKAN_GEMM_KERNELS: unknown kernel %q", k)
			}
			bm.Run(fmt.Sprintf("%d/%s", n, k), func(bm *testing.B) {
				oldFrom, oldBig := vulkan.SetGemm(from, big)
				defer vulkan.SetGemm(oldFrom, oldBig)
				benchMatMul(bm, n)
			})
		}
	}
}

func benchMatMul(bm *testing.B, n int) {
	b := newProfiled(bm)
	id := matmulProgram(bm, b, n, false)
	timeMatMul(bm, b, id, n)
}

// timeMatMul runs program id, whose one matmul is n×n×n, and reports the
// matmul dispatch's GPU time and the whole Run's as FLOP rates.
func timeMatMul(bm *testing.B, b *vulkan.Backend, id backend.ProgramID, n int) {
	ctx := context.Background()
	if _, err := b.Run(ctx, id, nil); err != nil { // warm up
		bm.Fatal(err)
	}
	var kernel float64
	best := math.Inf(1)
	var name string
	bm.ResetTimer()
	for bm.Loop() {
		if _, err := b.Run(ctx, id, nil); err != nil {
			bm.Fatal(err)
		}
		steps, err := b.Profile(id)
		if err != nil {
			bm.Fatal(err)
		}
		for _, s := range steps {
			if strings.HasSuffix(s.Kernel, "/matmul") {
				kernel += s.Nanos
				best = min(best, s.Nanos)
				name = s.Kernel
			}
		}
	}
	flops := 2 * float64(n) * float64(n) * float64(n)
	bm.ReportMetric(flops*float64(bm.N)/kernel, "kernel-GFLOP/s")
	// The fastest run: on a shared GPU, other work and clocks that drop
	// between runs slow some runs; the fastest is the kernel's own rate.
	bm.ReportMetric(flops/best, "best-kernel-GFLOP/s")
	bm.ReportMetric(flops*float64(bm.N)/float64(bm.Elapsed().Nanoseconds()), "GFLOP/s")
	bm.Log(fmt.Sprintf("%d³ on %s, kernel %s", n, b.DeviceName(), name))
}
