//go:build unix

// Tests of discovery: search order, shadowing, the default folders and the
// error of a plugin not found.

package plugins

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// touch writes an executable (or, with mode 0o644, a plain file) at dir/name.
func touch(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

type seen struct {
	name, path string
	source     Source
	shadowedBy string
}

func summarize(fs []Found) []seen {
	var out []seen
	for _, f := range fs {
		out = append(out, seen{f.Name, f.Path, f.Source, f.ShadowedBy})
	}
	return out
}

func TestDiscoverOrderAndShadowing(t *testing.T) {
	root := t.TempDir()
	explicit := touch(t, filepath.Join(root, "explicit"), "my-build-of-cpu", 0o755)
	beside, user := filepath.Join(root, "beside"), filepath.Join(root, "user")
	path1, path2 := filepath.Join(root, "path1"), filepath.Join(root, "path2")

	besideCPU := touch(t, beside, "mohawk-backend-cpu", 0o755)
	besideA := touch(t, beside, "mohawk-backend-a", 0o755)
	touch(t, beside, "mohawk-mixer-m", 0o755)
	touch(t, beside, "README", 0o644)
	touch(t, beside, "mohawk-backend-", 0o755) // no name: not a plugin
	userA := touch(t, user, "mohawk-backend-a", 0o755)
	userB := touch(t, user, "mohawk-backend-b", 0o755)
	path1B := touch(t, path1, "mohawk-backend-b", 0o755)
	path1C := touch(t, path1, "mohawk-backend-c", 0o755)
	touch(t, path1, "mohawk-backend-noexec", 0o644)
	path2A := touch(t, path2, "mohawk-backend-a", 0o755)
	path2C := touch(t, path2, "mohawk-backend-c", 0o755)

	f := &Finder{
		Explicit: []Explicit{{Kind: KindBackend, Name: "cpu", Path: explicit}},
		Locations: []Location{
			{SourceBesideBinary, beside}, {SourceUserDir, user},
			{SourcePath, path1}, {SourcePath, filepath.Join(root, "missing")}, {SourcePath, path2},
			{SourcePath, path1}, // a folder twice in PATH
		},
	}
	got, err := f.Discover(KindBackend)
	if err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"cpu", explicit, SourceExplicit, ""},
		{"a", besideA, SourceBesideBinary, ""},
		{"cpu", besideCPU, SourceBesideBinary, explicit},
		{"a", userA, SourceUserDir, besideA},
		{"b", userB, SourceUserDir, ""},
		{"b", path1B, SourcePath, userB},
		{"c", path1C, SourcePath, ""},
		{"a", path2A, SourcePath, besideA},
		{"c", path2C, SourcePath, path1C},
	}
	if g := summarize(got); len(g) != len(want) {
		t.Fatalf("Discover found\n%v\nwant\n%v", g, want)
	} else {
		for i := range want {
			if g[i] != want[i] {
				t.Errorf("Discover[%d] = %+v, want %+v", i, g[i], want[i])
			}
		}
	}

	for name, path := range map[string]string{"cpu": explicit, "a": besideA, "b": userB, "c": path1C} {
		fd, err := f.Find(KindBackend, name)
		if err != nil {
			t.Fatal(err)
		}
		if fd.Path != path || fd.ShadowedBy != "" {
			t.Errorf("Find(%q) = %s (shadowed by %q), want %s", name, fd.Path, fd.ShadowedBy, path)
		}
		if fd.Program() != "mohawk-backend-"+name {
			t.Errorf("Program() = %q", fd.Program())
		}
	}

	mixers, err := f.Discover(KindMixer)
	if err != nil {
		t.Fatal(err)
	}
	if len(mixers) != 1 || mixers[0].Name != "m" || mixers[0].Kind != KindMixer {
		t.Errorf("Discover(mixer) = %+v, want the one mixer m", mixers)
	}

	_, err = f.Find(KindBackend, "zzz")
	if err == nil {
		t.Fatal("Find of a missing plugin succeeded")
	}
	for _, s := range []string{`"zzz"`, "mohawk-backend-zzz", explicit, beside, user, path1, path2, "beside-binary", "user-dir", "PATH", "a, b, c, cpu"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error of a missing plugin does not mention %q:\n%v", s, err)
		}
	}
	_, err = f.Find(KindBackend, "noexec")
	if err == nil || !strings.Contains(err.Error(), "not executable") {
		t.Errorf("Find of a plugin that is not executable: %v, want an error saying so", err)
	}
	if _, err := f.Discover(Kind("gpu")); err == nil {
		t.Error("Discover of an unknown kind succeeded")
	}
}

func TestExplicitPathAndPin(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "dir")
	inDir := touch(t, dir, "mohawk-backend-cpu", 0o755)
	missing := filepath.Join(root, "nowhere", "mohawk-backend-gone")
	pin := strings.Repeat("ab", 32)
	f := &Finder{
		Explicit: []Explicit{
			{Kind: KindBackend, Name: "cpu", SHA256: pin}, // a pin on whatever the search finds
			{Kind: KindBackend, Name: "gone", Path: missing},
		},
		Locations: []Location{{SourceUserDir, dir}},
	}
	fd, err := f.Find(KindBackend, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if fd.Path != inDir || fd.SHA256 != pin {
		t.Errorf("Find(cpu) = %+v, want %s pinned to %s", fd, inDir, pin)
	}
	// An explicit path that cannot be used is an error, never a fallback.
	touch(t, dir, "mohawk-backend-gone", 0o755)
	if _, err := f.Find(KindBackend, "gone"); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Find with a missing explicit path: %v, want an error naming %s", err, missing)
	}
	all, err := f.Discover(KindBackend)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Discover with a missing explicit path: %v, want an error naming %s", err, missing)
	}
	if len(all) != 2 {
		t.Errorf("Discover returned %d plugins beside its error, want the 2 it found", len(all))
	}
}

func TestDefaultLocations(t *testing.T) {
	p1, p2 := t.TempDir(), t.TempDir()
	t.Setenv("PATH", p1+string(os.PathListSeparator)+p2)
	t.Setenv(EnvPluginDir, "/opt/mohawk-plugins")
	t.Setenv("XDG_DATA_HOME", "/xdg")
	t.Setenv("HOME", "/home/someone")

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	want := []Location{
		{SourceBesideBinary, filepath.Join(filepath.Dir(exe), "plugins")},
		{SourceUserDir, "/opt/mohawk-plugins"},
		{SourcePath, p1}, {SourcePath, p2},
	}
	got := DefaultLocations()
	if len(got) != len(want) {
		t.Fatalf("DefaultLocations() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("DefaultLocations()[%d] = %v, want %v", i, got[i], want[i])
		}
	}

	t.Setenv(EnvPluginDir, "")
	if got, want := UserDir(), "/xdg/mohawk/plugins"; got != want {
		t.Errorf("UserDir() with XDG_DATA_HOME = %q, want %q", got, want)
	}
	t.Setenv("XDG_DATA_HOME", "")
	if got, want := UserDir(), "/home/someone/.local/share/mohawk/plugins"; got != want {
		t.Errorf("UserDir() with HOME only = %q, want %q", got, want)
	}
}

// TestDiscoverDefault runs the package's Discover on real folders: plugins/
// beside the test binary, $MOHAWK_PLUGIN_DIR and $PATH.
func TestDiscoverDefault(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	beside := filepath.Join(filepath.Dir(exe), "plugins")
	if _, err := os.Stat(beside); err == nil {
		t.Skipf("%s exists already", beside)
	}
	t.Cleanup(func() { os.RemoveAll(beside) })
	user, path := t.TempDir(), t.TempDir()
	t.Setenv(EnvPluginDir, user)
	t.Setenv("PATH", path)

	besideZ := touch(t, beside, "mohawk-backend-z", 0o755)
	userZ := touch(t, user, "mohawk-backend-z", 0o755)
	userY := touch(t, user, "mohawk-backend-y", 0o755)
	pathY := touch(t, path, "mohawk-backend-y", 0o755)
	pathX := touch(t, path, "mohawk-backend-x", 0o755)

	got, err := Discover(KindBackend)
	if err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"z", besideZ, SourceBesideBinary, ""},
		{"y", userY, SourceUserDir, ""},
		{"z", userZ, SourceUserDir, besideZ},
		{"x", pathX, SourcePath, ""},
		{"y", pathY, SourcePath, userY},
	}
	g := summarize(got)
	if len(g) != len(want) {
		t.Fatalf("Discover found\n%v\nwant\n%v", g, want)
	}
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("Discover[%d] = %+v, want %+v", i, g[i], want[i])
		}
	}
	fd, err := Find(KindBackend, "y")
	if err != nil || fd.Path != userY {
		t.Errorf("Find(y) = %v, %v; want %s", fd.Path, err, userY)
	}
}

func TestParseProgram(t *testing.T) {
	for _, c := range []struct {
		file string
		kind Kind
		name string
		ok   bool
	}{
		{"mohawk-backend-cpu", KindBackend, "cpu", true},
		{"mohawk-mixer-linear-attention", KindMixer, "linear-attention", true},
		{"mohawk-mixer-", "", "", false},
		{"mohawk-other-x", "", "", false},
		{"cpu", "", "", false},
	} {
		k, name, ok := ParseProgram(c.file)
		if k != c.kind || name != c.name || ok != c.ok {
			t.Errorf("ParseProgram(%q) = %q, %q, %v; want %q, %q, %v", c.file, k, name, ok, c.kind, c.name, c.ok)
		}
	}
}
