// Learning-rate schedules: pure functions of the step and the total number
// of steps, evaluated on the host and fed to the programs as "lr".

package train

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of step (0-based) of a run of total
// steps.
//
// The schedules below are continuous functions f of the fraction u of the
// run completed, sampled at the end of each step: lr(step) = f((step+1)/total),
// with u clamped to [0, 1] (a total ≤ 0 counts as u = 1). So a warmup that
// rises linearly from f(0) = 0 gives step 0 a small but non-zero rate and
// reaches the peak exactly at the last warmup step, and a decay reaches its
// floor exactly at the last step.
type Schedule interface {
	LR(step, total int) float64
}

// progress is u = (step+1)/total, clamped to [0, 1].
func progress(step, total int) float64 {
	if total <= 0 {
		return 1
	}
	return min(max(float64(step+1)/float64(total), 0), 1)
}

// Constant is LR0 at every step.
type Constant struct{ LR0 float64 }

func (c Constant) LR(step, total int) float64 { return c.LR0 }

// Validate reports a negative or non-finite rate.
func (c Constant) Validate() error { return checkRate("Constant.LR0", c.LR0) }

// Cosine warms up linearly from 0 to LR0 over the first Warmup fraction of
// the run, then follows half a cosine from LR0 down to MinLR at the end.
type Cosine struct {
	LR0, MinLR float64
	Warmup     float64 // fraction of the run, in [0, 1]
}

func (c Cosine) LR(step, total int) float64 {
	u := progress(step, total)
	if u <= c.Warmup {
		return c.LR0 * u / c.Warmup // u ≤ Warmup and u > 0, so Warmup > 0
	}
	q := (u - c.Warmup) / (1 - c.Warmup)
	return c.MinLR + (c.LR0-c.MinLR)*0.5*(1+math.Cos(math.Pi*q))
}

// Validate reports a field out of range, naming it.
func (c Cosine) Validate() error {
	if err := checkRate("Cosine.LR0", c.LR0); err != nil {
		return err
	}
	if err := checkRate("Cosine.MinLR", c.MinLR); err != nil {
		return err
	}
	return checkFraction("Cosine.Warmup", c.Warmup)
}

// WSD is warmup-stable-decay: linear warmup from 0 to LR0 over the first
// Warmup fraction of the run, LR0 until the last Decay fraction, then a
// linear decay to MinLR at the end. The MOHAWK paper uses Warmup = Decay = 0.1.
type WSD struct {
	LR0, MinLR    float64
	Warmup, Decay float64 // fractions of the run; Warmup + Decay ≤ 1
}

func (w WSD) LR(step, total int) float64 {
	u := progress(step, total)
	switch {
	case u <= w.Warmup:
		return w.LR0 * u / w.Warmup // u > 0, so Warmup > 0
	case u <= 1-w.Decay:
		return w.LR0
	}
	// u > 1 − Decay, so Decay > 0; written in 1 − u so that the last step
	// is MinLR exactly.
	return w.MinLR + (w.LR0-w.MinLR)*(1-u)/w.Decay
}

// Validate reports a field out of range, naming it.
func (w WSD) Validate() error {
	if err := checkRate("WSD.LR0", w.LR0); err != nil {
		return err
	}
	if err := checkRate("WSD.MinLR", w.MinLR); err != nil {
		return err
	}
	if err := checkFraction("WSD.Warmup", w.Warmup); err != nil {
		return err
	}
	if err := checkFraction("WSD.Decay", w.Decay); err != nil {
		return err
	}
	if w.Warmup+w.Decay > 1+1e-12 { // a little slack for sums like 0.7 + 0.3
		return fmt.Errorf("train: WSD.Warmup + WSD.Decay = %v + %v exceeds 1", w.Warmup, w.Decay)
	}
	return nil
}

func checkRate(name string, v float64) error {
	if !(v >= 0) || math.IsInf(v, 0) {
		return fmt.Errorf("train: %s = %v, expected a finite learning rate ≥ 0", name, v)
	}
	return nil
}

func checkFraction(name string, v float64) error {
	if !(v >= 0 && v <= 1) {
		return fmt.Errorf("train: %s = %v, expected a fraction in [0, 1]", name, v)
	}
	return nil
}
