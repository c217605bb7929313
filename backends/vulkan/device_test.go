//go:build cgo

package vulkan

import (
	"errors"
	"strings"
	"testing"
)

// fakeDevice has a compute queue and the limits the shaders need.
func fakeDevice(i int, name, kind string) *physicalDevice {
	d := &physicalDevice{index: i, name: name, kind: kind, family: 0}
	d.limits.MaxComputeWorkGroupInvocations = 1024
	d.limits.MaxComputeWorkGroupSize = [3]uint32{1024, 1024, 64}
	d.limits.MaxPerStageDescriptorStorageBuffers = 16
	d.limits.MaxComputeSharedMemorySize = 49152
	return d
}

// TestSelectDevice: by index, by part of the name, the first GPU by
// default; clear errors naming the devices otherwise. No Vulkan needed.
func TestSelectDevice(t *testing.T) {
	t.Setenv(DeviceEnv, "")
	cpu, gpu := fakeDevice(0, "llvmpipe (LLVM 15)", "cpu"), fakeDevice(1, "NVIDIA H200", "gpu")
	devs := []*physicalDevice{cpu, gpu}
	for _, c := range []struct {
		sel  string
		want *physicalDevice
	}{{"", gpu}, {"0", cpu}, {"1", gpu}, {"h200", gpu}, {"LLVMPIPE", cpu}} {
		d, err := selectDevice(devs, Options{Device: c.sel})
		if err != nil || d != c.want {
			t.Errorf("select %q: %v, %v; expected %s", c.sel, d, err, c.want.name)
		}
	}
	t.Setenv(DeviceEnv, "llvm")
	if d, err := selectDevice(devs, Options{}); err != nil || d != cpu {
		t.Errorf("%s=llvm: %v, %v", DeviceEnv, d, err)
	}
	for _, c := range []struct {
		sel   string
		devs  []*physicalDevice
		parts []string
	}{
		{"7", devs, []string{"index 7", "0: llvmpipe", "1: NVIDIA H200"}},
		{"radeon", devs, []string{`"radeon"`, "NVIDIA H200"}},
		{"", nil, []string{"no device", "cpu backend"}},
	} {
		_, err := selectDevice(c.devs, Options{Device: c.sel})
		if !errors.Is(err, ErrNoDevice) {
			t.Errorf("select %q: %v, expected ErrNoDevice", c.sel, err)
			continue
		}
		for _, p := range c.parts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("select %q: error %q does not name %q", c.sel, err, p)
			}
		}
	}
	small := fakeDevice(0, "Tiny GPU", "gpu")
	small.limits.MaxPerStageDescriptorStorageBuffers = 4
	if _, err := selectDevice([]*physicalDevice{small}, Options{Device: "0"}); err == nil || !strings.Contains(err.Error(), "storage buffers") {
		t.Errorf("a device with 4 storage buffers per shader: %v", err)
	}
	if d, err := selectDevice([]*physicalDevice{small, cpu}, Options{}); err != nil || d != cpu {
		t.Errorf("default selection skips an unusable GPU: %v, %v", d, err)
	}
}
