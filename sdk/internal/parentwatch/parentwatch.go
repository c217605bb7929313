// Package parentwatch ends a plugin process when the host that started it
// dies, so that a killed host leaves no orphan plugin behind. The Serve
// functions of the plugin kinds call Watch before they serve; the
// ClientConfig functions add HostEnv to the plugin's environment.
package parentwatch

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// AtStart is the process that started this one, read while the package
// initialises (before main), as early as a Go program can.
var AtStart = os.Getppid()

// PollInterval is how often Watch checks the parent and the host.
const PollInterval = 500 * time.Millisecond

// HostPIDVar is the environment variable through which a host tells the
// plugins it starts its process id (see HostEnv).
const HostPIDVar = "MOHAWK_PLUGIN_HOST_PID"

// HostEnv is the entry "HostPIDVar=<this process's id>" that a host adds
// to the environment of a plugin it starts, so that the plugin can tell
// when the host is gone even if it died before the plugin first looked at
// its parent, or if a wrapper process sits between them.
func HostEnv() string { return HostPIDVar + "=" + strconv.Itoa(os.Getpid()) }

// PluginEnv is the whole environment of a plugin this process starts: env
// (the host's own environment when nil) without any inherited HostPIDVar,
// then HostEnv. A host that is itself a plugin's child thus passes its own
// pid, not its parent's. The caller sets go-plugin's SkipHostEnv, since
// go-plugin would otherwise append the host's environment after this one.
func PluginEnv(env []string) []string {
	if env == nil {
		env = os.Environ()
	}
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, HostPIDVar+"=") {
			out = append(out, kv)
		}
	}
	return append(out, HostEnv())
}

// Watch ends the process (status 1) when its parent, ppid, or the host
// named by HostPIDVar, if set, is gone: through the kernel where it can (on
// Linux, prctl PR_SET_PDEATHSIG with SIGTERM, for the parent), and through
// a goroutine that checks every PollInterval whether os.Getppid() still
// returns ppid (an orphan is adopted by init or a subreaper) and whether
// the host still exists. The first check runs at once, after the kernel's
// signal is armed, so a parent or host that died before is also caught;
// HostPIDVar covers a host that died even before AtStart was read (the
// orphan's parent is then already init at start). what names the process
// in the line it writes to stderr before exiting ("mixer plugin").
//
// The kernel ties the parent-death signal to the thread that forked this
// process, so a host written in Go must start plugins from a goroutine that
// is not locked to its OS thread (runtime.LockOSThread): if that thread
// exited, the kernel would take it for the host's death.
func Watch(ppid int, what string) {
	_ = setParentDeathSignal() // best effort: the poll covers a failure
	stderr := os.Stderr        // go-plugin later points os.Stderr at a pipe to the host
	host, err := strconv.Atoi(os.Getenv(HostPIDVar))
	if err != nil || host <= 0 {
		host = 0
	}
	go poll(PollInterval, func() (string, bool) { return gone(ppid, host, os.Getppid(), alive) }, func(why string) {
		fmt.Fprintf(stderr, "%s: %s; exiting\n", what, why)
		os.Exit(1)
	})
}

// gone reports why the plugin should end, if it should: its parent is no
// longer ppid (now is the current parent), or the host (0 for unknown) is
// not alive.
func gone(ppid, host, now int, alive func(int) bool) (string, bool) {
	if now != ppid {
		return fmt.Sprintf("the host (process %d) is gone (parent is now %d)", ppid, now), true
	}
	if host != 0 && !alive(host) {
		return fmt.Sprintf("the host (process %d) is gone", host), true
	}
	return "", false
}

// poll calls exit with the reason as soon as check reports one, checking
// every interval, the first time at once.
func poll(interval time.Duration, check func() (string, bool), exit func(why string)) {
	for {
		if why, ok := check(); ok {
			exit(why)
			return
		}
		time.Sleep(interval)
	}
}
