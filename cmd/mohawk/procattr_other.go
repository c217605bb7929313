//go:build !linux

// Without a parent-death signal, the kit's child process runs its checks to
// the end when mohawk is killed, and then stops its plugins.

package main

import "os/exec"

// setKitProcAttr does nothing where there is no parent-death signal.
func setKitProcAttr(*exec.Cmd) {}
