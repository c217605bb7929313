//go:build cgo

package vulkan

import "github.com/mohawk-distill/mohawk/sdk/backend"

// DeviceBuffers is the number of device buffers program id owns.
func DeviceBuffers(b *Backend, id backend.ProgramID) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.programs[id].ownedBufs)
}

// SetBigTiles sets the tile count from which matmuls use 128x128 tiles and
// returns the previous value.
func SetBigTiles(n int) int {
	old := bigTiles
	bigTiles = n
	return old
}

// SetScatterRowsFrom sets the size from which scatter_add lists each row's
// positions first, and returns the previous value.
func SetScatterRowsFrom(n int) int {
	old := scatterRowsFrom
	scatterRowsFrom = n
	return old
}

// SetGemm sets the output size from which matmuls run gemm.comp and the
// tile count from which it uses 128x128 tiles, and returns the previous
// values.
func SetGemm(from, bigTiles int) (int, int) {
	oldFrom, oldBig := gemmFrom, gemmBigTiles
	gemmFrom, gemmBigTiles = from, bigTiles
	return oldFrom, oldBig
}
