//go:build unix && !linux

package parentwatch

import "syscall"

// alive reports whether the process pid exists (a zombie counts as alive).
func alive(pid int) bool {
	return syscall.Kill(pid, 0) != syscall.ESRCH
}
