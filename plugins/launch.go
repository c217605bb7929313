// Launch: start a plugin process with go-plugin, handshake, dispense its
// kind, check its API version, and hand back a Plugin whose calls are bound
// to the life of the process.

package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// DefaultStartTimeout bounds the handshake (process start to listening).
const DefaultStartTimeout = 30 * time.Second

// Options configure Launch.
type Options struct {
	// Logger receives the plugin's stderr and stdout lines and go-plugin's
	// messages about it, each with a "plugin" field; the zero Logger drops
	// them.
	Logger zerolog.Logger
	// StartTimeout bounds the handshake and the first Info call; 0 means
	// DefaultStartTimeout. The deadline of Launch's context, if sooner,
	// bounds them too.
	StartTimeout time.Duration
	// NoParentDeathSignal leaves a sudden death of the host (SIGKILL) to the
	// plugin's own parent-death detection (sdk Serve). Otherwise, on Linux,
	// the kernel also kills the plugin when the host thread that started it
	// exits; Go ends threads only when a goroutine locked to its thread
	// (runtime.LockOSThread) returns, so do not Launch from such a goroutine.
	NoParentDeathSignal bool
	// Env holds "NAME=value" entries added to the plugin's environment (which
	// is otherwise the host's), e.g. GOMAXPROCS for a backend's thread count.
	Env []string
}

// Plugin is a running plugin process.
type Plugin struct {
	found  Found
	log    zerolog.Logger
	client *goplugin.Client
	cmd    *exec.Cmd
	out    *output
	flush  []*lineWriter
	// timeout bounds the handshake and the first Info.
	timeout time.Duration

	info   Info
	detail any // the kind's own info: *backend.Info or *mixer.Info
	value  any // the supervised dispensed plugin: backend.Backend or mixer.Mixer

	// exit is cancelled once the process has exited, after exitState is set.
	exit       context.Context
	exitCancel context.CancelFunc
	exitState  string

	watching  atomic.Bool // watch runs: p.exit will be cancelled
	closing   atomic.Bool
	closeOnce sync.Once
}

// Launch starts the plugin found, verifies it against its pin (before it is
// executed, and again by go-plugin as it starts it), handshakes over gRPC,
// asks it for its Info and refuses it if it speaks another API version. ctx
// bounds the launch only; the plugin runs until Close or Shutdown.
//
// Every launch uses a new go-plugin Client: a Client cannot start again after
// a failed start.
func Launch(ctx context.Context, found Found, opts Options) (*Plugin, error) {
	if err := found.Kind.check(); err != nil {
		return nil, err
	}
	spec, ok := kinds[found.Kind]
	if !ok {
		return nil, fmt.Errorf("plugin %q (%s): this mohawk cannot launch %s plugins yet (it launches: %s)",
			found.Program(), found.Path, found.Kind, strings.Join(launchable(), ", "))
	}
	if found.Path == "" || found.Name == "" {
		return nil, fmt.Errorf("launch %s plugin: Found has no name or path (use Find or Discover)", found.Kind)
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), time.Millisecond)
	}
	logger := opts.Logger.With().Str("plugin", found.Program()).Logger()

	var secure *goplugin.SecureConfig
	if found.SHA256 != "" {
		if err := Verify(found.Path, found.SHA256); err != nil {
			return nil, err
		}
		var err error
		if secure, err = secureConfig(found.SHA256); err != nil {
			return nil, err
		}
	}

	cmd := exec.Command(found.Path, found.Args...)
	if len(opts.Env) > 0 {
		cmd.Env = append(os.Environ(), opts.Env...)
	}
	if !opts.NoParentDeathSignal {
		setParentDeathSignal(cmd)
	}
	out := newOutput(logger)
	stderr, syncStderr, syncStdout := out.writer("stderr"), out.writer("stderr"), out.writer("stdout")

	cfg := spec.clientConfig(cmd)
	cfg.SecureConfig = secure
	cfg.Logger = newHclogger(logger, filepath.Base(found.Path))
	cfg.StartTimeout = timeout
	cfg.Managed = true
	cfg.AllowedProtocols = []goplugin.Protocol{goplugin.ProtocolGRPC}
	cfg.AutoMTLS = true
	cfg.Stderr = stderr // go-plugin's raw copy of the process's stderr
	cfg.SyncStderr = syncStderr
	cfg.SyncStdout = syncStdout

	p := &Plugin{
		found: found, log: logger, cmd: cmd, out: out, timeout: timeout,
		flush: []*lineWriter{stderr, syncStderr, syncStdout},
	}
	p.exit, p.exitCancel = context.WithCancel(context.Background())
	p.client = goplugin.NewClient(cfg)
	if err := register(p); err != nil {
		return nil, err
	}

	raw, err := p.start(ctx, spec)
	if err != nil {
		return nil, err
	}
	if p.closing.Load() {
		// Shutdown came during the handshake, maybe before the process
		// existed for it to kill.
		p.client.Kill()
		unregister(p)
		return nil, fmt.Errorf("plugin %q (%s): %w", found.Program(), found.Path, ErrShutdown)
	}
	p.watching.Store(true)
	go p.watch()

	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = p.call(ictx, "Info", func(ctx context.Context) error {
		var err error
		p.info, p.detail, err = spec.describe(ctx, raw)
		return err
	})
	if err != nil {
		p.Close()
		if errors.As(err, new(*ExitError)) || errors.Is(err, ErrClosed) {
			return nil, err // they name the plugin and the call
		}
		return nil, fmt.Errorf("plugin %q (%s): Info: %w", found.Program(), found.Path, err)
	}
	if p.info.APIVersion != spec.apiVersion {
		p.Close()
		return nil, &APIVersionError{Program: found.Program(), Path: found.Path, Kind: found.Kind,
			Plugin: p.info.APIVersion, Host: spec.apiVersion, Version: p.info.Version}
	}
	p.value = spec.supervise(p, raw)
	logger.Info().Str("path", found.Path).Int("pid", p.Pid()).Str("version", p.info.Version).
		Int("api_version", p.info.APIVersion).Msg("plugin ready")
	return p, nil
}

// start runs the handshake and dispenses the kind. When ctx ends first, it
// returns at once and the process is killed as soon as go-plugin's start
// (which cannot be interrupted) returns. On an error the plugin is stopped
// and unregistered.
func (p *Plugin) start(ctx context.Context, spec kindSpec) (any, error) {
	type result struct {
		raw any
		err error
	}
	done := make(chan result, 1)
	go func() {
		rpc, err := p.client.Client()
		if err != nil {
			done <- result{nil, err}
			return
		}
		raw, err := rpc.Dispense(spec.dispense)
		done <- result{raw, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			p.client.Kill() // which also waits until all of stderr is read
			unregister(p)
			return nil, p.startError(r.err)
		}
		return r.raw, nil
	case <-ctx.Done():
		go func() {
			<-done
			p.client.Kill()
			unregister(p)
		}()
		return nil, fmt.Errorf("plugin %q (%s): launch abandoned: %w", p.Program(), p.Path(), ctx.Err())
	}
}

// startError turns go-plugin's start errors into ones that say what to do.
func (p *Plugin) startError(err error) error {
	where := fmt.Sprintf("plugin %q (%s)", p.Program(), p.Path())
	msg := err.Error()
	var detail string
	switch {
	case p.out.said("This binary is a plugin. These are not meant to be executed directly."):
		// go-plugin's Serve did not find the magic cookie of its kind in
		// its environment: the cookie differs between kinds.
		detail = fmt.Sprintf("refused the %s handshake: it is not a %s plugin (it is a plugin of another kind, or of another program)",
			p.Kind(), p.Kind())
	case strings.HasPrefix(msg, "Unrecognized remote plugin message: \nFailed to read any lines"):
		detail = "exited before the handshake, writing nothing to stdout: " + describeState(p.cmd.ProcessState)
	case strings.HasPrefix(msg, "Unrecognized remote plugin message: "):
		line, _, _ := strings.Cut(strings.TrimPrefix(msg, "Unrecognized remote plugin message: "), "\n")
		detail = fmt.Sprintf("failed the handshake: its first line on stdout was %q, not go-plugin's handshake line. "+
			"A plugin must print nothing to stdout before it calls Serve (or this file is not a mohawk plugin, or was built for another platform)", line)
	case strings.Contains(msg, "plugin exited before we could connect"):
		detail = "exited before the handshake: " + describeState(p.cmd.ProcessState)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		detail = fmt.Sprintf("did not complete the handshake within %s (the start timeout)", p.timeout)
	case errors.Is(err, goplugin.ErrChecksumsDoNotMatch):
		detail = "changed between its sha256 check and its start; it was not run"
	case strings.Contains(msg, "incompatible API version with plugin"):
		detail = "speaks another version of mohawk's plugin wire protocol (" + msg + "); rebuild it against this mohawk's sdk"
	default:
		detail = "failed to start: " + msg
	}
	if lines := p.out.stderr(); len(lines) > 0 {
		detail += "; last stderr: " + strings.Join(lines, " | ")
	}
	return &StartError{Program: p.Program(), Path: p.Path(), msg: where + " " + detail, Err: err}
}

func describeState(ps *os.ProcessState) string {
	if ps == nil {
		return "exit status unknown"
	}
	return ps.String()
}

// StartError is a plugin that could not be started or failed its handshake.
type StartError struct {
	Program, Path string
	msg           string
	Err           error // go-plugin's error
}

func (e *StartError) Error() string { return e.msg }
func (e *StartError) Unwrap() error { return e.Err }

// APIVersionError is a plugin that speaks another version of its kind's API.
type APIVersionError struct {
	Program, Path string
	Kind          Kind
	Version       string // the plugin's own version
	Plugin, Host  int    // API versions
}

func (e *APIVersionError) Error() string {
	return fmt.Sprintf("plugin %q (%s, version %s) implements %s API version %d, but this mohawk speaks %s API version %d; use a build of the plugin for API version %d",
		e.Program, e.Path, e.Version, e.Kind, e.Plugin, e.Kind, e.Host, e.Host)
}

// Found is what Launch was given.
func (p *Plugin) Found() Found { return p.found }

// Kind is the plugin's kind.
func (p *Plugin) Kind() Kind { return p.found.Kind }

// Name is the plugin's name within its kind: "cpu" for mohawk-backend-cpu.
func (p *Plugin) Name() string { return p.found.Name }

// Program is mohawk-<kind>-<name>, the name in the plugin's logs and errors.
func (p *Plugin) Program() string { return p.found.Program() }

// Path is the plugin's executable.
func (p *Plugin) Path() string { return p.found.Path }

// Pid is the plugin's process id.
func (p *Plugin) Pid() int {
	if p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Info is what the plugin reported about itself at launch.
func (p *Plugin) Info() Info { return p.info }

// BackendInfo is a backend plugin's full Info; nil for other kinds.
func (p *Plugin) BackendInfo() *backend.Info {
	bi, _ := p.detail.(*backend.Info)
	return bi
}

// Backend is a backend plugin's Backend, whose calls fail with an *ExitError
// when the process dies; nil for other kinds.
func (p *Plugin) Backend() backend.Backend {
	b, _ := p.value.(backend.Backend)
	return b
}

// MixerInfo is a mixer plugin's full Info (capabilities, configuration
// schema), as it reported it at launch; nil for other kinds.
func (p *Plugin) MixerInfo() *mixer.Info {
	mi, _ := p.detail.(*mixer.Info)
	return mi
}

// Mixer is a mixer plugin's Mixer, whose calls fail with an *ExitError when
// the process dies; nil for other kinds. Its fragments are decoded and
// checked as untrusted input (see mixer.Client).
func (p *Plugin) Mixer() mixer.Mixer {
	m, _ := p.value.(mixer.Mixer)
	return m
}

// Exited is closed when the plugin process has exited.
func (p *Plugin) Exited() <-chan struct{} { return p.exit.Done() }

// Close stops the plugin: asks it to exit, kills it after two seconds, and
// waits until it is gone. Calls made after Close fail with ErrClosed. Close
// may be called more than once and from several goroutines.
func (p *Plugin) Close() {
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		p.client.Kill() // returns once the process is gone
		unregister(p)
	})
	if p.watching.Load() {
		<-p.exit.Done()
	}
}
