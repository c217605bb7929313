// Tests of the learning-rate schedules at their key steps and of their
// field validation.

package train

import (
	"math"
	"strings"
	"testing"
)

func TestScheduleValues(t *testing.T) {
	const total = 100
	type point struct {
		step int
		want float64
	}
	cases := []struct {
		name   string
		s      Schedule
		points []point
	}{
		{"constant", Constant{LR0: 3e-4}, []point{{0, 3e-4}, {50, 3e-4}, {99, 3e-4}}},
		{"cosine", Cosine{LR0: 1, MinLR: 0.1, Warmup: 0.1}, []point{
			{0, 0.1},   // start: u = 0.01, a tenth of the warmup
			{4, 0.5},   // half the warmup
			{9, 1},     // end of warmup: u = 0.1
			{54, 0.55}, // middle of the cosine: u = 0.55, halfway between LR0 and MinLR
			{99, 0.1},  // last step: MinLR
			{10, 0.1 + 0.9*0.5*(1+math.Cos(math.Pi*0.01/0.9))}, // first step after warmup
			{150, 0.1}, // past the end: clamped
		}},
		{"cosine_no_warmup", Cosine{LR0: 2, MinLR: 0, Warmup: 0}, []point{
			{0, 1 + math.Cos(math.Pi*0.01)}, {49, 1}, {99, 0},
		}},
		{"wsd", WSD{LR0: 1, MinLR: 0.1, Warmup: 0.1, Decay: 0.2}, []point{
			{0, 0.1},    // start
			{9, 1},      // end of warmup
			{50, 1},     // middle: stable
			{79, 1},     // last stable step: u = 0.8
			{80, 0.955}, // start of decay: u = 0.81, 1/20 of the decay
			{89, 0.55},  // middle of the decay
			{99, 0.1},   // last step: MinLR
		}},
		{"wsd_paper", WSD{LR0: 1e-3, MinLR: 0, Warmup: 0.1, Decay: 0.1}, []point{
			{0, 1e-4}, {99, 0}, {9, 1e-3}, {89, 1e-3}, {90, 0.9e-3}, {94, 0.5e-3},
		}},
		{"wsd_all_decay", WSD{LR0: 1, MinLR: 0, Warmup: 0, Decay: 1}, []point{{0, 0.99}, {49, 0.5}, {99, 0}}},
		{"wsd_all_warmup", WSD{LR0: 1, MinLR: 0, Warmup: 1, Decay: 0}, []point{{0, 0.01}, {49, 0.5}, {99, 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if v, ok := c.s.(interface{ Validate() error }); ok {
				if err := v.Validate(); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range c.points {
				if got := c.s.LR(p.step, total); math.Abs(got-p.want) > 1e-12 {
					t.Errorf("LR(%d, %d) = %.15g, want %.15g", p.step, total, got, p.want)
				}
			}
			// The decays end on MinLR exactly.
			floor := -1.0
			switch s := c.s.(type) {
			case Cosine:
				floor = s.MinLR
			case WSD:
				floor = s.MinLR
				if s.Decay == 0 {
					floor = s.LR0
				}
			}
			if last := c.s.LR(total-1, total); floor >= 0 && last != floor {
				t.Errorf("last step: LR = %v, want exactly %v", last, floor)
			}
			// Never negative.
			for step := 0; step < total; step++ {
				if lr := c.s.LR(step, total); !(lr >= 0) {
					t.Errorf("LR(%d) = %v", step, lr)
				}
			}
		})
	}
	if lr := (WSD{LR0: 1, MinLR: 0.5, Warmup: 0.1, Decay: 0.1}).LR(0, 0); lr != 0.5 {
		t.Errorf("LR with total 0 = %v, want MinLR (the end of the run)", lr)
	}
}

func TestScheduleValidate(t *testing.T) {
	cases := []struct {
		v    interface{ Validate() error }
		want string // empty: valid
	}{
		{Constant{LR0: 1e-3}, ""},
		{Constant{LR0: -1}, "Constant.LR0"},
		{Constant{LR0: math.Inf(1)}, "Constant.LR0"},
		{Cosine{LR0: 1e-3, MinLR: 1e-5, Warmup: 0.05}, ""},
		{Cosine{LR0: -1e-3, Warmup: 0.05}, "Cosine.LR0"},
		{Cosine{LR0: 1e-3, MinLR: -1}, "Cosine.MinLR"},
		{Cosine{LR0: 1e-3, Warmup: 1.5}, "Cosine.Warmup"},
		{Cosine{LR0: 1e-3, Warmup: math.NaN()}, "Cosine.Warmup"},
		{WSD{LR0: 1e-3, Warmup: 0.1, Decay: 0.1}, ""},
		{WSD{LR0: 1e-3, Warmup: 0.7, Decay: 0.3}, ""},
		{WSD{LR0: math.NaN(), Warmup: 0.1, Decay: 0.1}, "WSD.LR0"},
		{WSD{LR0: 1e-3, MinLR: -1e-4, Warmup: 0.1, Decay: 0.1}, "WSD.MinLR"},
		{WSD{LR0: 1e-3, Warmup: -0.1, Decay: 0.1}, "WSD.Warmup"},
		{WSD{LR0: 1e-3, Warmup: 0.1, Decay: 2}, "WSD.Decay"},
		{WSD{LR0: 1e-3, Warmup: 0.6, Decay: 0.5}, "WSD.Warmup + WSD.Decay"},
	}
	for _, c := range cases {
		err := c.v.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", c.v, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want one naming %s", c.v, err, c.want)
		}
	}
}
