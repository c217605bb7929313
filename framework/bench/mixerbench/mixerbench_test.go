package mixerbench

import (
	"math"
	"testing"
)

// TestSmall builds and runs every mixer on a tiny case.
func TestSmall(t *testing.T) {
	for _, m := range Mixers {
		r, err := Measure(Case{Mixer: m, DModel: 32, Heads: 4, SeqLen: 80, Batch: 2}, 1, 1, DefaultMaxArenaBytes)
		if err != nil {
			t.Fatal(err)
		}
		if r.Skipped != "" || r.ArenaBytes <= 0 || math.IsNaN(r.Loss) || r.TokensPerSec <= 0 {
			t.Fatalf("%s: %+v", m, r)
		}
	}
}

// BenchmarkMixer times one forward+backward step of each mixer
// (BenchmarkMixer/<mixer>/d<d_model>/T<T>, B·T = 4096) and reports tokens/s
// and the program's arena in MiB. A case whose arena exceeds 8 GiB is
// skipped, naming its arena.
func BenchmarkMixer(b *testing.B) {
	for _, c := range Cases(4096) {
		b.Run(c.Name(), func(b *testing.B) {
			s, err := Build(c, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			arena := s.ArenaBytes()
			b.ReportMetric(float64(arena)/(1<<20), "arena-MiB")
			if arena > DefaultMaxArenaBytes {
				b.Skipf("%s: arena %.1f GiB exceeds the 8 GiB limit; not run", c.Name(), gib(arena))
			}
			if _, err := s.Run(); err != nil { // warm-up
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := s.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(c.Tokens())*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64(arena)/(1<<20), "arena-MiB")
		})
	}
}

// TestSkip: a case whose arena exceeds the limit is compiled, not run, and
// reports its arena.
func TestSkip(t *testing.T) {
	r, err := Measure(Case{Mixer: Mamba2Matrix, DModel: 32, Heads: 4, SeqLen: 64, Batch: 1}, 1, 1, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if r.Skipped == "" || r.ArenaBytes <= 1024 || r.StepSeconds != 0 {
		t.Fatalf("%+v", r)
	}
}
