package parentwatch

import (
	"bytes"
	"os"
	"strconv"
)

// alive reports whether the process pid exists and has not exited: a
// zombie (state Z or X in /proc/pid/stat) that waits for its parent to reap
// it is gone.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !os.IsNotExist(err)
	}
	// The state follows the command name, which is in parentheses and may
	// itself hold parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return true
	}
	return stat[i+2] != 'Z' && stat[i+2] != 'X'
}
