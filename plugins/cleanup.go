// Cleanup: every plugin this process launched is stopped on every way out of
// it. A normal or error exit runs the deferred Shutdown; SIGINT and SIGTERM
// run it from CleanupOnSignals; a SIGKILL of the host, which runs nothing,
// is covered by the plugin's parent-death detection in sdk Serve and, on
// Linux, by the parent-death signal Launch sets.

package plugins

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"

	goplugin "github.com/hashicorp/go-plugin"
)

// ErrShutdown is the error of a Launch after Shutdown.
var ErrShutdown = errors.New("plugins are shut down: no plugin can be launched")

var registry = struct {
	sync.Mutex
	live map[*Plugin]struct{}
	down bool
}{live: map[*Plugin]struct{}{}}

var shutdownOnce sync.Once

func register(p *Plugin) error {
	registry.Lock()
	defer registry.Unlock()
	if registry.down {
		return ErrShutdown
	}
	registry.live[p] = struct{}{}
	return nil
}

func unregister(p *Plugin) {
	registry.Lock()
	defer registry.Unlock()
	delete(registry.live, p)
}

// Shutdown stops every plugin this process launched and still runs, all at
// once, and waits until they are gone (at most about two seconds: a plugin
// that does not exit when asked is killed). Launch fails after it. Call it
// deferred in main, before any os.Exit:
//
//	func main() {
//		stop := plugins.CleanupOnSignals()
//		err := run()
//		stop()
//		plugins.Shutdown()
//		if err != nil {
//			os.Exit(1)
//		}
//	}
//
// It may be called more than once; later calls wait for the first.
func Shutdown() {
	shutdownOnce.Do(func() {
		registry.Lock()
		registry.down = true
		live := make([]*Plugin, 0, len(registry.live))
		for p := range registry.live {
			live = append(live, p)
		}
		registry.Unlock()

		var wg sync.WaitGroup
		for _, p := range live {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.Close()
			}()
		}
		wg.Wait()
		// Any client go-plugin still manages (one caught between start and
		// registration cannot be, but this costs nothing).
		goplugin.CleanupClients()
	})
}

// CleanupOnSignals makes SIGINT and SIGTERM stop every plugin (Shutdown) and
// then exit the process with the conventional status 128+signal (130, 143).
// A second signal during the shutdown exits at once. The returned stop
// removes the handlers; call it before Shutdown on the normal way out.
func CleanupOnSignals() (stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			go func() {
				<-ch
				os.Exit(signalStatus(sig))
			}()
			Shutdown()
			os.Exit(signalStatus(sig))
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}

func signalStatus(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
