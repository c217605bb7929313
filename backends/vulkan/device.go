//go:build cgo

// Devices: listing, selection by index or name, and one shared context per
// selected device (queue, shader pipelines, memory, one-shot submissions).

package vulkan

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	vk "github.com/vulkan-go/vulkan"
)

var (
	contextsMu sync.Mutex
	contexts   = map[int]*deviceContext{}
)

// physicalDevice is one device the instance lists.
type physicalDevice struct {
	index  int
	handle vk.PhysicalDevice
	name   string
	kind   string // "gpu" or "cpu"
	memory int64  // bytes of its device-local heaps
	family int    // a queue family with compute, -1 if none
	props  vk.PhysicalDeviceProperties
	limits vk.PhysicalDeviceLimits
	mem    vk.PhysicalDeviceMemoryProperties
	tsBits uint32 // timestamp bits of the compute family
	feat   deviceFeatures
}

// listDevices lists the instance's devices in the loader's order.
func listDevices() ([]*physicalDevice, error) {
	inst, err := getInstance()
	if err != nil {
		return nil, err
	}
	pauseGC()
	defer resumeGC()
	var n uint32
	if res := vk.EnumeratePhysicalDevices(inst, &n, nil); res != vk.Success {
		return nil, fmt.Errorf("%w: vkEnumeratePhysicalDevices: %v", ErrNoDevice, vk.Error(res))
	}
	handles := make([]vk.PhysicalDevice, n)
	vk.EnumeratePhysicalDevices(inst, &n, handles)
	var out []*physicalDevice
	for i, h := range handles[:n] {
		d := &physicalDevice{index: i, handle: h, family: -1}
		// Out-parameters are locals: cgo refuses pointers into Go objects
		// that hold Go pointers.
		var props vk.PhysicalDeviceProperties
		vk.GetPhysicalDeviceProperties(h, &props)
		props.Deref()
		d.props = props
		d.limits = d.props.Limits
		d.limits.Deref()
		d.name = vk.ToString(d.props.DeviceName[:])
		d.kind = "gpu"
		d.feat = queryFeatures(inst, h)
		if d.props.DeviceType == vk.PhysicalDeviceTypeCpu {
			d.kind = "cpu"
		}
		var mem vk.PhysicalDeviceMemoryProperties
		vk.GetPhysicalDeviceMemoryProperties(h, &mem)
		mem.Deref()
		d.mem = mem
		for j := uint32(0); j < d.mem.MemoryHeapCount; j++ {
			d.mem.MemoryHeaps[j].Deref()
			if d.mem.MemoryHeaps[j].Flags&vk.MemoryHeapFlags(vk.MemoryHeapDeviceLocalBit) != 0 {
				d.memory += int64(d.mem.MemoryHeaps[j].Size)
			}
		}
		for j := uint32(0); j < d.mem.MemoryTypeCount; j++ {
			d.mem.MemoryTypes[j].Deref()
		}
		var nf uint32
		vk.GetPhysicalDeviceQueueFamilyProperties(h, &nf, nil)
		fams := make([]vk.QueueFamilyProperties, nf)
		vk.GetPhysicalDeviceQueueFamilyProperties(h, &nf, fams)
		for j := range fams {
			fams[j].Deref()
			if fams[j].QueueFlags&vk.QueueFlags(vk.QueueComputeBit) != 0 {
				d.family, d.tsBits = j, fams[j].TimestampValidBits
				break
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// selectDevice picks a device by Options: a name substring (case
// insensitive), else an index, else the first discrete or integrated GPU,
// else the first device with a compute queue.
func selectDevice(devs []*physicalDevice, opts Options) (*physicalDevice, error) {
	var names []string
	for _, d := range devs {
		names = append(names, fmt.Sprintf("%d: %s", d.index, d.name))
	}
	listed := strings.Join(names, "; ")
	if len(devs) == 0 {
		return nil, fmt.Errorf("%w: the loader lists no device (is a driver installed? Debian: mesa-vulkan-drivers); use the cpu backend", ErrNoDevice)
	}
	usable := func(d *physicalDevice) error {
		if d.family < 0 {
			return fmt.Errorf("%w: device %d (%s) has no compute queue", ErrNoDevice, d.index, d.name)
		}
		return d.checkLimits()
	}
	sel := opts.Device
	if sel == "" {
		sel = os.Getenv(DeviceEnv)
	}
	if sel != "" {
		if i, err := strconv.Atoi(sel); err == nil {
			if i < 0 || i >= len(devs) {
				return nil, fmt.Errorf("%w: device index %d is out of range (devices: %s)", ErrNoDevice, i, listed)
			}
			return devs[i], usable(devs[i])
		}
		for _, d := range devs {
			if strings.Contains(strings.ToLower(d.name), strings.ToLower(sel)) {
				return d, usable(d)
			}
		}
		return nil, fmt.Errorf("%w: no device name contains %q (devices: %s)", ErrNoDevice, sel, listed)
	}
	for _, pass := range []bool{true, false} {
		for _, d := range devs {
			if d.family >= 0 && d.checkLimits() == nil && (!pass || d.kind == "gpu") {
				return d, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: no device has a compute queue (devices: %s)", ErrNoDevice, listed)
}

// checkLimits reports a device whose limits the shaders exceed: 256
// invocations per workgroup, numBindings storage buffers per dispatch.
func (d *physicalDevice) checkLimits() error {
	l := &d.limits
	if l.MaxComputeWorkGroupInvocations < 256 || l.MaxComputeWorkGroupSize[0] < 256 || l.MaxComputeWorkGroupSize[1] < 16 {
		return fmt.Errorf("%w: device %d (%s) allows %d invocations per workgroup (sizes %v); the vulkan backend needs 256; use the cpu backend",
			ErrNoDevice, d.index, d.name, l.MaxComputeWorkGroupInvocations, l.MaxComputeWorkGroupSize)
	}
	if l.MaxPerStageDescriptorStorageBuffers < numBindings || l.MaxComputeSharedMemorySize < 16384 {
		return fmt.Errorf("%w: device %d (%s) allows %d storage buffers per shader and %d bytes of shared memory; the vulkan backend needs %d and 16384; use the cpu backend",
			ErrNoDevice, d.index, d.name, l.MaxPerStageDescriptorStorageBuffers, l.MaxComputeSharedMemorySize, numBindings)
	}
	return nil
}

// deviceContext is a logical device shared by every Backend on one
// physical device. mu serialises the queue, the pipeline cache and the
// allocator.
type deviceContext struct {
	mu       sync.Mutex
	phys     *physicalDevice
	dev      vk.Device
	queue    vk.Queue
	cmdPool  vk.CommandPool
	fence    vk.Fence
	setLay   vk.DescriptorSetLayout
	pipeLay  vk.PipelineLayout
	modules  map[string]vk.ShaderModule
	pipes    map[pipelineKey]vk.Pipeline
	device   *allocator // device-local tensors
	host     *allocator // host-visible staging
	dummy    *buffer    // bound to bindings a shader does not use
	oneShot  vk.CommandBuffer
	stageBuf *buffer // staging for SetTensor and Tensor
}

// numBindings is the number of storage buffers of the one descriptor set
// layout every shader uses (see shaders/common.glsl).
const numBindings = 9

func openContext(d *physicalDevice) (*deviceContext, error) {
	contextsMu.Lock()
	defer contextsMu.Unlock()
	if c, ok := contexts[d.index]; ok {
		return c, nil
	}
	pauseGC()
	defer resumeGC()
	c := &deviceContext{phys: d, modules: map[string]vk.ShaderModule{}, pipes: map[pipelineKey]vk.Pipeline{}}
	var dev vk.Device
	// Optional features (f16, 16-bit storage, cooperative matrices) are
	// enabled through a pNext chain in C memory; see features.go.
	chain, exts, freeChain := d.feat.enableChain()
	res := vk.CreateDevice(d.handle, &vk.DeviceCreateInfo{
		SType:                vk.StructureTypeDeviceCreateInfo,
		PNext:                chain,
		QueueCreateInfoCount: 1,
		PQueueCreateInfos: []vk.DeviceQueueCreateInfo{{
			SType: vk.StructureTypeDeviceQueueCreateInfo, QueueFamilyIndex: uint32(d.family),
			QueueCount: 1, PQueuePriorities: onHeap[float32](1),
		}},
		EnabledExtensionCount:   uint32(len(exts)),
		PpEnabledExtensionNames: onHeap(exts...),
	}, nil, &dev)
	freeChain()
	if res != vk.Success {
		return nil, fmt.Errorf("vulkan: creating a device on %s: %v", d.name, vk.Error(res))
	}
	c.dev = dev
	var (
		queue   vk.Queue
		cmdPool vk.CommandPool
		fence   vk.Fence
		setLay  vk.DescriptorSetLayout
		pipeLay vk.PipelineLayout
	)
	vk.GetDeviceQueue(dev, uint32(d.family), 0, &queue)
	c.queue = queue
	if err := check("vkCreateCommandPool", vk.CreateCommandPool(dev, &vk.CommandPoolCreateInfo{
		SType: vk.StructureTypeCommandPoolCreateInfo, QueueFamilyIndex: uint32(d.family),
		Flags: vk.CommandPoolCreateFlags(vk.CommandPoolCreateResetCommandBufferBit),
	}, nil, &cmdPool)); err != nil {
		return nil, err
	}
	c.cmdPool = cmdPool
	if err := check("vkCreateFence", vk.CreateFence(dev, &vk.FenceCreateInfo{SType: vk.StructureTypeFenceCreateInfo}, nil, &fence)); err != nil {
		return nil, err
	}
	c.fence = fence
	bindings := make([]vk.DescriptorSetLayoutBinding, numBindings)
	for i := range bindings {
		bindings[i] = vk.DescriptorSetLayoutBinding{
			Binding: uint32(i), DescriptorType: vk.DescriptorTypeStorageBuffer, DescriptorCount: 1,
			StageFlags: vk.ShaderStageFlags(vk.ShaderStageComputeBit),
		}
	}
	if err := check("vkCreateDescriptorSetLayout", vk.CreateDescriptorSetLayout(dev, &vk.DescriptorSetLayoutCreateInfo{
		SType: vk.StructureTypeDescriptorSetLayoutCreateInfo, BindingCount: numBindings, PBindings: bindings,
	}, nil, &setLay)); err != nil {
		return nil, err
	}
	c.setLay = setLay
	if err := check("vkCreatePipelineLayout", vk.CreatePipelineLayout(dev, &vk.PipelineLayoutCreateInfo{
		SType: vk.StructureTypePipelineLayoutCreateInfo, SetLayoutCount: 1, PSetLayouts: onHeap(setLay),
		PushConstantRangeCount: 1,
		PPushConstantRanges:    []vk.PushConstantRange{{StageFlags: vk.ShaderStageFlags(vk.ShaderStageComputeBit), Size: 4}},
	}, nil, &pipeLay)); err != nil {
		return nil, err
	}
	c.pipeLay = pipeLay
	var err error
	if c.device, err = newAllocator(c, vk.MemoryPropertyFlags(vk.MemoryPropertyDeviceLocalBit), 0); err != nil {
		return nil, err
	}
	if c.host, err = newAllocator(c, vk.MemoryPropertyFlags(vk.MemoryPropertyHostVisibleBit|vk.MemoryPropertyHostCoherentBit), 0); err != nil {
		return nil, err
	}
	if c.dummy, err = c.device.newBuffer(16); err != nil {
		return nil, err
	}
	cbs := make([]vk.CommandBuffer, 1)
	if err := check("vkAllocateCommandBuffers", vk.AllocateCommandBuffers(dev, &vk.CommandBufferAllocateInfo{
		SType: vk.StructureTypeCommandBufferAllocateInfo, CommandPool: c.cmdPool,
		Level: vk.CommandBufferLevelPrimary, CommandBufferCount: 1,
	}, cbs)); err != nil {
		return nil, err
	}
	c.oneShot = cbs[0]
	contexts[d.index] = c
	return c, nil
}

// check turns a failed Vulkan result into an error naming the call.
func check(what string, res vk.Result) error {
	if res == vk.Success {
		return nil
	}
	if res == vk.ErrorOutOfDeviceMemory || res == vk.ErrorOutOfHostMemory {
		return fmt.Errorf("vulkan: %s: out of memory (%v)", what, vk.Error(res))
	}
	return fmt.Errorf("vulkan: %s: %v", what, vk.Error(res))
}

// submitAndWait submits cb and waits for it; c.mu must be held.
func (c *deviceContext) submitAndWait(cb vk.CommandBuffer) error {
	if err := check("vkResetFences", vk.ResetFences(c.dev, 1, onHeap(c.fence))); err != nil {
		return err
	}
	if err := check("vkQueueSubmit", vk.QueueSubmit(c.queue, 1, []vk.SubmitInfo{{
		SType: vk.StructureTypeSubmitInfo, CommandBufferCount: 1, PCommandBuffers: onHeap(cb),
	}}, c.fence)); err != nil {
		return err
	}
	// The wait passes no structs; the collector may run meanwhile.
	resumeGC()
	res := vk.WaitForFences(c.dev, 1, onHeap(c.fence), vk.True, uint64(submitTimeout.Nanoseconds()))
	pauseGC()
	if res == vk.Timeout {
		return fmt.Errorf("vulkan: the device did not finish a submission within %v (hung, or far too much work in one run)", submitTimeout)
	}
	if res == vk.ErrorDeviceLost {
		return fmt.Errorf("vulkan: device %s lost (a driver reset, or a kernel fault); restart the backend", c.phys.name)
	}
	return check("vkWaitForFences", res)
}

// submitTimeout bounds the wait for one submission.
const submitTimeout = 10 * time.Minute

// pipelineKey names a compute pipeline: a shader and its specialization
// constants: op and dtype (ids 0 and 1), then spec's words (ids 2, 3, ...,
// packed little-endian into a string so the key stays comparable).
type pipelineKey struct {
	shader string
	op, dt uint32
	spec   string
}

// packSpec packs specialization words for pipelineKey.spec.
func packSpec(words []uint32) string {
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return string(b)
}

// pipeline returns the pipeline of k, creating it once; c.mu must be held.
func (c *deviceContext) pipeline(k pipelineKey) (vk.Pipeline, error) {
	if p, ok := c.pipes[k]; ok {
		return p, nil
	}
	mod, ok := c.modules[k.shader]
	if !ok {
		code, err := shaderCode(k.shader)
		if err != nil {
			return nil, err
		}
		if err := check("vkCreateShaderModule "+k.shader, vk.CreateShaderModule(c.dev, &vk.ShaderModuleCreateInfo{
			SType: vk.StructureTypeShaderModuleCreateInfo, CodeSize: uint(len(code) * 4), PCode: code,
		}, nil, &mod)); err != nil {
			return nil, err
		}
		c.modules[k.shader] = mod
	}
	spec := make([]uint32, 2+len(k.spec)/4)
	spec[0], spec[1] = k.op, k.dt
	for i := 2; i < len(spec); i++ {
		spec[i] = binary.LittleEndian.Uint32([]byte(k.spec[4*(i-2):]))
	}
	entries := make([]vk.SpecializationMapEntry, len(spec))
	for i := range entries {
		entries[i] = vk.SpecializationMapEntry{ConstantID: uint32(i), Offset: uint32(4 * i), Size: 4}
	}
	info := vk.ComputePipelineCreateInfo{
		SType: vk.StructureTypeComputePipelineCreateInfo,
		Stage: vk.PipelineShaderStageCreateInfo{
			SType: vk.StructureTypePipelineShaderStageCreateInfo, Stage: vk.ShaderStageComputeBit,
			Module: mod, PName: "main\x00",
			PSpecializationInfo: []vk.SpecializationInfo{{
				MapEntryCount: uint32(len(entries)), PMapEntries: entries,
				DataSize: uint(4 * len(spec)), PData: unsafe.Pointer(&spec[0]),
			}},
		},
		Layout: c.pipeLay,
	}
	pipes := make([]vk.Pipeline, 1)
	if err := check("vkCreateComputePipelines "+k.shader, vk.CreateComputePipelines(c.dev, nil, 1, []vk.ComputePipelineCreateInfo{info}, nil, pipes)); err != nil {
		return nil, err
	}
	c.pipes[k] = pipes[0]
	return pipes[0], nil
}
