package engine

import (
	"context"
	"strings"
	"testing"
)

func TestPlanCounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writePipeline(t, dir, "plan.hcl", tinyTeacher+distillStages)
	for _, calibrate := range []bool{false, true} {
		opt := testOptions(t)
		opt.NoCalibrate = !calibrate
		e := open(t, p, opt)
		pl, err := e.Plan()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		pl.Print(&b)
		t.Logf("calibrate %v:\n%s", calibrate, b.String())

		// The expected counts: the sums of the models' Init lengths.
		ctx := context.Background()
		tm := e.teachers["tiny"]
		sm := e.students["mamba"]
		count := func(student bool) int64 {
			var mixers = sm.mixers
			if !student {
				mixers = nil
			}
			params, err := modelParams(ctx, tm.cfg, mixers, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			for _, p := range params {
				n += int64(p.Init.Len())
			}
			return n
		}
		teacherN, studentN := count(false), count(true)
		if len(pl.Stages) != 4 {
			t.Fatalf("%d stages", len(pl.Stages))
		}
		pre, kd := pl.Stages[0], pl.Stages[3]
		if pre.Trainable != teacherN || pre.Frozen != 0 {
			t.Errorf("pretrain: trainable %d frozen %d, expected %d and 0", pre.Trainable, pre.Frozen, teacherN)
		}
		if kd.Trainable != studentN || kd.Frozen != teacherN {
			t.Errorf("distill: trainable %d frozen %d, expected %d and %d", kd.Trainable, kd.Frozen, studentN, teacherN)
		}
		for _, s := range pl.Stages {
			if s.FLOPs <= 0 || s.PeakBytes <= 0 || s.Seconds <= 0 || s.Calibrated != calibrate {
				t.Errorf("stage %s: %+v", s.Name, s)
			}
			// Training reads every param at least once per token: 2·N·tokens
			// is a floor for the FLOPs.
			if s.FLOPs < 2*float64(s.Trainable)*float64(s.Tokens) {
				t.Errorf("stage %s: %g FLOPs is below 2·N·tokens", s.Name, s.FLOPs)
			}
			if !strings.Contains(b.String(), s.Name) {
				t.Errorf("the table has no row for %s", s.Name)
			}
		}
		if pl.Stages[1].Trainable >= pl.Stages[2].Trainable || pl.Stages[2].Trainable >= kd.Trainable {
			t.Errorf("trainable sets should grow stage by stage: %d, %d, %d", pl.Stages[1].Trainable, pl.Stages[2].Trainable, kd.Trainable)
		}
		e.Close()
	}
}
