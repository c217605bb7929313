//go:build cgo

// Device memory: large blocks from vkAllocateMemory carved into one
// VkBuffer per tensor (first fit, aligned, neighbours merged on free), so a
// program of thousands of values makes a handful of allocations. Buffers
// larger than half a block get a block of their own.

package vulkan

import (
	"fmt"
	"sort"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

// blockSize is the size of one shared memory block.
const blockSize = 64 << 20

// allocator hands out buffers from one memory type.
type allocator struct {
	c        *deviceContext
	want     vk.MemoryPropertyFlags
	typeIdx  int // -1 until the first buffer shows which types fit
	blocks   []*block
	mappable bool
}

type block struct {
	mem       vk.DeviceMemory
	size      uint64
	free      []span // sorted by offset, never adjacent
	mapped    unsafe.Pointer
	dedicated bool
	used      int
}

type span struct{ off, size uint64 }

// buffer is one tensor's storage.
type buffer struct {
	handle vk.Buffer
	size   uint64 // bytes requested
	a      *allocator
	blk    *block
	off    uint64 // within the block
	span   uint64 // bytes taken from the block
}

func newAllocator(c *deviceContext, want vk.MemoryPropertyFlags, _ int) (*allocator, error) {
	return &allocator{c: c, want: want, typeIdx: -1,
		mappable: want&vk.MemoryPropertyFlags(vk.MemoryPropertyHostVisibleBit) != 0}, nil
}

// pickType finds a memory type allowed by bits with the wanted flags.
func (a *allocator) pickType(bits uint32) (int, error) {
	m := &a.c.phys.mem
	for i := 0; i < int(m.MemoryTypeCount); i++ {
		if bits&(1<<i) != 0 && m.MemoryTypes[i].PropertyFlags&a.want == a.want {
			return i, nil
		}
	}
	return -1, fmt.Errorf("vulkan: device %s has no memory type with flags %#x for storage buffers", a.c.phys.name, uint32(a.want))
}

// newBuffer makes a storage buffer of size bytes (at least 4: Vulkan has
// no empty buffers); c.mu must be held.
func (a *allocator) newBuffer(size uint64) (*buffer, error) {
	n := max(size, 4)
	if lim := uint64(a.c.phys.limits.MaxStorageBufferRange); n > lim {
		return nil, fmt.Errorf("vulkan: a tensor of %d bytes exceeds the device's largest storage buffer (%d bytes)", n, lim)
	}
	var h vk.Buffer
	if err := check("vkCreateBuffer", vk.CreateBuffer(a.c.dev, &vk.BufferCreateInfo{
		SType: vk.StructureTypeBufferCreateInfo, Size: vk.DeviceSize(n),
		Usage:       vk.BufferUsageFlags(vk.BufferUsageStorageBufferBit | vk.BufferUsageTransferSrcBit | vk.BufferUsageTransferDstBit),
		SharingMode: vk.SharingModeExclusive,
	}, nil, &h)); err != nil {
		return nil, err
	}
	var req vk.MemoryRequirements
	vk.GetBufferMemoryRequirements(a.c.dev, h, &req)
	req.Deref()
	if a.typeIdx < 0 {
		t, err := a.pickType(req.MemoryTypeBits)
		if err != nil {
			vk.DestroyBuffer(a.c.dev, h, nil)
			return nil, err
		}
		a.typeIdx = t
	}
	b := &buffer{handle: h, size: size, a: a}
	if err := a.place(b, uint64(req.Size), uint64(req.Alignment)); err != nil {
		vk.DestroyBuffer(a.c.dev, h, nil)
		return nil, err
	}
	if err := check("vkBindBufferMemory", vk.BindBufferMemory(a.c.dev, h, b.blk.mem, vk.DeviceSize(b.off))); err != nil {
		a.release(b)
		vk.DestroyBuffer(a.c.dev, h, nil)
		return nil, err
	}
	return b, nil
}

// place finds room for size bytes aligned to align.
func (a *allocator) place(b *buffer, size, align uint64) error {
	size = (size + 255) &^ 255
	if size > blockSize/2 {
		blk, err := a.newBlock(size)
		if err != nil {
			return err
		}
		blk.dedicated, blk.free, blk.used = true, nil, 1
		b.blk, b.off, b.span = blk, 0, size
		return nil
	}
	for _, blk := range a.blocks {
		if blk.dedicated {
			continue
		}
		if off, ok := blk.take(size, align); ok {
			b.blk, b.off, b.span = blk, off, size
			return nil
		}
	}
	blk, err := a.newBlock(blockSize)
	if err != nil {
		return err
	}
	off, _ := blk.take(size, align)
	b.blk, b.off, b.span = blk, off, size
	return nil
}

func (a *allocator) newBlock(size uint64) (*block, error) {
	var mem vk.DeviceMemory
	res := vk.AllocateMemory(a.c.dev, &vk.MemoryAllocateInfo{
		SType: vk.StructureTypeMemoryAllocateInfo, AllocationSize: vk.DeviceSize(size), MemoryTypeIndex: uint32(a.typeIdx),
	}, nil, &mem)
	if res != vk.Success {
		kind := "device"
		if a.mappable {
			kind = "host-visible"
		}
		return nil, fmt.Errorf("vulkan: out of %s memory allocating %d MiB on %s (%v); use smaller batches or the cpu backend", kind, size>>20, a.c.phys.name, vk.Error(res))
	}
	blk := &block{mem: mem, size: size, free: []span{{0, size}}}
	if a.mappable {
		var p unsafe.Pointer
		if err := check("vkMapMemory", vk.MapMemory(a.c.dev, mem, 0, vk.DeviceSize(size), 0, &p)); err != nil {
			vk.FreeMemory(a.c.dev, mem, nil)
			return nil, err
		}
		blk.mapped = p
	}
	a.blocks = append(a.blocks, blk)
	return blk, nil
}

// take carves size bytes at an offset aligned to align, first fit.
func (blk *block) take(size, align uint64) (uint64, bool) {
	for i, s := range blk.free {
		off := (s.off + align - 1) / align * align
		if off+size > s.off+s.size {
			continue
		}
		var rest []span
		if off > s.off {
			rest = append(rest, span{s.off, off - s.off})
		}
		if end := off + size; end < s.off+s.size {
			rest = append(rest, span{end, s.off + s.size - end})
		}
		blk.free = append(blk.free[:i], append(rest, blk.free[i+1:]...)...)
		blk.used++
		return off, true
	}
	return 0, false
}

// give returns a span and merges it with its neighbours.
func (blk *block) give(off, size uint64) {
	blk.used--
	i := sort.Search(len(blk.free), func(i int) bool { return blk.free[i].off > off })
	blk.free = append(blk.free, span{})
	copy(blk.free[i+1:], blk.free[i:])
	blk.free[i] = span{off, size}
	if i+1 < len(blk.free) && blk.free[i].off+blk.free[i].size == blk.free[i+1].off {
		blk.free[i].size += blk.free[i+1].size
		blk.free = append(blk.free[:i+1], blk.free[i+2:]...)
	}
	if i > 0 && blk.free[i-1].off+blk.free[i-1].size == blk.free[i].off {
		blk.free[i-1].size += blk.free[i].size
		blk.free = append(blk.free[:i], blk.free[i+1:]...)
	}
}

func (a *allocator) release(b *buffer) {
	blk := b.blk
	if blk == nil {
		return
	}
	b.blk = nil
	if blk.dedicated {
		a.dropBlock(blk)
		return
	}
	blk.give(b.off, b.span)
	if blk.used == 0 { // give the memory back to the driver
		a.dropBlock(blk)
	}
}

func (a *allocator) dropBlock(blk *block) {
	if blk.mapped != nil {
		vk.UnmapMemory(a.c.dev, blk.mem)
	}
	vk.FreeMemory(a.c.dev, blk.mem, nil)
	for i, x := range a.blocks {
		if x == blk {
			a.blocks = append(a.blocks[:i], a.blocks[i+1:]...)
			break
		}
	}
}

// free destroys b and returns its memory; c.mu must be held.
func (b *buffer) free() {
	if b == nil || b.handle == nil {
		return
	}
	vk.DestroyBuffer(b.a.c.dev, b.handle, nil)
	b.handle = nil
	b.a.release(b)
}

// bytes is the mapped memory of a host-visible buffer.
func (b *buffer) bytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Add(b.blk.mapped, b.off)), b.size)
}
