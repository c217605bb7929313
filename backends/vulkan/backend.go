//go:build cgo

// The Backend: a device context, the resident tensors (params and state)
// that every program reads by name and updates in place, and the
// sdk/backend contract on top.

package vulkan

import (
	"context"
	"fmt"
	"os"
	"sync"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// Backend runs graphs on one Vulkan device. Its methods are safe for
// concurrent use; runs are serialised.
type Backend struct {
	c        *deviceContext
	opts     Options
	mu       sync.Mutex
	resident map[string]*residentTensor
	programs map[backend.ProgramID]*program
	next     backend.ProgramID
	closed   bool
	// profileLog sums the kernel times of every run when ProfileEnv is set.
	profileLog *profileLog
}

// residentTensor is a param or state kept on the device. A program
// recorded against one notices a replacement (after DeleteTensor and
// SetTensor) by its pointer and records its commands again.
type residentTensor struct {
	typ graph.Type
	buf *buffer
}

var _ backend.Backend = (*Backend)(nil)

// New opens the device Options select. The errors wrap ErrNoLoader or
// ErrNoDevice when Vulkan is missing, so callers can fall back to the CPU.
func New(opts Options) (*Backend, error) {
	devs, err := listDevices()
	if err != nil {
		return nil, err
	}
	d, err := selectDevice(devs, opts)
	if err != nil {
		return nil, err
	}
	c, err := openContext(d)
	if err != nil {
		return nil, err
	}
	b := &Backend{c: c, opts: opts, resident: map[string]*residentTensor{}, programs: map[backend.ProgramID]*program{}}
	if os.Getenv(FusionEnv) == "0" {
		b.opts.NoFusion = true
	}
	if path := os.Getenv(ProfileEnv); path != "" {
		b.opts.Profile = true
		b.profileLog = &profileLog{path: path, totals: map[string]*kernelTotal{}}
	}
	return b, nil
}

// Devices lists the Vulkan devices the loader finds.
func Devices() ([]backend.Device, error) {
	devs, err := listDevices()
	if err != nil {
		return nil, err
	}
	out := make([]backend.Device, len(devs))
	for i, d := range devs {
		out[i] = backend.Device{Index: d.index, Name: d.name, Kind: d.kind, MemoryBytes: d.memory}
	}
	return out, nil
}

// DeviceName is the name of the device b runs on.
func (b *Backend) DeviceName() string { return b.c.phys.name }

// Close frees every program and resident tensor of b. The device itself
// stays open for other backends of the process.
func (b *Backend) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	b.c.lock()
	defer b.c.unlock()
	for id, p := range b.programs {
		p.free()
		delete(b.programs, id)
	}
	for name, r := range b.resident {
		r.buf.free()
		delete(b.resident, name)
	}
}

func (b *Backend) Info(ctx context.Context) (*backend.Info, error) {
	d := b.c.phys
	dtypes := []graph.DType{graph.F32, graph.I32}
	if d.feat.f16() { // inside programs only: cast and matmul
		dtypes = append(dtypes, graph.F16)
	}
	return &backend.Info{
		Name: "vulkan", Version: Version, APIVersion: backend.APIVersion,
		Devices:  []backend.Device{{Index: d.index, Name: d.name, Kind: d.kind, MemoryBytes: d.memory}},
		DTypes:   dtypes,
		FusedOps: []graph.Op{graph.OpSoftmax, graph.OpLogSoftmax, graph.OpLayerNorm, graph.OpRMSNorm, graph.OpCrossEntropy},
	}, nil
}

func (b *Backend) checkOpen() error {
	if b.closed {
		return fmt.Errorf("vulkan: the backend is closed")
	}
	return nil
}

// tensorBytes is the host memory of t's data (f32 and i32 are 32-bit words).
func tensorBytes(t *graph.Tensor) []byte {
	switch {
	case t.DType == graph.F32 && len(t.F32) > 0:
		return unsafe.Slice((*byte)(unsafe.Pointer(&t.F32[0])), 4*len(t.F32))
	case t.DType == graph.I32 && len(t.I32) > 0:
		return unsafe.Slice((*byte)(unsafe.Pointer(&t.I32[0])), 4*len(t.I32))
	}
	return nil
}

func checkHostTensor(what string, t *graph.Tensor) error {
	if t == nil {
		return fmt.Errorf("vulkan: %s: nil tensor", what)
	}
	if t.DType != graph.F32 && t.DType != graph.I32 {
		return fmt.Errorf("vulkan: %s: dtype %v is not supported (f32 and i32 only; use the cpu backend for %v)", what, t.DType, t.DType)
	}
	if err := t.Check(); err != nil {
		return fmt.Errorf("vulkan: %s: %v", what, err)
	}
	if n := t.Shape.Size(); n >= 1<<32 {
		return fmt.Errorf("vulkan: %s: %d elements exceed the 2^32 a tensor may hold here", what, n)
	}
	return nil
}

func (b *Backend) SetTensor(ctx context.Context, name string, t *graph.Tensor) error {
	if name == "" {
		return fmt.Errorf("vulkan: SetTensor: empty name")
	}
	if err := checkHostTensor(fmt.Sprintf("SetTensor %q", name), t); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkOpen(); err != nil {
		return err
	}
	b.c.lock()
	defer b.c.unlock()
	if old, ok := b.resident[name]; ok {
		if !old.typ.Equal(t.Type) {
			return fmt.Errorf("vulkan: SetTensor %q: backend holds %v, found %v", name, old.typ, t.Type)
		}
		return b.c.upload(old.buf, tensorBytes(t))
	}
	buf, err := b.c.device.newBuffer(uint64(4 * t.Shape.Size()))
	if err != nil {
		return fmt.Errorf("vulkan: SetTensor %q: %w", name, err)
	}
	if err := b.c.upload(buf, tensorBytes(t)); err != nil {
		buf.free()
		return err
	}
	b.resident[name] = &residentTensor{typ: graph.Type{DType: t.DType, Shape: t.Shape.Clone()}, buf: buf}
	return nil
}

func (b *Backend) Tensor(ctx context.Context, name string) (*graph.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkOpen(); err != nil {
		return nil, err
	}
	r, ok := b.resident[name]
	if !ok {
		return nil, fmt.Errorf("vulkan: no resident tensor %q", name)
	}
	t := graph.NewTensor(r.typ.DType, r.typ.Shape...)
	b.c.lock()
	defer b.c.unlock()
	if err := b.c.download(r.buf, tensorBytes(t)); err != nil {
		return nil, err
	}
	return t, nil
}

func (b *Backend) DeleteTensor(ctx context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.resident[name]
	if !ok {
		return fmt.Errorf("vulkan: no resident tensor %q", name)
	}
	b.c.lock()
	defer b.c.unlock()
	r.buf.free()
	delete(b.resident, name)
	return nil
}

func (b *Backend) Compile(ctx context.Context, g *graph.Graph) (backend.ProgramID, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkOpen(); err != nil {
		return 0, err
	}
	p, err := compile(b.c, g, b.opts.Profile, !b.opts.NoFusion)
	if err != nil {
		return 0, err
	}
	b.next++
	p.id = b.next
	b.programs[b.next] = p
	return b.next, nil
}

func (b *Backend) Run(ctx context.Context, id backend.ProgramID, inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkOpen(); err != nil {
		return nil, err
	}
	p, ok := b.programs[id]
	if !ok {
		return nil, fmt.Errorf("vulkan: no program %d (never compiled, or released)", id)
	}
	out, err := p.run(b.resident, inputs)
	if err == nil && b.profileLog != nil {
		b.c.lock()
		steps, perr := p.profile()
		b.c.unlock()
		if perr == nil {
			b.profileLog.add(uint64(p.id), steps)
		}
	}
	return out, err
}

// Profile returns the GPU time of every dispatch of program id's last run
// (compile it on a Backend with Options.Profile).
func (b *Backend) Profile(id backend.ProgramID) ([]StepTime, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.programs[id]
	if !ok {
		return nil, fmt.Errorf("vulkan: no program %d (never compiled, or released)", id)
	}
	b.c.lock()
	defer b.c.unlock()
	return p.profile()
}

func (b *Backend) Release(ctx context.Context, id backend.ProgramID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.programs[id]
	if !ok {
		return fmt.Errorf("vulkan: no program %d (never compiled, or released)", id)
	}
	b.c.lock()
	defer b.c.unlock()
	p.free()
	delete(b.programs, id)
	return nil
}

// stagingChunk bounds the staging buffer of SetTensor and Tensor: larger
// tensors travel in several submissions.
const stagingChunk = 16 << 20

func (c *deviceContext) staging(n uint64) (*buffer, error) {
	if c.stageBuf != nil && c.stageBuf.size >= n {
		return c.stageBuf, nil
	}
	c.stageBuf.free()
	c.stageBuf = nil
	buf, err := c.host.newBuffer(n)
	if err != nil {
		return nil, err
	}
	c.stageBuf = buf
	return buf, nil
}

// upload copies data into dst through the staging buffer; c.mu held.
func (c *deviceContext) upload(dst *buffer, data []byte) error {
	return c.transfer(dst, data, true)
}

// download copies src into data through the staging buffer; c.mu held.
func (c *deviceContext) download(src *buffer, data []byte) error {
	return c.transfer(src, data, false)
}

func (c *deviceContext) transfer(dev *buffer, data []byte, up bool) error {
	if len(data) == 0 {
		return nil
	}
	st, err := c.staging(uint64(min(len(data), stagingChunk)))
	if err != nil {
		return err
	}
	for off := 0; off < len(data); off += stagingChunk {
		n := min(len(data)-off, stagingChunk)
		if up {
			copy(st.bytes(), data[off:off+n])
		}
		cb := c.oneShot
		if err := check("vkBeginCommandBuffer", vk.BeginCommandBuffer(cb, &vk.CommandBufferBeginInfo{
			SType: vk.StructureTypeCommandBufferBeginInfo, Flags: vk.CommandBufferUsageFlags(vk.CommandBufferUsageOneTimeSubmitBit),
		})); err != nil {
			return err
		}
		if up {
			vk.CmdCopyBuffer(cb, st.handle, dev.handle, 1, []vk.BufferCopy{{SrcOffset: 0, DstOffset: vk.DeviceSize(off), Size: vk.DeviceSize(n)}})
		} else {
			vk.CmdCopyBuffer(cb, dev.handle, st.handle, 1, []vk.BufferCopy{{SrcOffset: vk.DeviceSize(off), DstOffset: 0, Size: vk.DeviceSize(n)}})
			hostBarrier(cb)
		}
		if err := check("vkEndCommandBuffer", vk.EndCommandBuffer(cb)); err != nil {
			return err
		}
		if err := c.submitAndWait(cb); err != nil {
			return err
		}
		if !up {
			copy(data[off:off+n], st.bytes())
		}
	}
	return nil
}

// memoryBarrier orders all memory accesses of the stages src before those
// of dst.
func memoryBarrier(cb vk.CommandBuffer, src, dst vk.PipelineStageFlagBits, srcAccess, dstAccess vk.AccessFlagBits) {
	vk.CmdPipelineBarrier(cb, vk.PipelineStageFlags(src), vk.PipelineStageFlags(dst), 0, 1, []vk.MemoryBarrier{{
		SType: vk.StructureTypeMemoryBarrier, SrcAccessMask: vk.AccessFlags(srcAccess), DstAccessMask: vk.AccessFlags(dstAccess),
	}}, 0, nil, 0, nil)
}

// hostBarrier makes transfer and shader writes visible to the host.
func hostBarrier(cb vk.CommandBuffer) {
	memoryBarrier(cb, vk.PipelineStageTransferBit|vk.PipelineStageComputeShaderBit, vk.PipelineStageHostBit,
		vk.AccessTransferWriteBit|vk.AccessShaderWriteBit, vk.AccessHostReadBit)
}
