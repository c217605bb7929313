// Parent-death signal on Linux.

package backend

import "golang.org/x/sys/unix"

// setParentDeathSignal asks the kernel to send this process SIGTERM when its
// parent dies (prctl PR_SET_PDEATHSIG). SIGTERM is not caught by Serve (it
// ignores only interrupts), so it ends the process. The kernel ties the
// signal to the thread that forked this process: see Serve.
func setParentDeathSignal() error {
	return unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGTERM), 0, 0, 0)
}
