//go:build cgo

package vulkan_test

import (
	"testing"

	"github.com/mohawk-distill/mohawk/backends/vulkan"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/backendtest"
)

// TestMatMulBigTiles runs the matmul checks with 128x128 tiles everywhere
// (ordinarily only large products use them).
func TestMatMulBigTiles(t *testing.T) {
	newBackend(t)
	old := vulkan.SetBigTiles(1)
	t.Cleanup(func() { vulkan.SetBigTiles(old) })
	backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t) },
		backendtest.Options{Large: !testing.Short(), Skip: noF64})
}

// TestScatterRows runs the scatter_add checks (and the whole training-step
// and determinism checks) with every scatter_add listing its rows'
// positions first (ordinarily only large ones do).
func TestScatterRows(t *testing.T) {
	newBackend(t)
	old := vulkan.SetScatterRowsFrom(1)
	t.Cleanup(func() { vulkan.SetScatterRowsFrom(old) })
	backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t) },
		backendtest.Options{Large: !testing.Short(), Skip: noF64})
}
