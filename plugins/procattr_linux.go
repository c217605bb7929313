// The kernel's parent-death signal for plugin processes on Linux.

package plugins

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel SIGKILL the plugin when the thread
// of the host that started it exits, so a host killed with SIGKILL leaves no
// plugin behind even when the plugin does not watch its parent.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
