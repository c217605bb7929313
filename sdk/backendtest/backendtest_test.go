package backendtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

func refFactory(f fault) func(t *testing.T) backend.Backend {
	return func(t *testing.T) backend.Backend { return newRef(f) }
}

// The reference interpreter wrapped as a backend passes every check.
func TestReference(t *testing.T) {
	Run(t, refFactory(fault{}), Options{})
}

// A backend without native fused ops gets their decompositions.
func TestReferenceDecomposed(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	Run(t, refFactory(fault{noFused: true}), Options{DTypes: []graph.DType{graph.F32, graph.I32}})
}

// An op declared unsupported may be refused.
func TestReferenceSkip(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	refuse := func(op graph.Op, dt graph.DType) bool { return op == graph.OpSin && dt == graph.F32 }
	Run(t, refFactory(fault{refuse: refuse}), Options{Skip: refuse, DTypes: []graph.DType{graph.F32, graph.I32}})
}

// mutants are faulty backends, the checks that must catch them (a -run
// pattern below the suite) and text the failure must show.
var mutants = map[string]struct {
	f    fault
	run  string
	want string
}{
	"stale-element":   {fault{staleElement: true}, "ops/f32/add", "run 2 failed: stale values"},
	"drop-exclusive":  {fault{dropExclusive: true}, "ops/f64/cumsum", "--- FAIL: TestMutantChild/ops/f64/cumsum[3,5]-axis1-extrue"},
	"serial-updates":  {fault{serialUpdates: true}, "programs/swapped", "a ← c"},
	"panic":           {fault{panicOnBadID: true}, "errors/ids", "panicked (a backend must return an error): index out of range"},
	"jitter":          {fault{jitter: true}, "determinism/f64/matmul", "differs between two runs"},
	"sloppy-f64":      {fault{sloppyF64: true}, "gradients", "vs graph.Evaluate"},
	"sloppy-matmul":   {fault{sloppyMatMul: true}, "ops/f32/matmul", "--- FAIL: TestMutantChild/ops/f32/matmul[7,13][13,33]"},
	"alias-set":       {fault{aliasSet: true}, "transfers/f32", "Tensor after SetTensor"},
	"refuse-sin":      {fault{refuse: func(op graph.Op, dt graph.DType) bool { return op == graph.OpSin && dt == graph.F32 }}, "ops", "op sin is not exercised in f32"},
	"update-on-error": {fault{updateOnError: true}, "programs/failed-run", "after the failed run"},
	"hang":            {fault{hangOnMissing: true}, "errors/run-inputs", "did not return within 1s"},
	"silent-errors":   {fault{wrongErrorText: true}, "errors/residents", `does not name "missing.param"`},
}

// TestMutants runs the suite on each faulty backend in a child process and
// requires it to fail where expected.
func TestMutants(t *testing.T) {
	if os.Getenv("BACKENDTEST_MUTANT") != "" {
		t.Skip("in a child")
	}
	for name, m := range mutants {
		t.Run(name, func(t *testing.T) {
			if testing.Short() && name == "refuse-sin" {
				t.Skip("short: runs every op check")
			}
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutantChild$/"+m.run, "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "BACKENDTEST_MUTANT="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a backend with the fault %q:\n%s", name, tail(out))
			}
			if !strings.Contains(string(out), m.want) {
				t.Fatalf("the suite failed, but its output lacks %q:\n%s", m.want, tail(out))
			}
		})
	}
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

func TestMutantChild(t *testing.T) {
	name := os.Getenv("BACKENDTEST_MUTANT")
	if name == "" {
		t.Skip("run by TestMutants")
	}
	callTimeout = time.Second
	Run(t, refFactory(mutants[name].f), Options{})
}
