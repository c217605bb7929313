// Parent-death detection for plugin processes: a backend plugin ends when
// the host that started it dies, so that a killed host leaves no orphan.

package backend

import (
	"fmt"
	"os"
	"time"
)

// parentAtStart is the process that started this one, read while the
// package initialises (before main), as early as a Go program can.
var parentAtStart = os.Getppid()

// parentPollInterval is how often watchParent checks the parent.
const parentPollInterval = 500 * time.Millisecond

// watchParent ends the process when its parent, ppid, dies: through the
// kernel where it can (setParentDeathSignal), and through a goroutine that
// exits the process once os.Getppid() no longer returns ppid (an orphan is
// adopted by init or a subreaper). The first check runs at once, after the
// kernel's signal is armed, so a parent that died before is also caught.
func watchParent(ppid int) {
	_ = setParentDeathSignal() // best effort: the poll covers a failure
	stderr := os.Stderr        // go-plugin later points os.Stderr at a pipe to the host
	go pollParent(ppid, parentPollInterval, os.Getppid, func(now int) {
		fmt.Fprintf(stderr, "backend plugin: the host (process %d) is gone (parent is now %d); exiting\n", ppid, now)
		os.Exit(1)
	})
}

// pollParent calls exit with the new parent as soon as getppid stops
// returning ppid, checking every interval.
func pollParent(ppid int, interval time.Duration, getppid func() int, exit func(now int)) {
	for {
		if now := getppid(); now != ppid {
			exit(now)
			return
		}
		time.Sleep(interval)
	}
}
