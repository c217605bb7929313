//go:build cgo

package vulkan

import (
	"math/rand/v2"
	"testing"
)

// TestBlockCarving: spans taken from a block are aligned and disjoint, and
// giving them back in any order merges the free list into the whole block.
func TestBlockCarving(t *testing.T) {
	const size = 1 << 20
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 20; round++ {
		blk := &block{size: size, free: []span{{0, size}}}
		var taken []span
		for {
			n := uint64(256 * (1 + r.IntN(64)))
			align := uint64(1) << (4 + r.IntN(6))
			off, ok := blk.take(n, align)
			if !ok {
				break
			}
			if off%align != 0 || off+n > size {
				t.Fatalf("span %d+%d is not aligned to %d or leaves the block", off, n, align)
			}
			for _, s := range taken {
				if off < s.off+s.size && s.off < off+n {
					t.Fatalf("span %d+%d overlaps %d+%d", off, n, s.off, s.size)
				}
			}
			taken = append(taken, span{off, n})
		}
		if blk.used != len(taken) || len(taken) < 10 {
			t.Fatalf("%d spans taken, used %d", len(taken), blk.used)
		}
		r.Shuffle(len(taken), func(i, j int) { taken[i], taken[j] = taken[j], taken[i] })
		for _, s := range taken {
			blk.give(s.off, s.size)
		}
		if blk.used != 0 || len(blk.free) != 1 || blk.free[0] != (span{0, size}) {
			t.Fatalf("after giving every span back: used %d, free %v", blk.used, blk.free)
		}
	}
}
