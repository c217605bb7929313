//go:build cgo

// f16 inside programs. graph.Tensor holds no f16, so f16 values exist only
// on the device: made by a cast from f32, multiplied (matmul with f32
// accumulation), reshaped, and cast back to f32. Devices with 16x16x16
// f16 cooperative matrices run the products on gemm_coopmat.comp; others
// with f16 arithmetic and 16-bit storage on matmul16.comp (plain, slow).

package vulkan

import (
	"fmt"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// checkF16 refuses node i where it involves f16 in a way this backend does
// not run: any op but cast (to and from f32), matmul, reshape and
// stop_gradient, f16 leaves (no host tensor holds f16) and f16 outputs.
func checkF16(g *graph.Graph, i int, f16 bool) error {
	n := &g.Nodes[i]
	involved := n.Type.DType == graph.F16
	for _, v := range n.Inputs {
		involved = involved || g.Nodes[v].Type.DType == graph.F16
	}
	if !involved || !f16 {
		return nil // the dtype check names f16 where the device lacks it
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("vulkan: node %d (%s) in f16: %s", i, n.Op, fmt.Sprintf(format, args...))
	}
	switch n.Op {
	case graph.OpCast:
		from, to := g.Nodes[n.Inputs[0]].Type.DType, n.Type.DType
		if (from != graph.F32 && from != graph.F16) || (to != graph.F32 && to != graph.F16) {
			return fail("a cast from %v to %v; f16 converts to and from f32 only", from, to)
		}
	case graph.OpMatMul, graph.OpReshape, graph.OpStopGradient:
	case graph.OpInput, graph.OpParam, graph.OpState, graph.OpConst, graph.OpIota:
		return fail("f16 values have no host tensor (graph.Tensor holds f32, f64 and i32); declare %q in f32 and cast it to f16 in the graph", n.Name)
	default:
		return fail("not supported by the vulkan backend, which only casts (to and from f32), reshapes and multiplies (matmul) f16 values")
	}
	for _, o := range g.Outputs {
		if int(o.Value) == i && n.Type.DType == graph.F16 {
			return fail("output %q is f16, which no host tensor holds; cast it to f32", o.Name)
		}
	}
	return nil
}

// cast16 adds the step casting count elements between f32 and f16.
func (p *program) cast16(out, in ref, toF32 bool, count int) {
	if count == 0 {
		return
	}
	p.steps = append(p.steps, step{shader: "cast16", op: b2u(toF32), param: p.addParams([]uint32{uint32(count)}), out: out, in: []ref{in},
		groups: groupsFor(count, 256)})
}

// coopVariant is a tile shape of gemm_coopmat.comp, compiled by
// shaders/compile.sh into its own SPIR-V.
type coopVariant struct {
	warpsM, warpsN, tm, tn, bk, stages int
}

func (v coopVariant) tiles() (bm, bn int) { return v.warpsM * v.tm * 16, v.warpsN * v.tn * 16 }

// shared is the shared memory the variant needs, in bytes (as the shader
// computes SMEM).
func (v coopVariant) shared() int {
	bm, bn := v.tiles()
	aSize := max(v.bk*(bm/8+1), bm*(v.bk/8+1))
	bSize := max(bn*(v.bk/8+1), v.bk*(bn/8+1))
	return 16 * max(v.stages*(aSize+bSize), v.warpsM*v.warpsN*16*3)
}

var coopVariants = map[string]coopVariant{
	"gemm_coopmat":      {2, 4, 4, 4, 32, 1}, // 128x256, the default
	"gemm_coopmat_k64":  {2, 4, 4, 2, 64, 1}, // 128x128, K steps of 64
	"gemm_coopmat_k48":  {2, 4, 4, 4, 48, 1}, // 128x256, K steps of 48
	"gemm_coopmat_k16":  {2, 4, 4, 2, 16, 2}, // 128x128, K steps of 16, two stages
	"gemm_coopmat_w8":   {2, 4, 4, 2, 32, 2}, // 128x128, two stages
	"gemm_coopmat_m256": {4, 2, 4, 4, 32, 1}, // 256x128
	"gemm_coopmat_w4":   {2, 2, 4, 4, 32, 1}, // 128x128, 4 subgroups
}

// coopKernel is the gemm_coopmat.comp variant f16 matmuls run where the
// device has cooperative matrices; "" makes them run matmul16.comp.
var coopKernel = "gemm_coopmat"

// matmul16 adds the step of an f16 matmul.
func (p *program) matmul16(n *graph.Node, out ref, in []ref, inT []graph.Type) error {
	m, nn, batch, w := matmulParams(n, inT)
	if m*nn*batch == 0 {
		return nil
	}
	lim := p.c.phys.limits.MaxComputeWorkGroupCount
	if v, ok := coopVariants[coopKernel]; ok && p.c.phys.feat.coopGemm() && int(p.c.phys.limits.MaxComputeSharedMemorySize) >= v.shared() {
		bm, bn := v.tiles()
		gx, gy := (nn+bn-1)/bn, (m+bm-1)/bm
		if gx <= int(lim[0]) && gy <= int(lim[1]) && batch <= int(lim[2]) {
			// The shape is specialized (w's first seven words: M, N, K,
			// batch strides, row lengths), so each shape is its own pipeline.
			flags := b2u(n.Attrs.TransA) | b2u(n.Attrs.TransB)<<1
			p.steps = append(p.steps, step{shader: coopKernel, op: flags, spec: packSpec(w[:7]), out: out, in: in,
				groups: [3]uint32{uint32(gx), uint32(gy), uint32(batch)}})
			return nil
		}
	}
	gx, gy := (nn+15)/16, (m+15)/16
	if gx > int(lim[0]) || gy > int(lim[1]) || batch > int(lim[2]) {
		return fmt.Errorf("f16 matmul of %v needs %dx%dx%d workgroups; the device allows %v", n.Type.Shape, gx, gy, batch, lim)
	}
	p.steps = append(p.steps, step{shader: "matmul16", param: p.addParams(w), out: out, in: in, groups: [3]uint32{uint32(gx), uint32(gy), uint32(batch)}})
	return nil
}
