// Shape helpers for the compile step: row-major strides, broadcast strides,
// dimension collapsing, and the strided N-d iterator that walks a flat range
// of an output as contiguous runs of its innermost dimension.

package cpu

import "github.com/mohawk-distill/mohawk/sdk/graph"

// maxOperands is the most operands (output included) an ndPlan walks.
const maxOperands = 4

// strides returns the row-major strides of shape.
func strides(shape []int) []int {
	st := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
	return st
}

// bcastStrides returns the strides with which a value of shape in is read
// when broadcast to out (numpy rules, right-aligned): 0 along broadcast
// dimensions.
func bcastStrides(in, out []int) []int {
	st := make([]int, len(out))
	ist := strides(in)
	off := len(out) - len(in)
	for i := range in {
		if in[i] != 1 {
			st[off+i] = ist[i]
		}
	}
	return st
}

// ndPlan is a collapsed iteration space: dims and, per operand, the element
// stride along each dim. Operand 0 is conventionally the output.
type ndPlan struct {
	rank  int
	nops  int
	total int
	dims  [graph.MaxRank]int
	str   [maxOperands][graph.MaxRank]int
	base  [maxOperands]int // starting offset of each operand
}

// newPlan collapses dims for the operands' strides: size-1 dims are dropped
// and adjacent dims merged where every operand steps through them as one.
// The result has rank ≥ 1.
func newPlan(dims []int, strs ...[]int) *ndPlan {
	p := &ndPlan{nops: len(strs), total: 1}
	for _, d := range dims {
		p.total *= d
	}
	for i, d := range dims {
		if d == 1 {
			continue
		}
		if p.rank > 0 {
			last := p.rank - 1
			ok := true
			for k, s := range strs {
				if p.str[k][last] != s[i]*d {
					ok = false
					break
				}
			}
			if ok {
				p.dims[last] *= d
				for k, s := range strs {
					p.str[k][last] = s[i]
				}
				continue
			}
		}
		p.dims[p.rank] = d
		for k, s := range strs {
			p.str[k][p.rank] = s[i]
		}
		p.rank++
	}
	if p.rank == 0 {
		// a single element: strides stay 0
		p.rank = 1
		p.dims[0] = 1
	}
	return p
}

// inner is the length of the innermost dimension.
func (p *ndPlan) inner() int { return p.dims[p.rank-1] }

// innerStride is operand k's stride along the innermost dimension.
func (p *ndPlan) innerStride(k int) int { return p.str[k][p.rank-1] }

// ndIter walks a plan from a flat position.
type ndIter struct {
	p   *ndPlan
	idx [graph.MaxRank]int
	off [maxOperands]int
}

// start positions the iterator at flat index pos.
func (it *ndIter) start(p *ndPlan, pos int) {
	it.p = p
	for k := 0; k < p.nops; k++ {
		it.off[k] = p.base[k]
	}
	for d := p.rank - 1; d >= 0; d-- {
		n := p.dims[d]
		i := pos % n
		pos /= n
		it.idx[d] = i
		for k := 0; k < p.nops; k++ {
			it.off[k] += i * p.str[k][d]
		}
	}
}

// run is the length of the contiguous run of the innermost dim from here.
func (it *ndIter) run() int { return it.p.dims[it.p.rank-1] - it.idx[it.p.rank-1] }

// nextRow moves to the start of the next row; the caller has consumed the
// rest of the current one.
func (it *ndIter) nextRow() {
	p := it.p
	last := p.rank - 1
	c := it.idx[last]
	it.idx[last] = 0
	for k := 0; k < p.nops; k++ {
		it.off[k] -= c * p.str[k][last]
	}
	for d := last - 1; d >= 0; d-- {
		it.idx[d]++
		if it.idx[d] < p.dims[d] {
			for k := 0; k < p.nops; k++ {
				it.off[k] += p.str[k][d]
			}
			return
		}
		it.idx[d] = 0
		for k := 0; k < p.nops; k++ {
			it.off[k] -= (p.dims[d] - 1) * p.str[k][d]
		}
	}
}

// grainFor returns the number of items (rows, ids, …) of rowLen elements each
// that make a chunk worth running in parallel.
func grainFor(rowLen int) int {
	if rowLen <= 0 {
		return minParallel
	}
	return max(1, minParallel/rowLen)
}
