//go:build cgo

// Programs: a graph lowered to compute dispatches over device buffers,
// recorded once into one command buffer (input uploads, dispatches with the
// barriers their reads and writes need, output read-back, update copies)
// and submitted once per Run.

package vulkan

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// ref is where a value lives: a resident tensor bound at run time (res is
// its slot) or one of the program's temporaries (tmp).
type ref struct {
	res int
	tmp int
}

// temp is a value the program computes (or an input or constant). Temps
// whose lifetimes do not overlap share a buffer (see assignBuffers).
type temp struct {
	size   uint64 // bytes
	pinned bool   // lives through the whole run: inputs, constants, outputs, update sources
	init   []byte // contents of a constant, uploaded at Compile
	buf    *buffer
}

// step is one dispatch.
type step struct {
	node   int
	label  string
	shader string
	op, dt uint32
	spec   string // more specialization constants (see pipelineKey)
	param  uint32 // word offset of its parameter block
	out    ref
	in     []ref
	groups [3]uint32
	// flat[j]: input j is read at the output's own index (elementwise, no
	// broadcast), so the step may overwrite it in place.
	flat     []bool
	fallible bool // may report a failed check (writes the status)
	gated    bool // writes nothing once a check has failed (reads the status)
}

type inputSlot struct {
	name  string
	typ   graph.Type
	tmp   int
	stage uint64 // byte offset in the staging buffer
}

type outputSlot struct {
	name  string
	typ   graph.Type
	val   ref
	stage uint64
}

type residentSlot struct {
	name string
	typ  graph.Type
}

// fallible describes a node whose run-time check can fail (ids out of range).
type fallible struct {
	op   graph.Op
	rows int
}

type program struct {
	id        backend.ProgramID
	c         *deviceContext
	g         *graph.Graph
	vals      []ref
	temps     []temp
	ownedBufs []*buffer
	words     []uint32 // parameters of every step
	steps     []step
	updates   []step // gated copies into residents, after the outputs
	inputs    []inputSlot
	outputs   []outputSlot
	residents []residentSlot
	fallible  map[uint32]fallible
	params    *buffer
	status    *buffer
	staging   *buffer
	statusAt  uint64
	pool      vk.DescriptorPool
	sets      []vk.DescriptorSet
	cb        vk.CommandBuffer
	bound     []*residentTensor // the residents the command buffer was recorded with
	queries   vk.QueryPool      // timestamps around every dispatch, when profiling
	fuse      bool              // run elementwise chains as one dispatch
}

// bigTiles is the number of 128x128 tiles from which a matmul uses them.
// Off for now: on an H200 the 128x128 variant ran at 2.2 TFLOP/s on 4096³
// where the 64x64 one reached 16 on 1024³ (its 64 accumulators were likely
// not unrolled into registers; the loops now ask for unrolling, untested
// there).
var bigTiles = math.MaxInt

// gemmFrom is the number of output elements from which a matmul whose
// rows are multiples of 4 runs gemm.comp; gemmBigTiles the number of
// 128x128 tiles from which it uses them (else 64x128).
var (
	gemmFrom     = 256 * 256
	gemmBigTiles = 128
)

// gemmShared is the shared memory gemm.comp needs, in bytes.
const gemmShared = 2 * 2 * 8 * 33 * 16

// maxGroups bounds the x dimension of a dispatch; kernels loop beyond it.
const maxGroups = 65535

func compile(c *deviceContext, g *graph.Graph, profile, fuse bool) (*program, error) {
	if err := g.Validate(graph.DefaultLimits); err != nil {
		return nil, fmt.Errorf("vulkan: %w", err)
	}
	f16 := c.phys.feat.f16()
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if err := checkF16(g, i, f16); err != nil {
			return nil, err
		}
		if dt := n.Type.DType; dt != graph.F32 && dt != graph.I32 && !(dt == graph.F16 && f16) {
			also, cpu := "", ""
			if f16 {
				also = " (and f16 inside programs)"
			}
			if dt == graph.F64 {
				cpu = " (the cpu backend runs f64)"
			}
			return nil, fmt.Errorf("vulkan: node %d (%s) computes in %v; this backend runs f32 and i32%s only%s", i, n.Op, dt, also, cpu)
		}
		if s := n.Type.Shape.Size(); s >= 1<<32 {
			return nil, fmt.Errorf("vulkan: node %d (%s) has %d elements; at most 2^32-1 fit one buffer here", i, n.Op, s)
		}
	}
	// Lowering is plain Go (no Vulkan calls): it runs without the device
	// lock, and with the collector free to run.
	p := &program{c: c, g: g, fallible: map[uint32]fallible{}, fuse: fuse}
	if err := p.lower(); err != nil {
		return nil, err
	}
	c.lock()
	defer c.unlock()
	if err := p.allocate(); err != nil {
		p.free()
		return nil, err
	}
	if profile && c.phys.tsBits > 0 {
		var qp vk.QueryPool
		if err := check("vkCreateQueryPool", vk.CreateQueryPool(c.dev, &vk.QueryPoolCreateInfo{
			SType: vk.StructureTypeQueryPoolCreateInfo, QueryType: vk.QueryTypeTimestamp, QueryCount: uint32(p.numQueries()),
		}, nil, &qp)); err != nil {
			p.free()
			return nil, err
		}
		p.queries = qp
	}
	return p, nil
}

func (p *program) temp(t graph.Type) (ref, error) {
	size := uint64(t.DType.Size() * t.Shape.Size())
	p.temps = append(p.temps, temp{size: (size + 3) &^ 3})
	return ref{res: -1, tmp: len(p.temps) - 1}, nil
}

// addParams appends a step's parameter block and returns its offset.
func (p *program) addParams(w []uint32) uint32 {
	off := uint32(len(p.words))
	p.words = append(p.words, w...)
	return off
}

func groupsFor(n, perGroup int) [3]uint32 {
	return [3]uint32{uint32(min((n+perGroup-1)/perGroup, maxGroups)), 1, 1}
}

// lower turns every node into storage and steps.
func (p *program) lower() error {
	g := p.g
	p.vals = make([]ref, len(g.Nodes))
	consts := map[string]ref{}
	deferOK := make([]bool, len(g.Nodes))
	if p.fuse {
		deferOK = deferrable(g)
	}
	exprs := make([]*expr, len(g.Nodes)) // values kept as expressions
	// materialize gives a deferred value a buffer: its expression runs as
	// a step now (its inputs are all computed already).
	materialize := func(v graph.Value) {
		e := exprs[v]
		if e == nil {
			return
		}
		exprs[v] = nil
		out, _ := p.temp(g.Nodes[v].Type)
		p.vals[v] = out
		p.emitExpr(e, out, g.Nodes[v].Type.Shape)
	}
	labeled := 0
	label := func(node int) { // name the steps of a node, for profiles
		for k := labeled; k < len(p.steps); k++ {
			p.steps[k].node, p.steps[k].label = node, p.steps[k].shader+"/"+g.Nodes[node].Op.String()
		}
		labeled = len(p.steps)
	}
	for i := range g.Nodes {
		if i > 0 {
			label(i - 1)
		}
		n := &g.Nodes[i]
		fail := func(format string, args ...any) error {
			return fmt.Errorf("vulkan: node %d (%s): %s", i, n.Op, fmt.Sprintf(format, args...))
		}
		in := make([]ref, len(n.Inputs))
		inT := make([]graph.Type, len(n.Inputs))
		for j, v := range n.Inputs {
			inT[j] = g.Nodes[v].Type
		}
		if n.Op == graph.OpCast && (n.Type.DType == graph.F16) != (inT[0].DType == graph.F16) {
			materialize(n.Inputs[0])
			out, _ := p.temp(n.Type)
			p.vals[i] = out
			p.cast16(out, p.vals[n.Inputs[0]], n.Type.DType == graph.F32, n.Type.Shape.Size())
			continue
		}
		if fusible(n, inT) {
			if err := p.lowerElementwise(i, n, inT, exprs, deferOK[i], materialize); err != nil {
				return fail("%v", err)
			}
			continue
		}
		for j, v := range n.Inputs {
			materialize(v)
			in[j] = p.vals[v]
		}
		shape := n.Type.Shape
		size := shape.Size()
		dt := n.Type.DType
		// Views share their input's storage.
		switch {
		case n.Op == graph.OpReshape || n.Op == graph.OpStopGradient || (n.Op == graph.OpCast && inT[0].DType == dt):
			p.vals[i] = in[0]
			continue
		case n.Op == graph.OpParam || n.Op == graph.OpState:
			p.residents = append(p.residents, residentSlot{name: n.Name, typ: n.Type})
			p.vals[i] = ref{res: len(p.residents) - 1, tmp: -1}
			continue
		}
		var leaf []byte
		if n.Op == graph.OpConst || n.Op == graph.OpIota {
			// Constants of the same contents (the 1s and 0.5s of a graph
			// repeat) share one buffer.
			leaf = leafData(n)
			if r, ok := consts[string(leaf)]; ok {
				p.vals[i] = r
				continue
			}
		}
		out, err := p.temp(n.Type)
		if err != nil {
			return fail("%v", err)
		}
		p.vals[i] = out
		switch {
		case n.Op == graph.OpInput:
			p.inputs = append(p.inputs, inputSlot{name: n.Name, typ: n.Type, tmp: out.tmp})
			p.temps[out.tmp].pinned = true
		case n.Op == graph.OpConst || n.Op == graph.OpIota:
			p.temps[out.tmp].pinned = true
			p.temps[out.tmp].init = leaf
			consts[string(leaf)] = out
		case n.Op == graph.OpTranspose:
			st := inT[0].Shape.Strides()
			src := make([]int, len(shape))
			for d, pd := range n.Attrs.Perm {
				src[d] = st[pd]
			}
			p.copyStrided(out, 0, shape.Strides(), in[0], 0, src, shape)
		case n.Op == graph.OpSlice:
			st := inT[0].Shape.Strides()
			base := 0
			for d := range st {
				base += n.Attrs.Begin[d] * st[d]
			}
			p.copyStrided(out, 0, shape.Strides(), in[0], base, st, shape)
		case n.Op == graph.OpBroadcast:
			p.copyStrided(out, 0, shape.Strides(), in[0], 0, broadcastStrides(inT[0].Shape, shape), shape)
		case n.Op == graph.OpPad:
			p.fill(out, size, 0)
			ost := shape.Strides()
			base := 0
			for d := range ost {
				base += n.Attrs.Lo[d] * ost[d]
			}
			p.copyStrided(out, base, ost, in[0], 0, inT[0].Shape.Strides(), inT[0].Shape)
		case n.Op == graph.OpConcat:
			ost := shape.Strides()
			at := 0
			for j := range in {
				p.copyStrided(out, at*ost[n.Attrs.Axis], ost, in[j], 0, inT[j].Shape.Strides(), inT[j].Shape)
				at += inT[j].Shape[n.Attrs.Axis]
			}
		case n.Op == graph.OpReduceSum || n.Op == graph.OpReduceMax:
			p.reduce(n, out, in[0], inT[0].Shape)
		case n.Op == graph.OpMatMul:
			if dt == graph.F16 {
				if err := p.matmul16(n, out, in, inT); err != nil {
					return fail("%v", err)
				}
				break
			}
			if dt != graph.F32 {
				return fail("matmul in %v is not supported by the vulkan backend", dt)
			}
			if err := p.matmul(n, out, in, inT); err != nil {
				return fail("%v", err)
			}
		case n.Op == graph.OpCumsum:
			ax := n.Attrs.Axis
			length := shape[ax]
			if size == 0 || length == 0 {
				break
			}
			inner := graph.Shape(shape[ax+1:]).Size()
			lines := size / length
			w := []uint32{uint32(lines), uint32(length), uint32(inner), b2u(n.Attrs.Exclusive), b2u(n.Attrs.Reverse)}
			p.steps = append(p.steps, step{shader: "cumsum", dt: dtCode(dt), param: p.addParams(w), out: out, in: in, groups: groupsFor(lines, 64)})
		case n.Op == graph.OpGather:
			ts := inT[0].Shape
			row := graph.Shape(ts[1:]).Size()
			ids := inT[1].Shape.Size()
			p.fallible[uint32(i)] = fallible{op: n.Op, rows: ts[0]}
			if ids*row == 0 {
				break
			}
			w := []uint32{uint32(ids), uint32(ts[0]), uint32(row), uint32(i)}
			p.steps = append(p.steps, step{shader: "gather", param: p.addParams(w), out: out, in: in, groups: groupsFor(ids*row, 256), fallible: true})
		case n.Op == graph.OpScatterAdd:
			row := graph.Shape(shape[1:]).Size()
			ids := inT[0].Shape.Size()
			p.fallible[uint32(i)] = fallible{op: n.Op, rows: shape[0]}
			work := max(size, ids)
			if work == 0 {
				break
			}
			w := []uint32{uint32(ids), uint32(shape[0]), uint32(row), uint32(i)}
			if ids > 0 && size > 0 && ids <= maxScatterRowsIDs && size*ids >= scatterRowsFrom {
				p.scatterRows(w, dtCode(dt), out, in[0], in[1], shape[0], ids, size)
				break
			}
			p.steps = append(p.steps, step{shader: "scatter", dt: dtCode(dt), param: p.addParams(w), out: out, in: in, groups: groupsFor(work, 256), fallible: true})
		case n.Op.Fused():
			if dt != graph.F32 {
				return fail("%s in %v is not supported by the vulkan backend", n.Op, dt)
			}
			xs := inT[0].Shape
			cols := xs[len(xs)-1]
			rows := xs.Size() / max(cols, 1)
			if cols == 0 && n.Op == graph.OpCrossEntropy {
				rows = size // every label is out of range; the kernel says so
			}
			if n.Op == graph.OpCrossEntropy {
				p.fallible[uint32(i)] = fallible{op: n.Op, rows: cols}
			}
			if rows == 0 || (cols == 0 && n.Op != graph.OpCrossEntropy) {
				break
			}
			w := []uint32{uint32(rows), uint32(cols), math.Float32bits(float32(n.Attrs.Eps)), uint32(i)}
			p.steps = append(p.steps, step{shader: "rows", op: rowOps[n.Op], param: p.addParams(w), out: out, in: in,
				groups: [3]uint32{uint32(min(rows, maxGroups)), 1, 1}, fallible: n.Op == graph.OpCrossEntropy})
		default:
			return fail("op %s is not supported by the vulkan backend", n.Op)
		}
	}
	if len(g.Nodes) > 0 {
		label(len(g.Nodes) - 1)
	}
	return p.lowerUpdates()
}

// lowerUpdates adds the gated copies that write updates into residents.
// A value held by another updated resident is copied aside first, so that
// updates which swap residents read the values from before the run.
func (p *program) lowerUpdates() error {
	first := len(p.steps)
	defer func() {
		for k := first; k < len(p.steps); k++ {
			p.steps[k].node, p.steps[k].label = -1, "eltwise/copy-aside"
		}
		for k := range p.updates {
			p.updates[k].node, p.updates[k].label = -1, "eltwise/update"
		}
	}()
	inPlace := p.updateInPlace()
	targets := map[int]bool{}
	for _, u := range p.g.Updates {
		targets[p.vals[u.Target].res] = true
	}
	for ui, u := range p.g.Updates {
		if inPlace[ui] {
			continue
		}
		dst, src := p.vals[u.Target], p.vals[u.Value]
		if src.res == dst.res {
			continue // w <- w
		}
		t := p.g.Nodes[u.Value].Type
		n := t.Shape.Size()
		if src.res >= 0 && targets[src.res] {
			tmp, err := p.temp(t)
			if err != nil {
				return err
			}
			p.copyStrided(tmp, 0, []int{1}, src, 0, []int{1}, graph.Shape{n})
			src = tmp
		}
		if n == 0 {
			continue
		}
		w := eltParams(n, []int{n}, [4][]int{{1}, {1}, {0}, {0}}, [4]int{}, 0)
		p.updates = append(p.updates, step{shader: "eltwise", op: opCopyGated, param: p.addParams(w), out: dst, in: []ref{src}, groups: groupsFor(n, 256)})
	}
	return nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// leafData is the contents of a const or iota node.
func leafData(n *graph.Node) []byte {
	size := n.Type.Shape.Size()
	out := make([]byte, 4*size)
	var idxStride, idxDim int
	if n.Op == graph.OpIota {
		idxStride, idxDim = n.Type.Shape.Strides()[n.Attrs.Axis], n.Type.Shape[n.Attrs.Axis]
	}
	for i := 0; i < size; i++ {
		var v float64
		if n.Op == graph.OpIota {
			v = float64(i / idxStride % idxDim)
		} else if len(n.Attrs.Values) == 1 {
			v = n.Attrs.Values[0]
		} else {
			v = n.Attrs.Values[i]
		}
		var w uint32
		if n.Type.DType == graph.I32 {
			w = uint32(int32(v))
		} else {
			w = math.Float32bits(float32(v))
		}
		binary.LittleEndian.PutUint32(out[4*i:], w)
	}
	return out
}

// broadcastStrides are the strides that read a tensor of shape s at every
// index of the larger shape to (numpy rules: size-1 dimensions repeat).
func broadcastStrides(s, to graph.Shape) []int {
	st := s.Strides()
	out := make([]int, len(to))
	for d := range to {
		j := d - (len(to) - len(s))
		if j >= 0 && s[j] != 1 {
			out[d] = st[j]
		}
	}
	return out
}

// collapse drops dimensions of size 1 and merges neighbours that every
// operand walks contiguously, so kernels divide by fewer dimensions.
func collapse(dims []int, strides [][]int) ([]int, [][]int) {
	var od []int
	os := make([][]int, len(strides))
	for d := range dims {
		if dims[d] == 1 {
			continue
		}
		if last := len(od) - 1; last >= 0 {
			merge := true
			for k := range strides {
				if os[k][last] != strides[k][d]*dims[d] {
					merge = false
					break
				}
			}
			if merge {
				od[last] *= dims[d]
				for k := range strides {
					os[k][last] = strides[k][d]
				}
				continue
			}
		}
		od = append(od, dims[d])
		for k := range strides {
			os[k] = append(os[k], strides[k][d])
		}
	}
	return od, os
}

// eltParams is the parameter block of eltwise.comp.
func eltParams(n int, dims []int, strides [4][]int, bases [4]int, scalar uint32) []uint32 {
	full := make([][]int, 4)
	for k := range full {
		full[k] = strides[k]
		if full[k] == nil {
			full[k] = make([]int, len(dims))
		}
	}
	cd, cs := collapse(dims, full)
	w := make([]uint32, 48)
	w[0], w[1] = uint32(n), uint32(len(cd))
	for k := 0; k < 4; k++ {
		w[2+k] = uint32(bases[k])
	}
	w[6] = scalar
	for d := range cd {
		w[8+d] = uint32(cd[d])
		for k := 0; k < 4; k++ {
			w[16+8*k+d] = uint32(cs[k][d])
		}
	}
	return w
}

// eltwise adds an elementwise step over the node's shape; inputs broadcast.
func (p *program) eltwise(op, dt uint32, out ref, shape graph.Shape, in []ref, inT []graph.Type, scalar uint32) {
	n := shape.Size()
	if n == 0 {
		return
	}
	var st [4][]int
	st[0] = shape.Strides()
	for j := range in {
		st[1+j] = broadcastStrides(inT[j].Shape, shape)
	}
	w := eltParams(n, shape, st, [4]int{}, scalar)
	flat := make([]bool, len(in))
	for j := range in {
		flat[j] = inT[j].Shape.Equal(shape)
	}
	p.steps = append(p.steps, step{shader: "eltwise", op: op, dt: dt, param: p.addParams(w), out: out, in: in, groups: groupsFor(n, 256), flat: flat})
}

// copyStrided copies the elements of loop shape dims from src (base and
// strides in elements) to dst.
func (p *program) copyStrided(dst ref, dstBase int, dstStrides []int, src ref, srcBase int, srcStrides []int, dims graph.Shape) {
	n := dims.Size()
	if n == 0 {
		return
	}
	w := eltParams(n, dims, [4][]int{dstStrides, srcStrides}, [4]int{dstBase, srcBase}, 0)
	p.steps = append(p.steps, step{shader: "eltwise", op: opCopy, param: p.addParams(w), out: dst, in: []ref{src}, groups: groupsFor(n, 256)})
}

func (p *program) fill(dst ref, n int, bits uint32) {
	if n == 0 {
		return
	}
	w := eltParams(n, []int{n}, [4][]int{{1}}, [4]int{}, bits)
	p.steps = append(p.steps, step{shader: "eltwise", op: opFill, param: p.addParams(w), out: dst, groups: groupsFor(n, 256)})
}

func (p *program) reduce(n *graph.Node, out, in ref, s graph.Shape) {
	outs := n.Type.Shape.Size()
	if outs == 0 {
		return
	}
	st := s.Strides()
	var kd, ks, rd, rs []int
	for d := range s {
		if slices.Contains(n.Attrs.Axes, d) {
			rd, rs = append(rd, s[d]), append(rs, st[d])
		} else {
			kd, ks = append(kd, s[d]), append(ks, st[d])
		}
	}
	kd, kss := collapse(kd, [][]int{ks})
	rd, rss := collapse(rd, [][]int{rs})
	count := graph.Shape(rd).Size()
	w := make([]uint32, 40)
	w[0], w[1], w[2], w[3] = uint32(outs), uint32(count), uint32(len(kd)), uint32(len(rd))
	for d := range kd {
		w[8+d], w[16+d] = uint32(kd[d]), uint32(kss[0][d])
	}
	for d := range rd {
		w[24+d], w[32+d] = uint32(rd[d]), uint32(rss[0][d])
	}
	var op uint32
	if n.Op == graph.OpReduceMax {
		op = 1
	}
	dt := dtCode(n.Type.DType)
	if count <= shortReduce { // a workgroup per output would idle
		p.steps = append(p.steps, step{shader: "reduce", op: op | 2, dt: dt, param: p.addParams(w), out: out, in: []ref{in},
			groups: groupsFor(outs, 64)})
		return
	}
	if count < chunkLen*2 || outs >= 512 {
		p.steps = append(p.steps, step{shader: "reduce", op: op, dt: dt, param: p.addParams(w), out: out, in: []ref{in},
			groups: [3]uint32{uint32(min(outs, maxGroups)), 1, 1}})
		return
	}
	// Few long reductions: partials per chunk, then a reduction of those.
	chunks := (count + chunkLen - 1) / chunkLen
	part, _ := p.temp(graph.Type{DType: n.Type.DType, Shape: graph.Shape{outs * chunks}})
	w[4], w[5] = uint32(chunks), chunkLen
	p.steps = append(p.steps, step{shader: "reduce", op: op, dt: dt, param: p.addParams(w), out: part, in: []ref{in},
		groups: [3]uint32{uint32(min(outs*chunks, maxGroups)), 1, 1}})
	w2 := make([]uint32, 40)
	w2[0], w2[1], w2[2], w2[3] = uint32(outs), uint32(chunks), 1, 1
	w2[8], w2[16], w2[24], w2[32] = uint32(outs), uint32(chunks), uint32(chunks), 1
	p.steps = append(p.steps, step{shader: "reduce", op: op, dt: dt, param: p.addParams(w2), out: out, in: []ref{part},
		groups: [3]uint32{uint32(min(outs, maxGroups)), 1, 1}})
}

// scatter_add with V·R·I at least scatterRowsFrom (and at most
// maxScatterRowsIDs ids, as placing compares every pair of ids) lists each
// row's positions first (scatter_rows.comp), so its sums take I·R work
// instead of V·I·R.
var scatterRowsFrom = 1 << 26

const maxScatterRowsIDs = 1 << 18

// scatterRows adds the phases of scatter_rows.comp for one scatter_add: w
// is its parameter block, ids and upd its inputs, v its rows.
func (p *program) scatterRows(w []uint32, dt uint32, out, ids, upd ref, v, nIDs, size int) {
	i32 := func(n int) ref {
		r, _ := p.temp(graph.Type{DType: graph.I32, Shape: graph.Shape{n}})
		return r
	}
	counts, offsets, positions := i32(v), i32(v), i32(nIDs)
	param := p.addParams(w)
	p.fill(counts, v, 0)
	p.steps = append(p.steps, step{shader: "scatter_rows", op: 0, param: param, out: counts, in: []ref{ids}, groups: groupsFor(nIDs, 256), fallible: true})
	scan := []uint32{1, uint32(v), 1, 1, 0} // one line of v, exclusive
	p.steps = append(p.steps, step{shader: "cumsum", dt: 1, param: p.addParams(scan), out: offsets, in: []ref{counts}, groups: groupsFor(1, 64)})
	p.steps = append(p.steps, step{shader: "scatter_rows", op: 1, param: param, out: positions, in: []ref{ids, offsets}, groups: groupsFor(nIDs, 256)})
	p.steps = append(p.steps, step{shader: "scatter_rows", op: 2, dt: dt, param: param, out: out, in: []ref{positions, upd, offsets, counts}, groups: groupsFor(size, 256)})
}

// shortReduce is the longest reduction folded by one invocation per output.
const shortReduce = 16

// chunkLen is the length of the chunks of a long reduction into few
// outputs (see reduce.comp).
const chunkLen = 4096

// matmulParams are a matmul's sizes and the parameter block every matmul
// kernel reads: M, N, K, the batch strides of A and B (0 for a matrix
// shared by the batch), the row lengths of A and B as stored and the
// transpose flags.
func matmulParams(n *graph.Node, inT []graph.Type) (m, nn, batch int, w []uint32) {
	xs, ys, os := inT[0].Shape, inT[1].Shape, n.Type.Shape
	m, nn = os[len(os)-2], os[len(os)-1]
	k := xs[len(xs)-1]
	if n.Attrs.TransA {
		k = xs[len(xs)-2]
	}
	batch = graph.Shape(os[:len(os)-2]).Size()
	var aStride, bStride int
	if len(xs) > 2 {
		aStride = xs[len(xs)-2] * xs[len(xs)-1]
	}
	if len(ys) > 2 {
		bStride = ys[len(ys)-2] * ys[len(ys)-1]
	}
	w = []uint32{uint32(m), uint32(nn), uint32(k), uint32(aStride), uint32(bStride), uint32(xs[len(xs)-1]), uint32(ys[len(ys)-1]),
		b2u(n.Attrs.TransA), b2u(n.Attrs.TransB)}
	return m, nn, batch, w
}

func (p *program) matmul(n *graph.Node, out ref, in []ref, inT []graph.Type) error {
	xs, ys := inT[0].Shape, inT[1].Shape
	m, nn, batch, w := matmulParams(n, inT)
	if m*nn*batch == 0 {
		return nil
	}
	os := n.Type.Shape
	lim := p.c.phys.limits.MaxComputeWorkGroupCount
	// Large products whose rows (and so batch strides) are multiples of 4
	// run gemm.comp: vec4 loads, 8x8 (or 4x8) per invocation, double
	// buffered. 128x128 tiles where there are enough of them to fill the
	// GPU, else 64x128.
	if xs[len(xs)-1]%4 == 0 && ys[len(ys)-1]%4 == 0 && nn%4 == 0 && m*nn*batch >= gemmFrom &&
		p.c.phys.limits.MaxComputeSharedMemorySize >= gemmShared {
		tm := 8
		if ((nn+127)/128)*((m+127)/128)*batch < gemmBigTiles {
			tm = 4
		}
		gx, gy := (nn+127)/128, (m+16*tm-1)/(16*tm)
		if gx <= int(lim[0]) && gy <= int(lim[1]) && batch <= int(lim[2]) {
			p.steps = append(p.steps, step{shader: "gemm", op: uint32(tm), param: p.addParams(w), out: out, in: in, groups: [3]uint32{uint32(gx), uint32(gy), uint32(batch)}})
			return nil
		}
	}
	// 128x128 tiles do twice the work per shared-memory read of 64x64 ones,
	// but leave a GPU idle unless there are many of them.
	t := 4
	if ((nn+127)/128)*((m+127)/128)*batch >= bigTiles && p.c.phys.limits.MaxComputeSharedMemorySize >= 2*16*129*4 {
		t = 8
	}
	gx, gy := (nn+16*t-1)/(16*t), (m+16*t-1)/(16*t)
	if gx > int(lim[0]) || gy > int(lim[1]) || batch > int(lim[2]) {
		return fmt.Errorf("matmul of %v needs %dx%dx%d workgroups; the device allows %v", os, gx, gy, batch, lim)
	}
	p.steps = append(p.steps, step{shader: "matmul", op: uint32(t), param: p.addParams(w), out: out, in: in, groups: [3]uint32{uint32(gx), uint32(gy), uint32(batch)}})
	return nil
}

// allocate makes the parameter, status and staging buffers, the pipelines,
// the descriptor sets and the command buffer.
func (p *program) allocate() error {
	c := p.c
	if err := p.assignBuffers(); err != nil {
		return err
	}
	var err error
	if p.params, err = c.device.newBuffer(uint64(4 * max(len(p.words), 4))); err != nil {
		return err
	}
	raw := make([]byte, 4*len(p.words))
	for i, w := range p.words {
		binary.LittleEndian.PutUint32(raw[4*i:], w)
	}
	if err := c.upload(p.params, raw); err != nil {
		return err
	}
	if p.status, err = c.device.newBuffer(16); err != nil {
		return err
	}
	var at uint64
	for i := range p.inputs {
		p.inputs[i].stage = at
		at += align16(uint64(4 * p.inputs[i].typ.Shape.Size()))
	}
	for _, o := range p.g.Outputs {
		t := p.g.Nodes[o.Value].Type
		p.outputs = append(p.outputs, outputSlot{name: o.Name, typ: t, val: p.vals[o.Value], stage: at})
		at += align16(uint64(4 * t.Shape.Size()))
	}
	p.statusAt = at
	at += 16
	if p.staging, err = c.host.newBuffer(at); err != nil {
		return err
	}
	all := append(slices.Clone(p.steps), p.updates...)
	for _, s := range all {
		if _, err := c.pipeline(pipelineKey{s.shader, s.op, s.dt, s.spec}); err != nil {
			return err
		}
	}
	sets := uint32(max(len(all), 1))
	var pool vk.DescriptorPool
	if err := check("vkCreateDescriptorPool", vk.CreateDescriptorPool(c.dev, &vk.DescriptorPoolCreateInfo{
		SType: vk.StructureTypeDescriptorPoolCreateInfo, MaxSets: sets, PoolSizeCount: 1,
		PPoolSizes: []vk.DescriptorPoolSize{{Type: vk.DescriptorTypeStorageBuffer, DescriptorCount: sets * numBindings}},
	}, nil, &pool)); err != nil {
		return err
	}
	p.pool = pool
	p.sets = make([]vk.DescriptorSet, len(all))
	for i := range p.sets {
		var set vk.DescriptorSet
		if err := check("vkAllocateDescriptorSets", vk.AllocateDescriptorSets(c.dev, &vk.DescriptorSetAllocateInfo{
			SType: vk.StructureTypeDescriptorSetAllocateInfo, DescriptorPool: p.pool, DescriptorSetCount: 1,
			PSetLayouts: onHeap(c.setLay),
		}, &set)); err != nil {
			return err
		}
		p.sets[i] = set
	}
	cbs := make([]vk.CommandBuffer, 1)
	if err := check("vkAllocateCommandBuffers", vk.AllocateCommandBuffers(c.dev, &vk.CommandBufferAllocateInfo{
		SType: vk.StructureTypeCommandBufferAllocateInfo, CommandPool: c.cmdPool,
		Level: vk.CommandBufferLevelPrimary, CommandBufferCount: 1,
	}, cbs)); err != nil {
		return err
	}
	p.cb = cbs[0]
	return nil
}

func align16(n uint64) uint64 { return (n + 15) &^ 15 }

// free releases everything p holds; c.mu must be held.
func (p *program) free() {
	c := p.c
	if p.cb != nil {
		vk.FreeCommandBuffers(c.dev, c.cmdPool, 1, onHeap(p.cb))
		p.cb = nil
	}
	if p.pool != nil {
		vk.DestroyDescriptorPool(c.dev, p.pool, nil)
		p.pool = nil
	}
	if p.queries != nil {
		vk.DestroyQueryPool(c.dev, p.queries, nil)
		p.queries = nil
	}
	for _, b := range p.ownedBufs {
		b.free()
	}
	p.ownedBufs = nil
	for _, b := range []*buffer{p.params, p.status, p.staging} {
		b.free()
	}
}

// record writes the descriptor sets and the command buffer for the
// residents res (one per resident slot); c.mu must be held.
func (p *program) record(res []*residentTensor) error {
	c := p.c
	bufOf := func(r ref) *buffer {
		if r.res >= 0 {
			return res[r.res].buf
		}
		return p.temps[r.tmp].buf
	}
	all := append(slices.Clone(p.steps), p.updates...)
	writes := make([]vk.WriteDescriptorSet, 0, len(all)*numBindings)
	for i, s := range all {
		bufs := [numBindings]*buffer{p.params, p.status, bufOf(s.out), c.dummy, c.dummy, c.dummy, c.dummy, c.dummy, c.dummy}
		for j, r := range s.in {
			bufs[3+j] = bufOf(r)
		}
		for j, b := range bufs {
			writes = append(writes, vk.WriteDescriptorSet{
				SType: vk.StructureTypeWriteDescriptorSet, DstSet: p.sets[i], DstBinding: uint32(j), DescriptorCount: 1,
				DescriptorType: vk.DescriptorTypeStorageBuffer,
				PBufferInfo:    []vk.DescriptorBufferInfo{{Buffer: b.handle, Offset: 0, Range: vk.DeviceSize(vk.WholeSize)}},
			})
		}
	}
	if len(writes) > 0 {
		vk.UpdateDescriptorSets(c.dev, uint32(len(writes)), writes, 0, nil)
	}
	cb := p.cb
	if err := check("vkResetCommandBuffer", vk.ResetCommandBuffer(cb, 0)); err != nil {
		return err
	}
	if err := check("vkBeginCommandBuffer", vk.BeginCommandBuffer(cb, &vk.CommandBufferBeginInfo{SType: vk.StructureTypeCommandBufferBeginInfo})); err != nil {
		return err
	}
	if p.queries != nil {
		vk.CmdResetQueryPool(cb, p.queries, 0, uint32(p.numQueries()))
	}
	vk.CmdFillBuffer(cb, p.status.handle, 0, 16, 0)
	for _, in := range p.inputs {
		if n := 4 * in.typ.Shape.Size(); n > 0 {
			vk.CmdCopyBuffer(cb, p.staging.handle, p.temps[in.tmp].buf.handle, 1, []vk.BufferCopy{{SrcOffset: vk.DeviceSize(in.stage), Size: vk.DeviceSize(n)}})
		}
	}
	memoryBarrier(cb, vk.PipelineStageTransferBit, vk.PipelineStageComputeShaderBit,
		vk.AccessTransferWriteBit, vk.AccessShaderReadBit|vk.AccessShaderWriteBit)
	// A barrier goes in only before a step that reads a buffer written since
	// the last one, or writes a buffer read or written since then.
	// The status counts as written by the checks and read by gated steps.
	written, read := map[vk.Buffer]bool{}, map[vk.Buffer]bool{}
	statusWritten := false
	for i, s := range p.steps {
		out := bufOf(s.out).handle
		need := written[out] || read[out] || (s.gated && statusWritten)
		for _, r := range s.in {
			need = need || written[bufOf(r).handle]
		}
		if need {
			memoryBarrier(cb, vk.PipelineStageComputeShaderBit, vk.PipelineStageComputeShaderBit,
				vk.AccessShaderWriteBit, vk.AccessShaderReadBit|vk.AccessShaderWriteBit)
			clear(written)
			clear(read)
			statusWritten = false
		}
		statusWritten = statusWritten || s.fallible
		written[out] = true
		for _, r := range s.in {
			read[bufOf(r).handle] = true
		}
		p.dispatch(cb, s, p.sets[i], i)
	}
	memoryBarrier(cb, vk.PipelineStageComputeShaderBit, vk.PipelineStageTransferBit|vk.PipelineStageComputeShaderBit,
		vk.AccessShaderWriteBit, vk.AccessTransferReadBit|vk.AccessShaderReadBit|vk.AccessShaderWriteBit)
	for _, o := range p.outputs {
		if n := 4 * o.typ.Shape.Size(); n > 0 {
			vk.CmdCopyBuffer(cb, bufOf(o.val).handle, p.staging.handle, 1, []vk.BufferCopy{{DstOffset: vk.DeviceSize(o.stage), Size: vk.DeviceSize(n)}})
		}
	}
	vk.CmdCopyBuffer(cb, p.status.handle, p.staging.handle, 1, []vk.BufferCopy{{DstOffset: vk.DeviceSize(p.statusAt), Size: 16}})
	if len(p.updates) > 0 {
		// The update copies overwrite residents the output copies read.
		memoryBarrier(cb, vk.PipelineStageTransferBit|vk.PipelineStageComputeShaderBit, vk.PipelineStageComputeShaderBit,
			vk.AccessTransferReadBit|vk.AccessShaderWriteBit, vk.AccessShaderReadBit|vk.AccessShaderWriteBit)
		for i, s := range p.updates {
			p.dispatch(cb, s, p.sets[len(p.steps)+i], len(p.steps)+i)
		}
	}
	hostBarrier(cb)
	if err := check("vkEndCommandBuffer", vk.EndCommandBuffer(cb)); err != nil {
		return err
	}
	p.bound = res
	return nil
}

func (p *program) numQueries() int { return 2 * (len(p.steps) + len(p.updates)) }

// dispatch records step s, the k-th of the program.
func (p *program) dispatch(cb vk.CommandBuffer, s step, set vk.DescriptorSet, k int) {
	c := p.c
	if p.queries != nil {
		vk.CmdWriteTimestamp(cb, vk.PipelineStageTopOfPipeBit, p.queries, uint32(2*k))
		defer vk.CmdWriteTimestamp(cb, vk.PipelineStageBottomOfPipeBit, p.queries, uint32(2*k+1))
	}
	pipe := c.pipes[pipelineKey{s.shader, s.op, s.dt, s.spec}]
	vk.CmdBindPipeline(cb, vk.PipelineBindPointCompute, pipe)
	vk.CmdBindDescriptorSets(cb, vk.PipelineBindPointCompute, c.pipeLay, 0, 1, onHeap(set), 0, nil)
	param := s.param
	vk.CmdPushConstants(cb, c.pipeLay, vk.ShaderStageFlags(vk.ShaderStageComputeBit), 0, 4, unsafe.Pointer(&param))
	vk.CmdDispatch(cb, s.groups[0], s.groups[1], s.groups[2])
}

// run binds inputs and residents, submits the program and reads back its
// outputs.
func (p *program) run(resident map[string]*residentTensor, inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	for _, in := range p.inputs {
		t, ok := inputs[in.name]
		if !ok || t == nil {
			return nil, fmt.Errorf("vulkan: program %d: input %q (%v) is missing", p.id, in.name, in.typ)
		}
		if !t.Type.Equal(in.typ) {
			return nil, fmt.Errorf("vulkan: program %d: input %q is %v, expected %v", p.id, in.name, t.Type, in.typ)
		}
		if err := t.Check(); err != nil {
			return nil, fmt.Errorf("vulkan: program %d: input %q: %v", p.id, in.name, err)
		}
	}
	res := make([]*residentTensor, len(p.residents))
	changed := p.bound == nil
	for i, s := range p.residents {
		r, ok := resident[s.name]
		if !ok {
			return nil, fmt.Errorf("vulkan: program %d reads %q (%v), which is not set (SetTensor it first)", p.id, s.name, s.typ)
		}
		if !r.typ.Equal(s.typ) {
			return nil, fmt.Errorf("vulkan: program %d reads %q as %v, but the backend holds %v", p.id, s.name, s.typ, r.typ)
		}
		res[i] = r
		changed = changed || p.bound[i] != r
	}
	c := p.c
	c.lock()
	defer c.unlock()
	if changed {
		if err := p.record(res); err != nil {
			return nil, err
		}
	}
	stage := p.staging.bytes()
	for _, in := range p.inputs {
		copy(stage[in.stage:], tensorBytes(inputs[in.name]))
	}
	if err := c.submitAndWait(p.cb); err != nil {
		return nil, err
	}
	st := stage[p.statusAt:]
	if binary.LittleEndian.Uint32(st) != 0 {
		node := binary.LittleEndian.Uint32(st[4:])
		val := int32(binary.LittleEndian.Uint32(st[8:]))
		pos := binary.LittleEndian.Uint32(st[12:])
		f := p.fallible[node]
		what := "id"
		if f.op == graph.OpCrossEntropy {
			what = "label"
		}
		return nil, fmt.Errorf("vulkan: program %d: %s (node %d): %s %d at position %d is outside 0..%d; no update was applied", p.id, f.op, node, what, val, pos, f.rows-1)
	}
	outs := make(map[string]*graph.Tensor, len(p.outputs))
	for _, o := range p.outputs {
		t := graph.NewTensor(o.typ.DType, o.typ.Shape...)
		copy(tensorBytes(t), stage[o.stage:])
		outs[o.name] = t
	}
	return outs, nil
}

// profile reads the timestamps of the last run; c.mu must be held.
func (p *program) profile() ([]StepTime, error) {
	if p.queries == nil {
		return nil, fmt.Errorf("vulkan: program %d was not compiled with Options.Profile (or the device has no timestamps)", p.id)
	}
	n := p.numQueries()
	if n == 0 || p.bound == nil {
		return nil, nil
	}
	ts := make([]uint64, n)
	if err := check("vkGetQueryPoolResults", vk.GetQueryPoolResults(p.c.dev, p.queries, 0, uint32(n), uint(8*n),
		unsafe.Pointer(&ts[0]), 8, vk.QueryResultFlags(vk.QueryResult64Bit|vk.QueryResultWaitBit))); err != nil {
		return nil, err
	}
	period := float64(p.c.phys.limits.TimestampPeriod)
	mask := ^uint64(0)
	if b := p.c.phys.tsBits; b < 64 {
		mask = 1<<b - 1
	}
	all := append(slices.Clone(p.steps), p.updates...)
	out := make([]StepTime, len(all))
	for k, s := range all {
		out[k] = StepTime{Node: s.node, Kernel: s.label, Nanos: float64((ts[2*k+1]-ts[2*k])&mask) * period}
	}
	return out, nil
}

// assignBuffers gives every temp a device buffer. Walking the steps in
// order, a temp takes a free buffer when its first step writes it and
// gives it back after the last step that reads it, so a program needs
// about as much memory as its widest point rather than the sum of its
// values. The barriers of record see buffers, not values, so a reused
// buffer gets the barrier its new writer needs.
func (p *program) assignBuffers() error {
	c := p.c
	for _, o := range p.g.Outputs {
		if r := p.vals[o.Value]; r.res < 0 {
			p.temps[r.tmp].pinned = true
		}
	}
	for _, u := range p.updates {
		for _, r := range u.in {
			if r.res < 0 {
				p.temps[r.tmp].pinned = true
			}
		}
	}
	first := make([]int, len(p.temps))
	last := make([]int, len(p.temps))
	for i := range first {
		first[i], last[i] = -1, -1
	}
	use := func(r ref, k int) {
		if r.res >= 0 {
			return
		}
		if first[r.tmp] < 0 {
			first[r.tmp] = k
		}
		last[r.tmp] = k
	}
	for k, s := range p.steps {
		use(s.out, k)
		for _, r := range s.in {
			use(r, k)
		}
	}
	alloc := func(size uint64) (*buffer, error) {
		b, err := c.device.newBuffer(size)
		if err == nil {
			p.ownedBufs = append(p.ownedBufs, b)
		}
		return b, err
	}
	for i := range p.temps {
		t := &p.temps[i]
		switch {
		case t.pinned:
			b, err := alloc(t.size)
			if err != nil {
				return err
			}
			t.buf = b
			if err := c.upload(b, t.init); err != nil {
				return err
			}
			t.init = nil
		case first[i] < 0 && t.size == 0: // empty: never written or read
			t.buf = c.dummy
		case first[i] < 0:
			b, err := alloc(t.size)
			if err != nil {
				return err
			}
			t.buf = b
		}
	}
	startAt := make([][]int, len(p.steps))
	endAt := make([][]int, len(p.steps))
	for i, t := range p.temps {
		if t.buf == nil {
			startAt[first[i]] = append(startAt[first[i]], i)
			endAt[last[i]] = append(endAt[last[i]], i)
		}
	}
	var free []*buffer
	for k := range p.steps {
		for _, i := range startAt[k] {
			need := max(p.temps[i].size, 4)
			best := -1
			for j, b := range free { // the smallest free buffer that fits, wasting at most half
				if b.size >= need && b.size <= 2*need && (best < 0 || b.size < free[best].size) {
					best = j
				}
			}
			if best >= 0 {
				p.temps[i].buf = free[best]
				free = append(free[:best], free[best+1:]...)
				continue
			}
			b, err := alloc(need)
			if err != nil {
				return err
			}
			p.temps[i].buf = b
		}
		for _, i := range endAt[k] {
			free = append(free, p.temps[i].buf)
		}
	}
	return nil
}

// lowerElementwise builds node i's expression from its inputs (inlining
// those kept as expressions) and either keeps it (defer) or runs it.
func (p *program) lowerElementwise(i int, n *graph.Node, inT []graph.Type, exprs []*expr, keep bool, materialize func(graph.Value)) error {
	var op uint32
	dt := dtCode(inT[0].DType)
	switch {
	case n.Op == graph.OpCast:
		op = opCastF2I
		if inT[0].DType == graph.I32 {
			op = opCastI2F
		}
	case n.Op == graph.OpWhere:
		op, dt = opWhere, dtCode(n.Type.DType)
	default:
		var ok bool
		op, ok = elementwise[n.Op]
		if !ok || (inT[0].DType == graph.I32 && !intOps[op]) {
			return fmt.Errorf("%s in %v is not supported by the vulkan backend", n.Op, inT[0].DType)
		}
	}
	e := &expr{}
	// Inline what fits; anything else is read from memory.
	loads, ops := 0, 1
	for _, v := range n.Inputs {
		if sub := exprs[v]; sub != nil {
			if loads+len(sub.loads) > maxFusedInputs || ops+len(sub.ops) > maxFusedOps {
				materialize(v)
				loads++
				continue
			}
			loads, ops = loads+len(sub.loads), ops+len(sub.ops)
		} else {
			loads++
		}
	}
	if loads > maxFusedInputs {
		for _, v := range n.Inputs {
			materialize(v)
		}
	}
	args := make([]int, len(n.Inputs))
	for j, v := range n.Inputs {
		if sub := exprs[v]; sub != nil {
			args[j] = e.inline(sub)
			exprs[v] = nil
		} else {
			args[j] = e.load(p.vals[v], inT[j].Shape)
		}
	}
	e.ops = append(e.ops, exprOp{op: op, dt: dt, condFloat: n.Op == graph.OpWhere && inT[0].DType == graph.F32, args: args})
	if keep {
		exprs[i] = e
		return nil
	}
	out, err := p.temp(n.Type)
	if err != nil {
		return err
	}
	p.vals[i] = out
	p.emitExpr(e, out, n.Type.Shape)
	return nil
}

// emitExpr adds the step computing e over shape into out: the plain
// eltwise kernel for a single op, fused.comp for a chain.
func (p *program) emitExpr(e *expr, out ref, shape graph.Shape) {
	count := shape.Size()
	if count == 0 {
		return
	}
	if len(e.ops) == 1 {
		o := e.ops[0]
		in := make([]ref, len(o.args))
		inT := make([]graph.Type, len(o.args))
		for j, a := range o.args {
			in[j], inT[j] = e.loads[a].r, graph.Type{Shape: e.loads[a].shape}
		}
		p.eltwise(o.op, o.dt, out, shape, in, inT, b2u(o.condFloat))
		return
	}
	strides := [][]int{shape.Strides()}
	for _, l := range e.loads {
		strides = append(strides, broadcastStrides(l.shape, shape))
	}
	dims, cs := collapse(shape, strides)
	w := make([]uint32, 80)
	w[0] = uint32(count)
	for d := range dims {
		w[8+d], w[16+d] = uint32(dims[d]), uint32(cs[0][d])
		for k := range e.loads {
			w[25+9*k+d] = uint32(cs[1+k][d])
		}
	}
	slot := func(a int) uint32 {
		if a >= 0 {
			return uint32(a)
		}
		return uint32(len(e.loads) - a - 1)
	}
	// The chain is the pipeline's specialization (fused.comp), the shape
	// its parameters: equal chains of equal rank share a pipeline.
	spec := make([]uint32, 3+4*len(e.ops)) // the constants after them keep their defaults
	spec[0], spec[1], spec[2] = uint32(len(e.loads)), uint32(len(e.ops)), uint32(max(len(dims), 1))
	for j, o := range e.ops {
		spec[3+4*j] = o.word()
		for k, a := range o.args {
			spec[4+4*j+k] = slot(a)
		}
	}
	in := make([]ref, len(e.loads))
	flat := make([]bool, len(e.loads))
	for k, l := range e.loads {
		in[k], flat[k] = l.r, l.shape.Equal(shape)
	}
	p.steps = append(p.steps, step{shader: "fused", spec: packSpec(spec), param: p.addParams(w), out: out, in: in, groups: groupsFor(count, 256), flat: flat})
}

// updateInPlace lets the last elementwise step of an update's value write
// straight into the resident it updates, saving the copy, where that is
// unobservable: the step reads the resident (if at all) only at its own
// index; nothing after it reads the resident, which is neither an output
// nor the source of another update; the value has no other writer, is no
// output and feeds no other update; and no check can fail after it (the
// step is gated on the status, so a failed run still changes nothing).
// It reports which updates it handled.
func (p *program) updateInPlace() []bool {
	done := make([]bool, len(p.g.Updates))
	lastCheck := -1
	for k, s := range p.steps {
		if s.fallible {
			lastCheck = k
		}
	}
	outputs := map[ref]bool{}
	for _, o := range p.g.Outputs {
		outputs[p.vals[o.Value]] = true
	}
	sources := map[ref]int{}
	for _, u := range p.g.Updates {
		sources[p.vals[u.Value]]++
	}
next:
	for ui, u := range p.g.Updates {
		dst, v := p.vals[u.Target], p.vals[u.Value]
		if v.res >= 0 || p.temps[v.tmp].pinned || outputs[v] || outputs[dst] || sources[v] > 1 || sources[dst] > 0 {
			continue
		}
		k := -1
		for j, s := range p.steps {
			if s.out == v {
				if k >= 0 {
					continue next // two writers (pad, concat)
				}
				k = j
			}
		}
		if k < 0 || k <= lastCheck {
			continue
		}
		s := &p.steps[k]
		if !(s.shader == "fused" || (s.shader == "eltwise" && s.op >= opWhere)) {
			continue
		}
		for j, r := range s.in {
			if r == dst && !s.flat[j] {
				continue next
			}
		}
		for _, later := range p.steps[k+1:] {
			if later.out == dst || slices.Contains(later.in, dst) {
				continue next
			}
		}
		s.out = dst
		if lastCheck >= 0 {
			s.gated = true
			if s.shader == "fused" {
				p.words[s.param+5] = 1
			} else {
				p.words[s.param+7] = 1
			}
		}
		for j := k + 1; j < len(p.steps); j++ {
			for a, r := range p.steps[j].in {
				if r == v {
					p.steps[j].in[a] = dst
				}
			}
		}
		p.temps[v.tmp].size = 0 // no longer stored
		p.vals[u.Value] = dst
		done[ui] = true
	}
	return done
}
