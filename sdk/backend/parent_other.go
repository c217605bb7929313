//go:build !linux

// Parent-death detection without a kernel signal: only the poll of
// watchParent.

package backend

// setParentDeathSignal does nothing where there is no parent-death signal.
func setParentDeathSignal() error { return nil }
