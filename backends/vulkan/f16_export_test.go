//go:build cgo

package vulkan

import (
	"fmt"
	"maps"
	"slices"
)

// SetCoopKernel sets the gemm_coopmat.comp variant f16 matmuls run ("":
// matmul16.comp) and returns the previous one.
func SetCoopKernel(name string) string {
	old := coopKernel
	coopKernel = name
	return old
}

// Features describes the optional features of b's device (f16,
// cooperative matrices) and reports whether it runs f16 at all and f16
// matmuls on cooperative matrices.
func Features(b *Backend) (desc string, f16, coop bool) {
	f := &b.c.phys.feat
	return fmt.Sprintf("%s, %d bytes of shared memory", f.describe(), b.c.phys.limits.MaxComputeSharedMemorySize), f.f16(), f.coopGemm()
}

// CoopVariants lists the gemm_coopmat.comp variants.
func CoopVariants() []string { return slices.Sorted(maps.Keys(coopVariants)) }
