// Package vulkan is mohawk's GPU backend: it runs IR graphs as SPIR-V
// compute shaders on any Vulkan 1.1 device (NVIDIA, AMD, Intel, Apple
// through MoltenVK, and lavapipe on the CPU for tests), through
// github.com/vulkan-go/vulkan with the loader opened at run time
// (libvulkan.so.1), so the binary starts on machines without Vulkan.
//
// A Backend holds resident tensors (params and state) in device buffers.
// Compile lowers a graph to dispatches of a few shaders (shaders/*.comp):
// elementwise ops and strided copies, reductions, a tiled matmul, cumsum,
// gather, scatter_add and the fused row ops; each (shader, op, dtype) is a
// pipeline specialised by constants. A program owns one buffer per
// computed value, carved from large memory blocks, and one command buffer
// that uploads the inputs, runs every dispatch with a barrier only where a
// dispatch reads or overwrites what an earlier one wrote, reads the outputs
// back and finally copies the updates into the residents (or, for updates
// computed elementwise at the end, such as optimizer steps, writes them in
// place). Elementwise chains run as one dispatch. Run fills the staging
// buffer, submits once and waits. Ids and labels out of range are caught on
// the device; whatever writes a resident checks that status first, so a
// failed run changes nothing.
//
// See README.md for what runs and what does not yet.
package vulkan
