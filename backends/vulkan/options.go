package vulkan

import "errors"

// Version is the version of the Vulkan backend.
const Version = "0.1.0"

// Options configure a Backend.
type Options struct {
	// Device selects the device: its index in the loader's list, or a
	// case-insensitive part of its name ("H200", "llvmpipe"). Empty: the
	// MOHAWK_VULKAN_DEVICE variable, else the first GPU, else the first
	// device with a compute queue.
	Device string
	// Profile records a GPU timestamp around every dispatch, for
	// Backend.Profile (where the device's queue supports timestamps).
	Profile bool
	// NoFusion runs every elementwise op as a dispatch of its own (for
	// comparisons; fusion is on by default, or off with MOHAWK_VULKAN_FUSION=0).
	NoFusion bool
}

// StepTime is the GPU time of one dispatch of a program's last run.
type StepTime struct {
	Node   int    // the graph node it computes (-1: an update copy)
	Kernel string // shader and op, such as "matmul" or "eltwise/add"
	Nanos  float64
}

// Environment variables read by the backend.
const (
	// DeviceEnv selects the device when Options.Device is empty: an index,
	// or a part of the device's name.
	DeviceEnv = "MOHAWK_VULKAN_DEVICE"
	// LoaderEnv overrides the loader's file name (a path or a soname).
	LoaderEnv = "MOHAWK_VULKAN_LOADER"
	// ValidationEnv, set to 1, enables the Khronos validation layer where
	// it is installed ("sync" adds its synchronization validation); every
	// warning and error is written to stderr and kept for
	// ValidationMessages (debug.go).
	ValidationEnv = "MOHAWK_VULKAN_VALIDATION"
	// ProfileEnv names a file: every program is profiled and, after each
	// run, the file is rewritten with the GPU time summed per program and
	// kernel over all runs so far (a diagnostic for plugin runs).
	ProfileEnv = "MOHAWK_VULKAN_PROFILE"
	// FusionEnv set to 0 turns elementwise fusion off (Options.NoFusion).
	FusionEnv = "MOHAWK_VULKAN_FUSION"
)

var (
	// ErrNoLoader reports that no Vulkan loader could be opened.
	ErrNoLoader = errors.New("vulkan: no Vulkan loader")
	// ErrNoDevice reports that no usable Vulkan device was found.
	ErrNoDevice = errors.New("vulkan: no usable Vulkan device")
)
