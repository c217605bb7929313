package tokenizer

import "container/heap"

// longPiece is the piece length in bytes from which BPE uses a heap of
// candidate pairs instead of rescanning all pairs after each merge; the scan
// is quadratic in the piece length.
const longPiece = 128

type cand struct {
	rank, pos   int32
	left, right int32 // the ids the pair had when pushed
}

type candHeap []cand

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].pos < h[j].pos
}
func (h candHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)   { *h = append(*h, x.(cand)) }
func (h *candHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// bpeHeap gives the same result as the scan in bpe: the pair of lowest rank,
// leftmost first, is merged until none is left. Symbols keep the index of
// their first byte, so positions order pairs as in the text.
func (t *bpe) bpeHeap(p string) []int32 {
	n := len(p)
	id := make([]int32, n)
	next := make([]int32, n)
	prev := make([]int32, n)
	for i := 0; i < n; i++ {
		id[i] = t.byteID[p[i]]
		next[i] = int32(i + 1)
		prev[i] = int32(i - 1)
	}
	next[n-1] = -1
	h := candHeap{}
	push := func(i int32) {
		if i < 0 || next[i] < 0 {
			return
		}
		j := next[i]
		if m, ok := t.merges[uint64(uint32(id[i]))<<32|uint64(uint32(id[j]))]; ok {
			heap.Push(&h, cand{m.rank, i, id[i], id[j]})
		}
	}
	for i := int32(0); i < int32(n-1); i++ {
		push(i)
	}
	dead := int32(-2)
	for h.Len() > 0 {
		c := heap.Pop(&h).(cand)
		i := c.pos
		j := next[i]
		if next[i] == dead || j < 0 || id[i] != c.left || id[j] != c.right {
			continue
		}
		m := t.merges[uint64(uint32(c.left))<<32|uint64(uint32(c.right))]
		id[i] = m.id
		k := next[j]
		next[i] = k
		if k >= 0 {
			prev[k] = i
		}
		next[j] = dead
		push(prev[i])
		push(i)
	}
	out := make([]int32, 0, n/2)
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, id[i])
	}
	return out
}
