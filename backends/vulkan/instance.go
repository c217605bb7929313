//go:build cgo

// The Vulkan instance: one per process, created on first use, with the
// Khronos validation layer and a messenger that records its messages when
// MOHAWK_VULKAN_VALIDATION=1 or EnableValidation asks for them (debug.go).

package vulkan

import (
	"fmt"
	"sync"

	vk "github.com/vulkan-go/vulkan"
)

var (
	instanceOnce sync.Once
	instance     vk.Instance
	instanceErr  error
)

func getInstance() (vk.Instance, error) {
	instanceOnce.Do(func() {
		pauseGC()
		defer resumeGC()
		if instanceErr = loadLoader(); instanceErr != nil {
			return
		}
		val := newValidationSetup()
		app := &vk.ApplicationInfo{
			SType: vk.StructureTypeApplicationInfo, PApplicationName: "mohawk\x00", PEngineName: "mohawk\x00",
			ApiVersion: vk.MakeVersion(1, 1, 0),
		}
		var inst vk.Instance
		res := vk.CreateInstance(&vk.InstanceCreateInfo{
			SType: vk.StructureTypeInstanceCreateInfo, PNext: val.next, PApplicationInfo: app,
			EnabledLayerCount: uint32(len(val.layers)), PpEnabledLayerNames: val.layers,
			EnabledExtensionCount: uint32(len(val.extensions)), PpEnabledExtensionNames: val.extensions,
		}, nil, &inst)
		if res != vk.Success {
			instanceErr = fmt.Errorf("%w: vkCreateInstance failed: %v (no driver installed? Debian: mesa-vulkan-drivers); use the cpu backend", ErrNoDevice, vk.Error(res))
			return
		}
		if err := vk.InitInstance(inst); err != nil {
			instanceErr = fmt.Errorf("vulkan: %v", err)
			return
		}
		val.start(inst)
		instance = inst
	})
	return instance, instanceErr
}

func hasLayer(name string) bool {
	var n uint32
	if vk.EnumerateInstanceLayerProperties(&n, nil) != vk.Success || n == 0 {
		return false
	}
	props := make([]vk.LayerProperties, n)
	vk.EnumerateInstanceLayerProperties(&n, props)
	for i := range props {
		props[i].Deref()
		if vk.ToString(props[i].LayerName[:]) == name {
			return true
		}
	}
	return false
}
