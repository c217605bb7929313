// The parent-death signal of the kit's child process on Linux.

package main

import (
	"os/exec"
	"syscall"
)

// setKitProcAttr makes the kernel send the kit's child process SIGTERM when
// mohawk dies, however it dies; the child's CleanupOnSignals then stops the
// plugins it runs.
func setKitProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
