//go:build !linux

// Other systems have no parent-death signal; a plugin watches its parent
// itself (sdk Serve).

package plugins

import "os/exec"

func setParentDeathSignal(cmd *exec.Cmd) {}
