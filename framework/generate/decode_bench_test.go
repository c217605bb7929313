package generate

import (
	"context"
	"testing"
)

// BenchmarkDecode feeds 200 tokens one at a time to the tiny default's
// teacher (examples/tiny/teacher: d 256, 4 layers) on one CPU thread, as
// generation does, and reports tokens/s.
func BenchmarkDecode(b *testing.B) {
	ctx := context.Background()
	m, err := Load(ctx, "../../examples/tiny/teacher", Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	const tokens = 200
	for i := 0; i < b.N; i++ {
		if err := m.Reset(ctx); err != nil {
			b.Fatal(err)
		}
		for p := range tokens {
			if _, err := m.Feed(ctx, 32+p%90); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
