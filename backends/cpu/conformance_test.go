package cpu_test

import (
	"testing"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/backendtest"
)

// TestConformance runs the backend conformance suite on the CPU backend.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		s := cpu.NewService(cpu.Options{})
		t.Cleanup(s.Close)
		return s
	}, backendtest.Options{Large: !testing.Short()})
}
