package engine

import (
	"bufio"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mohawk-distill/mohawk/framework/pipeline"
)

// resumeStages trains the teacher, orients the student and distils it, with
// a checkpoint in the middle of distillation (whose micro-batches exercise
// the accumulated optimizer state).
const resumeStages = `
student "mamba" {
  teacher   = teacher.tiny
  init_from = "teacher"
  mixer "mamba2" { chunk = 16 }
}
stage "pretrain" {
  kind         = "pretrain"
  model        = teacher.tiny
  dataset      = dataset.text
  tokens       = 12288
  batch_tokens = 1024
  micro_batch  = 16
  optimizer { lr = 3e-3 }
  checkpoint_every = 4096
}
stage "orient" {
  kind         = "matrix_orientation"
  model        = student.mamba
  dataset      = dataset.text
  tokens       = 2048
  batch_tokens = 512
  micro_batch  = 8
  optimizer { lr = 3e-3 }
}
stage "distill" {
  kind         = "knowledge_distillation"
  model        = student.mamba
  dataset      = dataset.text
  tokens       = 8192
  batch_tokens = 1024
  micro_batch  = 8
  optimizer { lr = 2e-3 }
  checkpoint_every = 3072
}
output { dir = "run" }
`

// childEnv makes the test binary run one pipeline (TestRunChild) in a child
// process.
const childEnv = "MOHAWK_ENGINE_TEST_CHILD"

// TestRunChild is the child of TestResumeAfterKill: it runs the pipeline
// named by childEnv, which the checkpoint hook stops for the parent to kill.
func TestRunChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("runs only as the child of TestResumeAfterKill")
	}
	p, diags := pipeline.Load(path, pipeline.Vars{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	e := open(t, p, testOptions(t))
	if _, err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// stepLosses lists the step losses of a run in order.
func stepLosses(t *testing.T, metrics string) []float64 {
	t.Helper()
	f, err := os.Open(metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"eval"`) {
			continue
		}
		l, _ := readMetricsLine(t, sc.Bytes())
		out = append(out, l)
	}
	return out
}

func TestResumeAfterKill(t *testing.T) {
	t.Parallel()
	src := tinyTeacher + resumeStages

	// The uninterrupted run.
	refDir := t.TempDir()
	p := writePipeline(t, refDir, "resume.hcl", src)
	e := open(t, p, testOptions(t))
	res, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	want := stepLosses(t, res.Metrics)

	// The same run in a child process, stopped after its fifth checkpoint
	// (pretrain: 4096, 8192, end; orient: end; distill: 3072) and killed.
	dir := t.TempDir()
	path := filepath.Join(dir, "resume.hcl")
	writePipeline(t, dir, "resume.hcl", src)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+path, checkpointHookEnv+"=5", exeEnv+"="+mohawkExe)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reached := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		ok := false
		for sc.Scan() {
			if strings.Contains(sc.Text(), "checkpoint hook reached") && !ok {
				ok = true
				reached <- true
			}
		}
		if !ok {
			reached <- false
		}
	}()
	select {
	case ok := <-reached:
		if !ok {
			cmd.Wait()
			t.Fatal("the child ended without reaching the checkpoint hook")
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the child did not reach the checkpoint hook in 60 s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	partial := stepLosses(t, filepath.Join(dir, "run", "metrics.jsonl"))
	if len(partial) >= len(want) {
		t.Fatalf("the child ran %d of %d steps before it was killed", len(partial), len(want))
	}

	// Resume and compare every step's loss.
	p2, diags := pipeline.Load(path, pipeline.Vars{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	opt := testOptions(t)
	opt.Resume = true
	e2 := open(t, p2, opt)
	res2, err := e2.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := stepLosses(t, res2.Metrics)
	t.Logf("killed after %d of %d steps; resumed run has %d steps", len(partial), len(want), len(got))
	if len(got) != len(want) {
		t.Fatalf("resumed run has %d step losses, the uninterrupted one %d", len(got), len(want))
	}
	worst := 0.0
	for i := range want {
		d := math.Abs(got[i] - want[i])
		worst = max(worst, d)
		if d > 1e-6 || math.IsNaN(got[i]) {
			t.Errorf("step %d: loss %.9g after resume, %.9g uninterrupted", i, got[i], want[i])
		}
	}
	t.Logf("largest difference of a step's loss: %g", worst)
	if len(res2.Rows) != len(res.Rows) {
		t.Errorf("rows %d vs %d", len(res2.Rows), len(res.Rows))
	}
}

func TestNaNStopsStageAndKeepsCheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writePipeline(t, dir, "nan.hcl", tinyTeacher+`
stage "good" {
  kind         = "pretrain"
  model        = teacher.tiny
  dataset      = dataset.text
  tokens       = 2048
  batch_tokens = 1024
  micro_batch  = 16
  optimizer { lr = 1e-3 }
}
stage "bad" {
  kind         = "pretrain"
  model        = teacher.tiny
  dataset      = dataset.text
  tokens       = 8192
  batch_tokens = 1024
  micro_batch  = 16
  optimizer {
    lr   = 1e30
    clip = 0
  }
  schedule { kind = "constant" }
}
output { dir = "run" }
`)
	e := open(t, p, testOptions(t))
	_, err := e.Run(context.Background())
	var se *StageError
	if !errors.As(err, &se) {
		t.Fatalf("Run: %v, expected a *StageError", err)
	}
	t.Log(err)
	if se.Stage != "bad" || se.Step < 1 || !strings.Contains(err.Error(), "step") {
		t.Errorf("stage %q step %d", se.Stage, se.Step)
	}
	// The checkpoint of the good stage's end is still there and complete.
	dirCk, _, err := lastCheckpoint(filepath.Join(dir, "run"))
	if err != nil || dirCk == "" || se.Checkpoint != dirCk {
		t.Fatalf("last checkpoint %q (%v), the error names %q", dirCk, err, se.Checkpoint)
	}
	st, _, _, err := readCheckpoint(dirCk)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stage != 1 || st.Step != 0 {
		t.Errorf("checkpoint state: stage %d step %d, expected the start of stage 1", st.Stage, st.Step)
	}
	// The report says what was done and why the run stopped.
	md, err := os.ReadFile(filepath.Join(dir, "run", "report.md"))
	if err != nil || !strings.Contains(string(md), "The run stopped") || !strings.Contains(string(md), "good") {
		t.Errorf("report.md (%v):\n%s", err, md)
	}
}
