// Command testhost is a plugin host for the tests of package plugins: it
// launches one backend plugin, prints "pid <plugin pid>" on stdout, and then
// leaves by the way -exit names: "normal" (return from main), "error" (exit
// status 1 after an error), or "wait" (block until a signal, which the test
// sends: SIGTERM is handled by CleanupOnSignals, SIGKILL by nothing in this
// process). The tests then check that the plugin process is gone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/mohawk-distill/mohawk/plugins"
)

func main() {
	path := flag.String("plugin", "", "the backend plugin executable")
	exit := flag.String("exit", "normal", "how to leave: normal, error or wait")
	noPdeathsig := flag.Bool("no-pdeathsig", false, "leave the host's death to the plugin's own detection")
	flag.Parse()

	stop := plugins.CleanupOnSignals()
	err := run(*path, *exit, *noPdeathsig)
	stop()
	plugins.Shutdown()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testhost:", err)
		os.Exit(1)
	}
}

func run(path, exit string, noPdeathsig bool) error {
	name, ok := strings.CutPrefix(filepath.Base(path), plugins.KindBackend.Prefix())
	if !ok {
		return fmt.Errorf("%s is not named %s<name>", path, plugins.KindBackend.Prefix())
	}
	f := &plugins.Finder{
		Explicit:  []plugins.Explicit{{Kind: plugins.KindBackend, Name: name, Path: path}},
		Locations: []plugins.Location{},
	}
	found, err := f.Find(plugins.KindBackend, name)
	if err != nil {
		return err
	}
	p, err := plugins.Launch(context.Background(), found, plugins.Options{
		Logger:              zerolog.New(os.Stderr).With().Timestamp().Logger(),
		NoParentDeathSignal: noPdeathsig,
	})
	if err != nil {
		return err
	}
	fmt.Printf("pid %d\n", p.Pid())
	switch exit {
	case "normal":
		return nil
	case "error":
		return errors.New("leaving by error, as asked")
	case "wait":
		for {
			time.Sleep(time.Hour)
		}
	}
	return fmt.Errorf("unknown -exit %q", exit)
}
