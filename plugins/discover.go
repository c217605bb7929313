// Discovery: where the host looks for plugin executables, in which order, and
// what it reports when a name is found twice or not at all.

package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Source says where a plugin was found.
type Source string

const (
	SourceExplicit     Source = "explicit"      // a path given by the pipeline
	SourceBesideBinary Source = "beside-binary" // plugins/ next to the mohawk executable
	SourceUserDir      Source = "user-dir"      // $MOHAWK_PLUGIN_DIR, or the XDG data folder
	SourcePath         Source = "PATH"          // a folder of $PATH
	SourceBuiltin      Source = "built-in"      // served by the mohawk executable itself
)

// EnvPluginDir names the environment variable that overrides the user folder.
const EnvPluginDir = "MOHAWK_PLUGIN_DIR"

// Explicit is a plugin named by the pipeline. Path, when set, is the
// executable to run (searched before every folder); SHA256, when set, is the
// hex digest the executable must have, wherever it is found.
type Explicit struct {
	Kind   Kind
	Name   string
	Path   string
	SHA256 string
}

// Location is one folder searched for plugins.
type Location struct {
	Source Source
	Dir    string
}

// Found is one plugin executable.
type Found struct {
	Kind   Kind
	Name   string // "cpu" for mohawk-backend-cpu
	Path   string
	Source Source
	// SHA256 is the pinned digest (hex), empty when the plugin is not pinned.
	SHA256 string
	// ShadowedBy is the path of the plugin of the same name found earlier in
	// the search order, which is the one used; empty for that one.
	ShadowedBy string
	// Args are the arguments Launch passes to Path: none for a plugin
	// executable, "plugin serve <kind> <name>" for a built-in (see Builtin).
	Args []string
}

// Builtin is the built-in plugin of kind k called name, served by the
// executable exe (the mohawk command) when it runs "exe plugin serve k name".
// It is launched like any other plugin, as its own process: the built-ins
// are plugins that ship inside mohawk, not code run in the host.
func Builtin(k Kind, name, exe string) Found {
	return Found{Kind: k, Name: name, Path: exe, Source: SourceBuiltin,
		Args: []string{"plugin", "serve", string(k), name}}
}

// Program is the plugin's executable name, mohawk-<kind>-<name>: the name used
// in logs and errors, whatever the file is called.
func (f Found) Program() string { return f.Kind.Prefix() + f.Name }

// Finder searches for plugins: explicit paths first, then Locations in order.
// The zero Finder searches the default locations.
type Finder struct {
	Explicit []Explicit
	// Locations are the folders searched after the explicit paths; nil means
	// DefaultLocations().
	Locations []Location
}

// Discover lists the plugins of kind k that the default Finder sees.
func Discover(k Kind) ([]Found, error) { return (&Finder{}).Discover(k) }

// Find returns the plugin of kind k called name that the default Finder sees.
func Find(k Kind, name string) (Found, error) { return (&Finder{}).Find(k, name) }

// DefaultLocations are, in order: plugins/ beside the running executable
// (symlinks resolved), the user folder (UserDir) and the folders of $PATH.
// Folders that cannot be determined are left out.
func DefaultLocations() []Location {
	var locs []Location
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		locs = append(locs, Location{SourceBesideBinary, filepath.Join(filepath.Dir(exe), "plugins")})
	}
	if dir := UserDir(); dir != "" {
		locs = append(locs, Location{SourceUserDir, dir})
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			dir = "." // an empty PATH entry means the working folder
		}
		locs = append(locs, Location{SourcePath, dir})
	}
	return locs
}

// UserDir is the user's plugin folder: $MOHAWK_PLUGIN_DIR if set, else
// $XDG_DATA_HOME/mohawk/plugins, else ~/.local/share/mohawk/plugins; empty
// when none can be determined.
func UserDir() string {
	if d := os.Getenv(EnvPluginDir); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "mohawk", "plugins")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".local", "share", "mohawk", "plugins")
	}
	return ""
}

func (f *Finder) locations() []Location {
	if f.Locations != nil {
		return f.Locations
	}
	return DefaultLocations()
}

// pin returns the digest pinned for (k, name), if any.
func (f *Finder) pin(k Kind, name string) string {
	for _, e := range f.Explicit {
		if e.Kind == k && e.Name == name && e.SHA256 != "" {
			return e.SHA256
		}
	}
	return ""
}

// scan walks the search order and returns every plugin of kind k (winners and
// shadowed ones, in search order), plus the files that are named like plugins
// but cannot be run.
func (f *Finder) scan(k Kind) (all []Found, skipped []unusable, err error) {
	if err := k.check(); err != nil {
		return nil, nil, err
	}
	winner := map[string]string{} // name -> path used
	listed := map[string]bool{}   // paths listed already
	add := func(fd Found) {
		if listed[fd.Path] {
			return // the same file reached twice (a folder twice in PATH)
		}
		listed[fd.Path] = true
		if w, ok := winner[fd.Name]; ok {
			fd.ShadowedBy = w
		} else {
			winner[fd.Name] = fd.Path
		}
		fd.SHA256 = f.pin(k, fd.Name)
		all = append(all, fd)
	}
	var errs []error
	for _, e := range f.Explicit {
		if e.Kind != k || e.Path == "" {
			continue
		}
		if e.Name == "" {
			errs = append(errs, fmt.Errorf("explicit %s plugin at %s has no name", k, e.Path))
			continue
		}
		if err := checkExecutable(e.Path); err != nil {
			errs = append(errs, fmt.Errorf("%s plugin %q: %w", k, e.Name, err))
			continue
		}
		abs, err := filepath.Abs(e.Path)
		if err != nil {
			abs = e.Path
		}
		add(Found{Kind: k, Name: e.Name, Path: abs, Source: SourceExplicit})
	}
	for _, loc := range f.locations() {
		entries, err := os.ReadDir(loc.Dir)
		if err != nil {
			continue // a missing or unreadable folder holds no plugins
		}
		dir, err := filepath.Abs(loc.Dir)
		if err != nil {
			dir = loc.Dir
		}
		for _, ent := range entries { // sorted by file name
			name, ok := pluginName(k, ent.Name())
			if !ok {
				continue
			}
			path := filepath.Join(dir, ent.Name())
			if err := checkExecutable(path); err != nil {
				skipped = append(skipped, unusable{name, err})
				continue
			}
			add(Found{Kind: k, Name: name, Path: path, Source: loc.Source})
		}
	}
	return all, skipped, errors.Join(errs...)
}

// unusable is a file named like a plugin that cannot be run.
type unusable struct {
	name string
	err  error
}

// pluginName returns N when file is mohawk-<k>-N (with .exe on Windows).
func pluginName(k Kind, file string) (string, bool) {
	if runtime.GOOS == "windows" {
		if !strings.HasSuffix(strings.ToLower(file), ".exe") {
			return "", false
		}
		file = file[:len(file)-len(".exe")]
	}
	name, ok := strings.CutPrefix(file, k.Prefix())
	return name, ok && name != ""
}

// ParseProgram reads the kind and name of a plugin from the name of its
// executable file (a base name, not a path): mohawk-backend-cpu is the
// backend "cpu" (mohawk-backend-cpu.exe on Windows). ok is false for a file
// not named like a plugin of any kind.
func ParseProgram(file string) (k Kind, name string, ok bool) {
	for _, k := range []Kind{KindBackend, KindMixer} {
		if name, ok := pluginName(k, file); ok {
			return k, name, true
		}
	}
	return "", "", false
}

// checkExecutable reports why path cannot be run as a plugin, if it cannot.
func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s does not exist", path)
		}
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (mode %s)", path, st.Mode())
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable (mode %s)", path, st.Mode().Perm())
	}
	return nil
}

// Discover lists the plugins of kind k in search order. Each name's first
// plugin is the one Find returns; later plugins of the same name are listed
// with ShadowedBy set. The error reports explicit paths that cannot be used;
// the plugins found elsewhere are returned with it.
func (f *Finder) Discover(k Kind) ([]Found, error) {
	all, _, err := f.scan(k)
	return all, err
}

// Find returns the plugin of kind k called name: the first in search order.
// When there is none, the error names every place it looked.
func (f *Finder) Find(k Kind, name string) (Found, error) {
	if err := k.check(); err != nil {
		return Found{}, err
	}
	if name == "" {
		return Found{}, fmt.Errorf("find %s plugin: empty name", k)
	}
	for _, e := range f.Explicit {
		if e.Kind == k && e.Name == name && e.Path != "" {
			// An explicit path is what the user asked for: if it is unusable,
			// say so instead of running something else found on the way.
			if err := checkExecutable(e.Path); err != nil {
				return Found{}, fmt.Errorf("%s plugin %q: the path given for it cannot be used: %w", k, name, err)
			}
		}
	}
	all, skipped, _ := f.scan(k)
	for _, fd := range all {
		if fd.Name == name && fd.ShadowedBy == "" {
			return fd, nil
		}
	}
	return Found{}, f.notFound(k, name, all, skipped)
}

func (f *Finder) notFound(k Kind, name string, all []Found, skipped []unusable) error {
	var b strings.Builder
	fmt.Fprintf(&b, "no %s plugin %q: no executable named %s%s", k, name, k.Prefix(), name)
	if runtime.GOOS == "windows" {
		b.WriteString(".exe")
	}
	b.WriteString(" in any of, in order:")
	explicit := 0
	for _, e := range f.Explicit {
		if e.Kind == k && e.Path != "" {
			explicit++
			fmt.Fprintf(&b, "\n  %s (explicit, for %q)", e.Path, e.Name)
		}
	}
	if explicit == 0 {
		b.WriteString("\n  (no explicit paths)")
	}
	for _, loc := range f.locations() {
		fmt.Fprintf(&b, "\n  %s (%s)", loc.Dir, loc.Source)
	}
	header := false
	for _, s := range skipped {
		if s.name != name {
			continue
		}
		if !header {
			b.WriteString("\nfound but unusable:")
			header = true
		}
		b.WriteString("\n  " + s.err.Error())
	}
	var names []string
	seen := map[string]bool{}
	for _, fd := range all {
		if !seen[fd.Name] {
			seen[fd.Name] = true
			names = append(names, fd.Name)
		}
	}
	sort.Strings(names)
	if len(names) > 0 {
		fmt.Fprintf(&b, "\n%s plugins found: %s", k, strings.Join(names, ", "))
	}
	return errors.New(b.String())
}
