// Parent-death signal on Linux.

package parentwatch

import "golang.org/x/sys/unix"

// setParentDeathSignal asks the kernel to send this process SIGTERM when its
// parent dies (prctl PR_SET_PDEATHSIG). go-plugin's Serve does not catch
// SIGTERM (it ignores only interrupts), so the signal ends the process.
func setParentDeathSignal() error {
	return unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGTERM), 0, 0, 0)
}
