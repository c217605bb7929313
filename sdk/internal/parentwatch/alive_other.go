//go:build !unix

package parentwatch

// alive reports true: without a portable check, the host is assumed alive.
func alive(pid int) bool { return true }
