// Package pluginkit holds the go-plugin glue shared by every plugin kind
// (sdk/backend, sdk/mixer): how a plugin process serves, and the client
// configuration a host launches one with. Each kind supplies its handshake,
// its versioned plugin sets and its gRPC options.
package pluginkit

import (
	"os"
	"os/exec"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/mohawk-distill/mohawk/sdk/internal/parentwatch"
	"google.golang.org/grpc"
)

// Serve ends the process when its host dies (parentwatch), then serves sets
// over gRPC with opts added to go-plugin's server options, logging go-plugin's
// own messages to stderr as JSON under name. It returns when the host ends
// the plugin.
func Serve(name string, handshake plugin.HandshakeConfig, sets map[int]plugin.PluginSet, opts ...grpc.ServerOption) {
	parentwatch.Watch(parentwatch.AtStart, name+" plugin")
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: sets,
		GRPCServer: func(base []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(base, opts...)...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       name,
			Level:      hclog.Debug,
			Output:     os.Stderr,
			JSONFormat: true,
		}),
	})
}

// ClientConfig is the configuration that launches cmd as a plugin of the
// given handshake and sets: gRPC only, automatic mTLS, dial options dial, and
// an environment that carries this host's pid (parentwatch.PluginEnv; the
// host's own environment is already in it, so go-plugin must not append it
// again).
func ClientConfig(cmd *exec.Cmd, handshake plugin.HandshakeConfig, sets map[int]plugin.PluginSet, dial []grpc.DialOption) *plugin.ClientConfig {
	if cmd != nil {
		cmd.Env = parentwatch.PluginEnv(cmd.Env)
	}
	return &plugin.ClientConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: sets,
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		GRPCDialOptions:  dial,
	}
}
