//go:build cgo

package vulkan

import "github.com/mohawk-distill/mohawk/sdk/backend"

// DeviceBuffers is the number of device buffers program id owns.
func DeviceBuffers(b *Backend, id backend.ProgramID) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.programs[id].ownedBufs)
}
