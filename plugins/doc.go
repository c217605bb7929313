// Package plugins is the host side of mohawk's plugins: it finds plugin
// executables, verifies them, launches them with hashicorp/go-plugin over
// gRPC, supervises them while they run and stops them on every way out of
// the host.
//
// # Kinds and names
//
// A plugin provides one Kind: a compute backend ("backend") or a sequence
// mixer ("mixer"). A plugin of kind K named N is an executable file called
// mohawk-K-N (mohawk-backend-cpu, mohawk-mixer-mamba2); that program name is
// what logs and errors call it. The wire of each kind (handshake cookie,
// versioned plugin sets, gRPC options, Serve for the plugin's main) lives in
// its sdk package (sdk/backend, sdk/mixer); this package launches both. The
// kinds' handshake cookies differ, so a plugin started as the wrong kind
// fails its handshake at once, with a *StartError that says so.
//
// # Lifecycle
//
//  1. Find. Find(kind, name) and Discover(kind) search, in order: the
//     explicit paths a pipeline gives (Finder.Explicit), plugins/ beside the
//     running mohawk executable, the user folder ($MOHAWK_PLUGIN_DIR, else
//     $XDG_DATA_HOME/mohawk/plugins, else ~/.local/share/mohawk/plugins), and
//     the folders of $PATH. The first plugin of a name wins; Discover lists
//     the later ones with ShadowedBy set. A name not found is an error that
//     lists every place searched. Builtin(kind, name, exe) describes a
//     plugin that mohawk ships inside its own executable: Launch runs
//     "exe plugin serve <kind> <name>" (Found.Args), a separate process
//     spoken to exactly like any other plugin. The engine uses it when no
//     executable of a built-in's name is found.
//
//  2. Verify. A plugin pinned by a sha256 digest (Explicit.SHA256) is hashed
//     before anything executes it; a mismatch is a *ChecksumError showing
//     both digests and the path. The same pin goes to go-plugin's
//     SecureConfig, which hashes the file again just before it starts it.
//
//  3. Launch. Launch starts the process (with Found.Args, and Options.Env
//     added to the host's environment, e.g. GOMAXPROCS for a backend's
//     thread count) with a new go-plugin Client (a
//     Client cannot start again after a failed start): managed, gRPC only,
//     automatic mTLS, a start timeout (30 s by default). It handshakes,
//     dispenses the kind, asks the plugin for its Info and refuses a plugin
//     of another API version of its kind's contract (backend.APIVersion,
//     mixer.APIVersion) with an *APIVersionError. A plugin that breaks the
//     handshake (a line on stdout before Serve, an exit, a timeout) gives a
//     *StartError that says which, with the plugin's last stderr lines.
//
//  4. Run. The plugin's stderr (and stdout after the handshake) is logged
//     line by line to the zerolog logger of Options, with a "plugin" field
//     holding the program name, as are go-plugin's own messages about it.
//     Every call into the plugin (through Plugin.Backend or Plugin.Mixer) is
//     bound to the process:
//     a goroutine per Plugin watches for its exit and cancels the calls in
//     flight, and a call cut short by the process's death returns one
//     *ExitError naming the plugin, its path, the call, how the process
//     ended and its last stderr lines, e.g.
//
//     plugin "mohawk-backend-cpu" (/usr/lib/mohawk/plugins/mohawk-backend-cpu)
//     exited during Run: exit status 2; last stderr: panic: ...
//
//     Errors the plugin returns (a bad graph, a missing tensor, a mixer
//     configuration it rejects) pass through as they are.
//
//  5. Stop. Plugin.Close stops one plugin (asks it to exit, kills it after
//     two seconds) and waits until it is gone. Shutdown stops all of them;
//     the CLI runs it on its normal and error exits, and CleanupOnSignals
//     runs it on SIGINT and SIGTERM before exiting with status 128+signal.
//     A host killed with SIGKILL runs nothing: its plugins end by
//     themselves, through the parent-death detection of sdk Serve and, on
//     Linux, the parent-death signal Launch asks the kernel for.
package plugins
