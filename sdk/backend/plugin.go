// Backends as plugins: the go-plugin handshake, the versioned plugin sets,
// Serve (the one function a backend plugin's main calls) and ClientConfig
// (the host's starting point for launching one).

package backend

import (
	"context"
	"os/exec"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/mohawk-distill/mohawk/sdk/backend/internal/backendv1"
	"github.com/mohawk-distill/mohawk/sdk/internal/pluginkit"
)

// ProtocolVersion is the version of the wire protocol (the gRPC service
// mohawk.backend.v1.Backend and the chunking rules of this package), which
// host and plugin negotiate through go-plugin's VersionedPlugins. It changes
// only when the wire changes; the version of the Backend contract itself is
// APIVersion, reported in Info.
const ProtocolVersion = 1

// PluginName is the name under which a backend is dispensed.
const PluginName = "backend"

// Handshake is the go-plugin handshake of backend plugins. The magic cookie
// is not a security measure: it tells a backend binary that a mohawk host
// launched it (run by hand, it says so and exits), and it differs from the
// cookie of mixer plugins, so that a mixer started as a backend, or the
// reverse, fails the handshake at once. The protocol version is negotiated
// through PluginSets, not through ProtocolVersion here.
var Handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "MOHAWK_BACKEND_PLUGIN",
	MagicCookieValue: "7f3e1c9a4b2d8e60-backend",
}

// PluginSets are the plugin sets of every wire protocol version this
// package speaks (ProtocolVersion), for ClientConfig.VersionedPlugins: the
// host dispenses PluginName and gets a *Client.
func PluginSets() map[int]plugin.PluginSet {
	return pluginSets(nil)
}

func pluginSets(impl Backend) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &GRPCPlugin{Impl: impl}},
	}
}

// GRPCPlugin is the go-plugin plugin of a backend, over gRPC only: the
// plugin side serves Impl, the host side dispenses a *Client.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the backend a plugin serves; nil on the host.
	Impl Backend
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the backend service of p.Impl on s.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterBackendServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a *Client on c.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewClient(c), nil
}

// serverOptions are the gRPC options of a backend plugin's server: the
// message limits (see MaxMessageSize: chunks are ChunkSize bytes, so no
// message comes near the limit, and the limit bounds what one message can
// make the plugin allocate) and wireCodec, which receives chunks straight
// into their destination.
func serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.ForceServerCodecV2(wireCodec{}),
	}
}

// dialOptions are the gRPC options of the host's connection to a backend
// plugin: the same message limits as the server's. (Client also sets them,
// with wireCodec, on every call.)
func dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
	}
}

// Serve serves impl as a backend plugin and returns when the host ends the
// plugin; a backend plugin's main calls it and nothing else of note:
//
//	func main() { backend.Serve(cpu.NewService(cpu.Options{})) }
//
// It speaks gRPC only (go-plugin chooses gRPC because GRPCPlugin is a
// plugin.GRPCPlugin and the server is set), with the message limits of
// MaxMessageSize, and mTLS when the host asks for it (ClientConfig does).
//
// Stdout belongs to the handshake: go-plugin writes its handshake line
// there, and the host reads the first line of the plugin's stdout as that
// line, so nothing may be printed to stdout before Serve (not by main, not
// by a package's init); a stray line makes the host fail to start the
// plugin. Once the handshake line is written, go-plugin points os.Stdout and
// os.Stderr at pipes that it forwards to the host (which discards stdout
// unless it sets SyncStdout), so later writes through os.Stdout are
// harmless. Log to stderr: the host reads the plugin's stderr and logs it
// under the plugin's name (go-plugin's own log lines are JSON there).
//
// Serve also ends the plugin when the host dies, so that a killed host
// leaves no orphan: on Linux the kernel sends it SIGTERM when the host
// thread that started it exits (prctl PR_SET_PDEATHSIG); and on every
// system a goroutine checks every 500 ms whether the parent process changed
// (the parent is the one that started this process, read before main
// runs), or the host whose process id ClientConfig put in the environment
// is gone (covering a host that died before the plugin first looked, and
// systems without the prctl), and exits the process if so (see package
// sdk/internal/parentwatch). A host written in Go must therefore start
// plugins from a goroutine that is not locked to its OS thread
// (runtime.LockOSThread): if that thread exited, the kernel would take it
// for the host's death.
func Serve(impl Backend) {
	pluginkit.Serve(PluginName, Handshake, pluginSets(impl), serverOptions()...)
}

// ClientConfig returns the go-plugin client configuration that launches the
// backend plugin cmd: the Handshake, the versioned plugin sets (dispense
// PluginName to get a *Client), gRPC as the only allowed protocol, automatic
// mTLS, and dial options with the message limits of MaxMessageSize. It adds
// the host's process id to cmd's environment (cmd.Env), so that the plugin
// also ends when the host dies while the plugin is starting (see Serve).
//
// The host completes it before plugin.NewClient: SecureConfig (the
// checksum of a pinned plugin), Logger (the plugin's stderr is logged
// there), StartTimeout and Managed. It must keep GRPCDialOptions (append to
// them) and AllowedProtocols. A plugin.Client cannot be started again after
// a failed start: make a new one, with a new exec.Cmd.
func ClientConfig(cmd *exec.Cmd) *plugin.ClientConfig {
	return pluginkit.ClientConfig(cmd, Handshake, PluginSets(), dialOptions())
}
