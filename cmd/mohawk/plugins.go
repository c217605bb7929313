// mohawk plugins: list the plugins found (each one started briefly to ask
// its Info), and check one plugin against its kind's conformance suite.

package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/mohawk-distill/mohawk/plugins"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

const pluginsUsage = `usage:
  mohawk plugins list [-timeout D] [-log-level L]
  mohawk plugins check [-kind backend|mixer] [-config HCL] [-large] [-timeout D] [-log-level L] PATH

list   prints every backend and mixer plugin found (explicitly nowhere: in
       plugins/ beside mohawk, in $MOHAWK_PLUGIN_DIR or the user folder, and
       in $PATH), starting each one briefly to ask its Info. A plugin that
       fails to start is listed with its error; one shadowed by a plugin of
       the same name found earlier is marked. The built-in plugins, served
       by mohawk itself, come last: a pipeline uses one only when no plugin
       executable of its name is found.
check  starts the plugin at PATH (its kind is read from its file name,
       mohawk-<kind>-<name>, unless -kind gives it), checks the handshake and
       runs the conformance suite of its kind against it: sdk/backendtest for
       a backend, sdk/mixertest for a mixer (one case: batch 2, 8 tokens,
       d_model 8, 2 heads, 2 key/value heads, configured with the schema's
       defaults or -config). It prints each check and a final PASS or FAIL
       line, and exits with status 0 when the plugin passes, 1 otherwise.
`

func runPlugins(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, pluginsUsage)
		return 2
	}
	switch args[0] {
	case "list":
		return runPluginsList(args[1:])
	case "check":
		return runPluginsCheck(args[1:])
	case kitCommand:
		return runKit(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Print(pluginsUsage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "mohawk plugins: unknown command %q\n\n%s", args[0], pluginsUsage)
		return 2
	}
}

// parseInterleaved parses flags that may come before and after the
// positional arguments ("check PATH -kind mixer"), and returns the
// positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// listed is one row of mohawk plugins list.
type listed struct {
	found plugins.Found
	info  plugins.Info
	caps  string
	err   error
}

func runPluginsList(args []string) int {
	fs := flag.NewFlagSet("plugins list", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 10*time.Second, "how long each plugin may take to start and answer Info")
	logLevel := fs.String("log-level", defaultLogLevel, "level of the log on stderr (plugins' stderr included): trace, debug, info, warn, error")
	fs.Usage = func() { fmt.Fprint(fs.Output(), pluginsUsage); fs.PrintDefaults() }
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) > 0 {
		fmt.Fprintf(os.Stderr, "mohawk plugins list: unexpected arguments %q\n", pos)
		return 2
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk plugins list:", err)
		return 2
	}

	var rows []*listed
	for _, k := range []plugins.Kind{plugins.KindBackend, plugins.KindMixer} {
		found, err := plugins.Discover(k)
		if err != nil {
			// Only explicit paths give errors, and list has none; report
			// it anyway and list what was found.
			logger.Warn().Err(err).Str("kind", string(k)).Msg("discovery")
		}
		for _, fd := range found {
			rows = append(rows, &listed{found: fd})
		}
		rows = append(rows, builtinRows(k, found)...)
	}
	if len(rows) == 0 {
		fmt.Println("no plugins found; searched, in order:")
		for _, loc := range plugins.DefaultLocations() {
			fmt.Printf("  %s (%s)\n", loc.Dir, loc.Source)
		}
		return 0
	}

	// Ask every plugin, shadowed ones too, for its Info: a few at a time,
	// each stopped as soon as it answered.
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, r := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r.describe(logger, *timeout)
		}()
	}
	wg.Wait()

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tVERSION\tAPI\tCAPABILITIES\tSOURCE\tPATH\tSTATUS")
	for _, r := range rows {
		version, api, caps := "-", "-", "-"
		var ve *plugins.APIVersionError
		switch {
		case r.err == nil:
			version, api, caps = cmp.Or(r.info.Version, "?"), strconv.Itoa(r.info.APIVersion), r.caps
		case errors.As(r.err, &ve):
			version, api = cmp.Or(ve.Version, "?"), strconv.Itoa(ve.Plugin)
		}
		var status []string
		if r.found.ShadowedBy != "" {
			status = append(status, "shadowed by "+r.found.ShadowedBy)
		}
		if r.err != nil {
			status = append(status, "error: "+oneLine(r.err.Error()))
		} else if r.info.Name != r.found.Name {
			status = append(status, fmt.Sprintf("calls itself %q", r.info.Name))
		}
		if len(status) == 0 {
			status = append(status, "ok")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.found.Kind, r.found.Name, version, api, caps,
			r.found.Source, r.found.Path, strings.Join(status, "; "))
	}
	tw.Flush()
	return 0
}

// builtinRows are the plugins of kind k that this executable serves itself
// ("mohawk plugin serve"), after the plugin executables found: a pipeline
// uses a built-in only when no executable of its name is found, so one that
// is is marked as shadowing it.
func builtinRows(k plugins.Kind, found []plugins.Found) []*listed {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	var names []string
	switch k {
	case plugins.KindMixer:
		for name := range builtinMixers {
			names = append(names, name)
		}
	case plugins.KindBackend:
		for name := range builtinBackends {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var rows []*listed
	for _, name := range names {
		fd := plugins.Builtin(k, name, exe)
		for _, f := range found {
			if f.Name == name && f.ShadowedBy == "" {
				fd.ShadowedBy = f.Path
			}
		}
		rows = append(rows, &listed{found: fd})
	}
	return rows
}

// describe starts the plugin, keeps its Info and stops it.
func (r *listed) describe(logger zerolog.Logger, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	p, err := plugins.Launch(ctx, r.found, plugins.Options{Logger: logger, StartTimeout: timeout})
	if err != nil {
		r.err = err
		return
	}
	defer p.Close()
	r.info = p.Info()
	switch {
	case p.BackendInfo() != nil:
		r.caps = backendCapabilities(p.BackendInfo())
	case p.MixerInfo() != nil:
		r.caps = mixerCapabilities(p.MixerInfo().Capabilities)
	}
}

// backendCapabilities sums up a backend's Info: its devices, dtypes and
// native fused ops.
func backendCapabilities(bi *backend.Info) string {
	var devices, dtypes, fused []string
	for _, d := range bi.Devices {
		devices = append(devices, cmp.Or(d.Kind, "?"))
	}
	for _, dt := range bi.DTypes {
		dtypes = append(dtypes, dt.String())
	}
	for _, op := range bi.FusedOps {
		fused = append(fused, op.String())
	}
	s := "devices " + cmp.Or(strings.Join(devices, ","), "none") + "; dtypes " + cmp.Or(strings.Join(dtypes, ","), "none")
	if len(fused) > 0 {
		s += "; fused " + strings.Join(fused, ",")
	}
	return s
}

// mixerCapabilities lists a mixer's optional fragments.
func mixerCapabilities(c mixer.Capabilities) string {
	var caps []string
	if c.MixingMatrix {
		caps = append(caps, "mixing_matrix")
	}
	if c.Step {
		caps = append(caps, "step")
	}
	if c.InitFromTeacher {
		caps = append(caps, "init_from_teacher")
	}
	if len(caps) == 0 {
		return "forward only"
	}
	return "forward," + strings.Join(caps, ",")
}

// oneLine joins the lines of a message for a table cell.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ; ")), " ")
}

// checkOptions are the flags of mohawk plugins check, which the kit run
// (runKit) takes too.
type checkOptions struct {
	kind     string
	config   string
	large    bool
	timeout  time.Duration
	logLevel string
}

func (o *checkOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.kind, "kind", "", "the plugin's kind, backend or mixer (default: from its file name, mohawk-<kind>-<name>)")
	fs.StringVar(&o.config, "config", "", "a mixer's configuration for the conformance case, in HCL (`heads = 2`); default: the schema's defaults")
	fs.BoolVar(&o.large, "large", false, "add the backend suite's larger shapes (slower)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long the plugin may take to start and answer Info")
	fs.StringVar(&o.logLevel, "log-level", defaultLogLevel, "level of the log on stderr (plugins' stderr included): trace, debug, info, warn, error")
}

// args are the flags again, for the kit run.
func (o *checkOptions) args() []string {
	return []string{"-kind", o.kind, "-config", o.config, "-large=" + strconv.FormatBool(o.large),
		"-timeout", o.timeout.String(), "-log-level", o.logLevel}
}

// resolve finds the plugin at path, of the kind o.kind or else the one its
// file name says.
func (o *checkOptions) resolve(path string) (plugins.Found, error) {
	file := filepath.Base(path)
	k, name, named := plugins.ParseProgram(file)
	if o.kind != "" {
		want := plugins.Kind(o.kind)
		if !want.Valid() {
			return plugins.Found{}, fmt.Errorf("-kind %q: want %s or %s", o.kind, plugins.KindBackend, plugins.KindMixer)
		}
		if !named || k != want {
			// A file not named for this kind keeps its whole name.
			name = strings.TrimSuffix(file, ".exe")
		}
		k = want
	} else if !named {
		return plugins.Found{}, fmt.Errorf("cannot tell the kind of plugin %s from its file name: plugins are named %s<name> or %s<name>; give -kind backend or -kind mixer",
			path, plugins.KindBackend.Prefix(), plugins.KindMixer.Prefix())
	}
	f := &plugins.Finder{
		Explicit:  []plugins.Explicit{{Kind: k, Name: name, Path: path}},
		Locations: []plugins.Location{}, // only the path given
	}
	return f.Find(k, name)
}

func runPluginsCheck(args []string) int {
	fs := flag.NewFlagSet("plugins check", flag.ContinueOnError)
	var o checkOptions
	o.register(fs)
	fs.Usage = func() { fmt.Fprint(fs.Output(), pluginsUsage); fs.PrintDefaults() }
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintf(os.Stderr, "mohawk plugins check: want one plugin path, found %d arguments\n\n%s", len(pos), pluginsUsage)
		return 2
	}
	logger, err := newLogger(o.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mohawk plugins check:", err)
		return 2
	}
	path := pos[0]
	fd, err := o.resolve(path)
	if err != nil {
		fmt.Printf("FAIL: %s: %v\n", filepath.Base(path), err)
		return 1
	}
	// The file's own name, which is the program name for a plugin named
	// as plugins are.
	program := filepath.Base(fd.Path)
	fmt.Printf("checking %s, a %s plugin at %s\n", program, fd.Kind, fd.Path)

	// The handshake, on its own first: a plugin that cannot start fails
	// here, with go-plugin's error made readable, before any check runs.
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	p, err := plugins.Launch(ctx, fd, plugins.Options{Logger: logger, StartTimeout: o.timeout})
	if err != nil {
		fmt.Printf("FAIL: %s fails the %s handshake: %v\n", program, fd.Kind, err)
		return 1
	}
	info := p.Info()
	fmt.Printf("ok    handshake: %s %s, %s API version %d\n", info.Name, cmp.Or(info.Version, "(no version)"), fd.Kind, info.APIVersion)
	if mi := p.MixerInfo(); mi != nil {
		// Configure the case now, so that a configuration the mixer's
		// schema does not accept fails before the suite starts.
		cfg, err := mixerConfig(mi.Schema, o.config)
		if err != nil {
			p.Close()
			fmt.Printf("FAIL: %s: no configuration for the conformance case: %v\n", program, err)
			return 1
		}
		fmt.Printf("ok    configuration: %s\n", describeConfig(cfg))
	}
	p.Close()

	fmt.Printf("running the %s conformance suite\n", fd.Kind)
	res, err := runKitProcess(fd.Path, o, os.Stdout)
	if err != nil {
		fmt.Printf("FAIL: %s: the conformance suite could not run: %v\n", program, err)
		return 1
	}
	fmt.Println(res.verdict(program, string(fd.Kind)))
	if !res.passed() {
		return 1
	}
	return 0
}
