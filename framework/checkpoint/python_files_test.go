package checkpoint

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPythonWrittenFiles opens the parity fixtures that the Python
// safetensors library wrote for the mixer tests (a third producer besides
// Write and the hand-built bytes) and converts every tensor in them.
func TestPythonWrittenFiles(t *testing.T) {
	paths, _ := filepath.Glob("../../mixers/*/testdata/*.safetensors")
	if len(paths) == 0 {
		t.Skip("no fixtures")
	}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(p)
		q, err := parse(raw, p)
		if err != nil || len(q.recs) != len(f.Names()) || len(f.Names()) == 0 {
			t.Fatalf("%s: in-memory parse disagrees with Open: %v", p, err)
		}
		for _, name := range f.Names() {
			info, _ := f.Info(name)
			tn, err := f.Tensor(name)
			if isFloatDType(info.DType) || isIntDType(info.DType) {
				if err != nil || tn.Len() != info.Elements() {
					t.Fatalf("%s: %s: %v", p, name, err)
				}
			}
		}
		t.Logf("%s: %d tensors", filepath.Base(p), len(f.Names()))
		f.Close()
	}
}
