package data

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// DefaultSplitSeed picks the validation sequences when SplitConfig.SplitSeed is 0.
const DefaultSplitSeed = 0x5eed_da7a

// Split cuts the token stream into sequences of seqLen+1 tokens and divides
// them into training and validation sets.
//
// Sequence i holds tokens [i*seqLen, i*seqLen+seqLen+1): its first seqLen
// tokens are the inputs and its last seqLen the next-token targets, so
// consecutive sequences share one boundary token and every token is a target
// once. There are (Len()-1)/seqLen sequences; the tail is dropped.
//
// The validation set is round(valFraction*n) sequences taken as the first
// ones of a permutation of 0..n-1 drawn from a PCG seeded with splitSeed (0
// means DefaultSplitSeed): spread over the whole corpus, not its end, and
// independent of the training shuffle seed. Both sets list their sequences in
// ascending order.
func Split(t *Tokens, seqLen int, valFraction float64, splitSeed uint64) (train, val *Set, err error) {
	if seqLen < 1 {
		return nil, nil, errors.New("data: seqLen must be at least 1")
	}
	if valFraction < 0 || valFraction >= 1 || math.IsNaN(valFraction) {
		return nil, nil, fmt.Errorf("data: validation fraction %v outside [0,1)", valFraction)
	}
	n := 0
	if t.Len() > 0 {
		n = (t.Len() - 1) / seqLen
	}
	if splitSeed == 0 {
		splitSeed = DefaultSplitSeed
	}
	nv := int(math.Round(valFraction * float64(n)))
	isVal := make([]bool, n)
	perm := rand.New(rand.NewPCG(splitSeed, 0x9e3779b97f4a7c15)).Perm(n)
	for _, i := range perm[:nv] {
		isVal[i] = true
	}
	perm = nil
	train = &Set{tokens: t, seqLen: seqLen, idx: make([]int32, 0, n-nv)}
	val = &Set{tokens: t, seqLen: seqLen, idx: make([]int32, 0, nv)}
	for i, v := range isVal {
		if v {
			val.idx = append(val.idx, int32(i))
		} else {
			train.idx = append(train.idx, int32(i))
		}
	}
	return train, val, nil
}

// Set is a list of sequences of a token stream.
type Set struct {
	tokens *Tokens
	seqLen int
	idx    []int32
}

// Len is the number of sequences.
func (s *Set) Len() int { return len(s.idx) }

// SeqLen is T, the inputs per sequence.
func (s *Set) SeqLen() int { return s.seqLen }

// Index returns the stream-wide index of the set's k-th sequence.
func (s *Set) Index(k int) int { return int(s.idx[k]) }

// Sequence copies sequence k of the set (seqLen+1 tokens) into dst.
func (s *Set) Sequence(dst []int32, k int) {
	s.tokens.Read(dst[:s.seqLen+1], int(s.idx[k])*s.seqLen)
}

// Batches returns an iterator over batches of b sequences, starting at step
// start (0 for a fresh run). Each epoch visits the set in a permutation drawn
// from a PCG seeded with (seed, epoch), so epochs reshuffle and the same seed
// gives the same batches; the last len%b sequences of an epoch's order are
// left out of that epoch.
func (s *Set) Batches(b int, seed uint64, start int) (*Iterator, error) {
	if b < 1 {
		return nil, errors.New("data: batch size must be at least 1")
	}
	if s.Len() < b {
		return nil, fmt.Errorf("data: %d sequences, fewer than one batch of %d", s.Len(), b)
	}
	if start < 0 {
		return nil, errors.New("data: negative start step")
	}
	return &Iterator{set: s, b: b, seed: seed, step: start, epoch: -1}, nil
}

// Iterator yields batches; it is not safe for concurrent use.
type Iterator struct {
	set   *Set
	b     int
	seed  uint64
	step  int
	epoch int
	perm  []int
	row   []int32
}

// StepsPerEpoch is the number of batches in one epoch.
func (it *Iterator) StepsPerEpoch() int { return it.set.Len() / it.b }

// Step is the step the next call to Next returns.
func (it *Iterator) Step() int { return it.step }

// Epoch is the epoch of the next batch.
func (it *Iterator) Epoch() int { return it.step / it.StepsPerEpoch() }

// Next returns the batch of the current step as tokens [B,T] and targets
// [B,T] (int32), and advances. The tensors are freshly allocated.
func (it *Iterator) Next() (tokens, targets *graph.Tensor) {
	spe := it.StepsPerEpoch()
	epoch, j := it.step/spe, it.step%spe
	if epoch != it.epoch {
		r := rand.New(rand.NewPCG(it.seed, uint64(epoch)))
		it.perm = r.Perm(it.set.Len())
		it.epoch = epoch
	}
	T := it.set.seqLen
	tok := make([]int32, it.b*T)
	tgt := make([]int32, it.b*T)
	if it.row == nil {
		it.row = make([]int32, T+1)
	}
	for r := 0; r < it.b; r++ {
		it.set.Sequence(it.row, it.perm[j*it.b+r])
		copy(tok[r*T:], it.row[:T])
		copy(tgt[r*T:], it.row[1:])
	}
	it.step++
	return graph.FromI32(tok, it.b, T), graph.FromI32(tgt, it.b, T)
}
