//go:build !cgo

// Without cgo there is no way to call Vulkan: New says so, and the plugin
// answers every call with that error.

package vulkan

import (
	"fmt"

	"github.com/mohawk-distill/mohawk/sdk/backend"
)

var errNoCgo = fmt.Errorf("%w: this binary was built without cgo (CGO_ENABLED=0); rebuild with cgo, or use the cpu backend", ErrNoLoader)

// Backend is never made without cgo.
type Backend struct{ Unavailable }

// New always fails without cgo.
func New(Options) (*Backend, error) { return nil, errNoCgo }

// Devices always fails without cgo.
func Devices() ([]backend.Device, error) { return nil, errNoCgo }

// DeviceName is empty without cgo.
func (b *Backend) DeviceName() string { return "" }

// Close does nothing without cgo.
func (b *Backend) Close() {}
