// Supervision: every call into a plugin is bound to the life of its process.
// When the process dies, calls in flight are cancelled and each caller gets
// one *ExitError naming the plugin, the call and how the process ended,
// instead of a transport error or a hang.

package plugins

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

const (
	// exitPoll is how often a Plugin's watcher asks go-plugin whether the
	// process has exited.
	exitPoll = 25 * time.Millisecond
	// exitGrace is how long a call that failed in transport waits for the
	// process's exit to be seen before it reports the transport error.
	exitGrace = 3 * time.Second
)

// ErrClosed is the error of a call made on a plugin after its Close.
var ErrClosed = errors.New("plugin closed")

// ExitError is a call that failed because the plugin process exited.
type ExitError struct {
	Program, Path string
	Call          string // "Run"
	// Before is true when the process had exited before the call was made.
	Before bool
	State  string   // "exit status 3", "signal: killed"
	Stderr []string // the last lines the process wrote to stderr
}

func (e *ExitError) Error() string {
	var b strings.Builder
	when := "during"
	if e.Before {
		when = "before"
	}
	fmt.Fprintf(&b, "plugin %q (%s) exited %s %s: %s", e.Program, e.Path, when, e.Call, e.State)
	if len(e.Stderr) > 0 {
		b.WriteString("; last stderr: ")
		b.WriteString(strings.Join(e.Stderr, " | "))
	}
	return b.String()
}

// watch waits for the process to exit, records how, and cancels p.exit, which
// cancels every call in flight.
func (p *Plugin) watch() {
	t := time.NewTicker(exitPoll)
	defer t.Stop()
	for !p.client.Exited() {
		<-t.C
	}
	// go-plugin sets Exited after cmd.Wait returned (and after it read all
	// of stderr), under its lock: ProcessState is set and complete.
	p.exitState = describeState(p.cmd.ProcessState)
	for _, w := range p.flush {
		w.Flush()
	}
	if !p.closing.Load() {
		p.log.Error().Str("path", p.Path()).Str("state", p.exitState).Msg("plugin died")
	}
	unregister(p)
	p.exitCancel()
}

func (p *Plugin) exitError(call string, before bool) error {
	return &ExitError{Program: p.Program(), Path: p.Path(), Call: call, Before: before,
		State: p.exitState, Stderr: p.out.stderr()}
}

func (p *Plugin) closedError(call string) error {
	return fmt.Errorf("plugin %q (%s): %s after Close: %w", p.Program(), p.Path(), call, ErrClosed)
}

// call runs f, one call named call into the plugin, with a context that is
// also cancelled when the process exits, and turns the failure of a call cut
// short by the process's death into an *ExitError.
func (p *Plugin) call(ctx context.Context, call string, f func(ctx context.Context) error) error {
	if p.closing.Load() {
		return p.closedError(call)
	}
	if p.exit.Err() != nil {
		return p.exitError(call, true)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.exit, cancel)
	defer stop()

	err := f(cctx)
	if err == nil {
		return nil
	}
	if p.closing.Load() {
		return p.closedError(call)
	}
	if p.exit.Err() != nil {
		return p.exitError(call, false)
	}
	if ctx.Err() != nil || !transportError(err) {
		return err // the caller gave up, or the plugin answered with an error
	}
	// The connection broke: the process is most likely dying and go-plugin
	// is about to see it.
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-p.exit.Done():
		if p.closing.Load() {
			return p.closedError(call)
		}
		return p.exitError(call, false)
	case <-ctx.Done():
		return err
	case <-t.C:
		return fmt.Errorf("plugin %q (%s): %s: %w", p.Program(), p.Path(), call, err)
	}
}

// transportError reports whether err is a gRPC error (a broken connection,
// a cancelled stream) rather than an answer from the plugin: the plugin wire
// sends the plugin's own errors inside responses and returns gRPC errors only
// for failures of the transport.
//
// DeadlineExceeded is the caller's deadline, which gRPC sends along to the
// plugin: the plugin's side may end the call a moment before the caller's
// context reports it.
func transportError(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() != codes.OK && st.Code() != codes.DeadlineExceeded
}

// supervisedBackend is a backend plugin's Backend bound to its process.
type supervisedBackend struct {
	p *Plugin
	b backend.Backend
}

var _ backend.Backend = (*supervisedBackend)(nil)

func (s *supervisedBackend) Info(ctx context.Context) (*backend.Info, error) {
	var r *backend.Info
	err := s.p.call(ctx, "Info", func(ctx context.Context) (err error) {
		r, err = s.b.Info(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *supervisedBackend) SetTensor(ctx context.Context, name string, t *graph.Tensor) error {
	return s.p.call(ctx, "SetTensor", func(ctx context.Context) error { return s.b.SetTensor(ctx, name, t) })
}

func (s *supervisedBackend) Tensor(ctx context.Context, name string) (*graph.Tensor, error) {
	var r *graph.Tensor
	err := s.p.call(ctx, "Tensor", func(ctx context.Context) (err error) {
		r, err = s.b.Tensor(ctx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *supervisedBackend) DeleteTensor(ctx context.Context, name string) error {
	return s.p.call(ctx, "DeleteTensor", func(ctx context.Context) error { return s.b.DeleteTensor(ctx, name) })
}

func (s *supervisedBackend) Compile(ctx context.Context, g *graph.Graph) (backend.ProgramID, error) {
	var r backend.ProgramID
	err := s.p.call(ctx, "Compile", func(ctx context.Context) (err error) {
		r, err = s.b.Compile(ctx, g)
		return err
	})
	if err != nil {
		return 0, err
	}
	return r, nil
}

func (s *supervisedBackend) Run(ctx context.Context, id backend.ProgramID, inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	var r map[string]*graph.Tensor
	err := s.p.call(ctx, "Run", func(ctx context.Context) (err error) {
		r, err = s.b.Run(ctx, id, inputs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *supervisedBackend) Release(ctx context.Context, id backend.ProgramID) error {
	return s.p.call(ctx, "Release", func(ctx context.Context) error { return s.b.Release(ctx, id) })
}

// supervisedMixer is a mixer plugin's Mixer bound to its process.
type supervisedMixer struct {
	p *Plugin
	m mixer.Mixer
}

var _ mixer.Mixer = (*supervisedMixer)(nil)

func (s *supervisedMixer) Info(ctx context.Context) (*mixer.Info, error) {
	var r *mixer.Info
	err := s.p.call(ctx, "Info", func(ctx context.Context) (err error) {
		r, err = s.m.Info(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *supervisedMixer) Params(ctx context.Context, l mixer.Layer) ([]mixer.ParamSpec, error) {
	var r []mixer.ParamSpec
	err := s.p.call(ctx, "Params", func(ctx context.Context) (err error) {
		r, err = s.m.Params(ctx, l)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// fragment makes one fragment call, named call, bound to the process.
func (s *supervisedMixer) fragment(ctx context.Context, call string, l mixer.Layer,
	f func(context.Context, mixer.Layer) (*graph.Graph, error)) (*graph.Graph, error) {
	var r *graph.Graph
	err := s.p.call(ctx, call, func(ctx context.Context) (err error) {
		r, err = f(ctx, l)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *supervisedMixer) Forward(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return s.fragment(ctx, "Forward", l, s.m.Forward)
}

func (s *supervisedMixer) MixingMatrix(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return s.fragment(ctx, "MixingMatrix", l, s.m.MixingMatrix)
}

func (s *supervisedMixer) Step(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return s.fragment(ctx, "Step", l, s.m.Step)
}

func (s *supervisedMixer) InitFromTeacher(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return s.fragment(ctx, "InitFromTeacher", l, s.m.InitFromTeacher)
}
