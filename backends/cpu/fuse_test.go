// Tests of elementwise fusion: which values are fused and which must stay
// materialised, and fused steps against the reference with broadcasting,
// mixed dtypes, several blocks and several threads.

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// compileOn compiles g on a fresh backend with the given threads.
func compileOn(t *testing.T, g *graph.Graph, threads int) *Program {
	t.Helper()
	p, err := New(Options{Threads: threads}).Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// kindOf is the kind of the buffer of node v of p's graph.
func kindOf(p *Program, v graph.Value) valKind { return p.vals[v].kind }

// TestFusedBroadcastChains: trees of unary, binary, Where and Cast nodes
// with operands broadcast in every pattern (scalar, row, column, middle
// axis, leading axes), over sizes that are not a multiple of the block,
// with 1 and 3 threads, in f32 and f64.
func TestFusedBroadcastChains(t *testing.T) {
	const B, T, C = 3, 37, 129 // 14319 elements: many blocks, a partial one
	for _, dt := range floats {
		b := graph.NewBuilder()
		x := b.Input("x", dt, B, T, C)
		y := b.Input("y", dt, B, T, C)
		row := b.Param("row", dt, C)
		col := b.Input("col", dt, B, T, 1)
		mid := b.Input("mid", dt, B, 1, C)
		tc := b.Input("tc", dt, T, C)
		s := b.Input("s", dt)
		ids := b.Input("ids", graph.I32, B, T, C)

		h := b.Tanh(b.Add(b.Mul(x, row), s))                           // row and scalar
		h = b.Sub(b.Mul(h, col), b.Div(mid, b.AddScalar(b.Exp(y), 1))) // column, middle axis
		cond := b.Less(b.Iota(graph.I32, 1, T, C), b.Iota(graph.I32, 0, T, C))
		h = b.Where(cond, h, b.Mul(tc, b.Sigmoid(h)))                       // i32 condition of constants, leading-axis broadcast
		h = b.Add(h, b.Cast(b.Equal(ids, b.Scalar(graph.I32, 2)), dt))      // i32 chain cast to dt
		h = b.Max(b.Softplus(h), b.Where(b.Less(x, y), b.Neg(x), b.Abs(y))) // float condition
		out := b.Mul(h, h)                                                  // one value read twice by one node
		b.Output("out", out)
		g := mustBuild(t, b)

		p := compileOn(t, g, 1)
		if k := kindOf(p, h); k != kFused {
			t.Errorf("%v: h has kind %d, want fused", dt, k)
		}
		if len(p.steps) > 3 {
			t.Errorf("%v: %d steps, want the whole tree in one", dt, len(p.steps))
		}
		bind := bindAll(g, rand.New(rand.NewPCG(1, uint64(dt))), func(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
			if name == "ids" {
				return uniform(t, r, 0, 4)
			}
			return nil
		})
		for _, th := range []int{1, 3} {
			checkGraph(t, g, bind, th, 4)
		}
	}
}

// TestFusionKeepsSharedValues: a value that is an output, an update value,
// read by two steps (and too costly to recompute), or read through a partial
// view is materialised; a value read through a reshape, or twice within one
// step, is fused; a cheap value read by two steps is recomputed in both.
func TestFusionKeepsSharedValues(t *testing.T) {
	for _, dt := range floats {
		b := graph.NewBuilder()
		x := b.Input("x", dt, 64, 80)
		w := b.Param("w", dt, 64, 80)
		e := b.Exp(b.MulScalar(x, 0.5)) // an output, also read by the chain
		b.Output("e", e)
		u := b.Sub(w, b.MulScalar(x, 0.1)) // an update value, also read by the chain
		b.Update(w, u)
		shared := b.Sigmoid(x)                // read by two steps
		b.Output("s", b.Add(shared, x))       // the second step
		twice := b.Tanh(x)                    // read by two nodes of one step
		r := b.Reshape(b.Softplus(x), 80, 64) // read only through a reshape
		sl := b.Neg(x)                        // read through a slice
		part := b.SliceAxis(sl, 1, 8, 40)
		sq := b.Mul(x, w) // cheap, read by two steps: recomputed
		b.Output("q", b.AddScalar(sq, 1))
		y := b.Add(b.Mul(b.Mul(e, shared), twice), b.Mul(b.Mul(u, twice), sq))
		b.Output("y", b.Add(b.Reshape(y, 80, 64), r))
		b.Output("z", b.Mul(part, part))
		g := mustBuild(t, b)

		p := compileOn(t, g, 2)
		for _, c := range []struct {
			name string
			v    graph.Value
			want bool
		}{
			{"output", e, false}, {"update", u, false}, {"read by two steps", shared, false},
			{"sliced", sl, false}, {"reshaped", g.Nodes[r].Inputs[0], true},
			{"read twice by one step", twice, true}, {"cheap", sq, true}, {"product", y, true},
		} {
			if got := kindOf(p, c.v) == kFused; got != c.want {
				t.Errorf("%v %s: fused %v, want %v", dt, c.name, got, c.want)
			}
		}
		bind := bindAll(g, rand.New(rand.NewPCG(2, uint64(dt))), nil)
		for _, th := range []int{1, 4} {
			checkGraph(t, g, bind, th, 4)
		}
	}
}

// TestFusionAcrossDTypes: a chain that casts f32 to f64 and back, with an
// i32 Where condition, fused into one step.
func TestFusionAcrossDTypes(t *testing.T) {
	b := graph.NewBuilder()
	x := b.Input("x", graph.F32, 5000)
	d := b.Input("d", graph.F64, 5000)
	k := b.Input("k", graph.I32, 5000)
	h := b.Mul(b.Cast(b.Exp(x), graph.F64), d)
	h = b.Where(b.Less(k, b.Scalar(graph.I32, 3)), b.Sqrt(b.Abs(h)), b.Neg(d))
	out := b.Add(b.Cast(h, graph.F32), b.Cast(b.Sign(b.Neg(k)), graph.F32))
	b.Output("out", out)
	g := mustBuild(t, b)
	if p := compileOn(t, g, 2); len(p.steps) != 1 {
		for _, s := range p.steps {
			t.Logf("step: node %d %v %v", s.node, s.op, g.Nodes[s.node])
		}
		t.Errorf("%d steps, want 1", len(p.steps))
	}
	bind := bindAll(g, rand.New(rand.NewPCG(3, 3)), nil)
	for _, th := range []int{1, 3} {
		checkGraph(t, g, bind, th, 2)
	}
}

// TestFusedAdamW: the AdamW update as the train package writes it (moments
// as updates, bias corrections as scalar inputs) fused around the moments.
func TestFusedAdamW(t *testing.T) {
	for _, dt := range floats {
		b := graph.NewBuilder()
		p := b.Param("p", dt, 300, 70)
		m := b.State("m", dt, 300, 70)
		v := b.State("v", dt, 300, 70)
		gr := b.Input("g", dt, 300, 70)
		lr, c1, c2 := b.Input("lr", dt), b.Input("c1", dt), b.Input("c2", dt)
		m2 := b.Add(b.MulScalar(m, 0.9), b.MulScalar(gr, 0.1))
		v2 := b.Add(b.MulScalar(v, 0.95), b.MulScalar(b.Mul(gr, gr), 0.05))
		step := b.Div(b.Div(m2, c1), b.AddScalar(b.Sqrt(b.Div(v2, c2)), 1e-8))
		p2 := b.Sub(p, b.Mul(lr, b.Add(step, b.MulScalar(p, 0.1))))
		b.Update(p, p2)
		b.Update(m, m2)
		b.Update(v, v2)
		g := mustBuild(t, b)
		if pr := compileOn(t, g, 2); len(pr.steps) != 3 || len(pr.updates) != 0 {
			t.Errorf("%v: %d steps, want 3 (m, v, p); %d update copies, want 0 (in place)", dt, len(pr.steps), len(pr.updates))
		}
		bind := bindAll(g, rand.New(rand.NewPCG(4, uint64(dt))), func(name string, t graph.Type, r *rand.Rand) *graph.Tensor {
			switch name {
			case "v", "c1", "c2":
				return uniform(t, r, 0.1, 1)
			}
			return nil
		})
		for _, th := range []int{1, 3} {
			checkGraph(t, g, bind, th, 10)
		}
	}
}

// TestRecomputeKeepsInputsAlive: a value recomputed by two steps keeps its
// inputs' buffers until the later step, even when other values are
// computed (and could reuse freed buffers) in between.
func TestRecomputeKeepsInputsAlive(t *testing.T) {
	for _, dt := range floats {
		b := graph.NewBuilder()
		x := b.Input("x", dt, 64, 64)
		a, c := b.Exp(x), b.Sigmoid(x)
		b.Output("sa", b.ReduceSum(a, 1))
		b.Output("sc", b.ReduceSum(c, 0))
		sq := b.Mul(a, c)
		b.Output("s1", b.Add(sq, x))
		h := b.Tanh(b.MatMul(x, x))
		h = b.Tanh(b.MatMul(h, h))
		b.Output("s2", b.Mul(sq, h))
		g := mustBuild(t, b)
		if p := compileOn(t, g, 2); kindOf(p, sq) != kFused {
			t.Errorf("%v: the product is not recomputed", dt)
		}
		bind := bindAll(g, rand.New(rand.NewPCG(5, uint64(dt))), nil)
		for _, th := range []int{1, 3} {
			checkGraph(t, g, bind, th, 70)
		}
	}
}

// TestFusedReductions: an elementwise tree feeding ReduceSum or ReduceMax is
// evaluated inside the reduction, for every reduction layout: rows, columns
// (split by columns and, when there are few, by blocks of rows), a last run
// reduced first into a temporary, and the strided pass.
func TestFusedReductions(t *testing.T) {
	cases := []struct {
		shape []int
		axes  []int
	}{
		{[]int{37, 1300}, []int{1}},           // rows, longer than a block
		{[]int{1300, 300}, []int{0}},          // columns
		{[]int{3, 700, 5}, []int{1}},          // few columns: blocks of rows
		{[]int{6, 4, 33, 70}, []int{0, 2, 3}}, // [R, K, R]: two stages
		{[]int{5, 6, 7, 8}, []int{0, 2}},      // [R, K, R, K]: strided
		{[]int{4, 5, 6}, []int{0, 1, 2}},      // everything
	}
	for ci, c := range cases {
		for _, dt := range floats {
			for _, max := range []bool{false, true} {
				b := graph.NewBuilder()
				x := b.Input("x", dt, c.shape...)
				y := b.Input("y", dt, c.shape[len(c.shape)-1])
				e := b.Mul(b.Tanh(x), b.Add(x, y))
				var r graph.Value
				if max {
					r = b.ReduceMax(e, c.axes...)
				} else {
					r = b.ReduceSum(e, c.axes...)
				}
				b.Output("r", r)
				g := mustBuild(t, b)
				p := compileOn(t, g, 2)
				if len(p.steps) != 1 || kindOf(p, e) != kFused {
					t.Errorf("case %d %v: %d steps, the product fused: %v", ci, dt, len(p.steps), kindOf(p, e) == kFused)
				}
				bind := bindAll(g, rand.New(rand.NewPCG(uint64(ci), uint64(dt))), nil)
				scale := 1.0
				if !max {
					scale = float64(len(bind["x"].F64) + len(bind["x"].F32))
				}
				for _, th := range []int{1, 3} {
					checkGraph(t, g, bind, th, scale)
				}
			}
		}
	}
}

// TestReductionDeterminism: every reduction layout gives bit-identical
// sums with any number of threads.
func TestReductionDeterminism(t *testing.T) {
	b := graph.NewBuilder()
	x := b.Input("x", graph.F32, 8, 4, 2048)
	b.Output("rows", b.ReduceSum(x, 2))
	b.Output("cols", b.ReduceSum(b.Reshape(x, 128, 512), 0))
	b.Output("few", b.ReduceSum(b.Reshape(x, 4096, 16), 0))
	b.Output("rkr", b.ReduceSum(b.Mul(x, x), 0, 2))
	g := mustBuild(t, b)
	bind := bindAll(g, rand.New(rand.NewPCG(7, 7)), nil)
	var first map[string][]float32
	for _, th := range []int{1, 2, 3, 8} {
		be := New(Options{Threads: th})
		p, err := be.Compile(g)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Run(bind)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]float32{}
		for k, v := range out {
			got[k] = append([]float32(nil), v.F32...)
		}
		if first == nil {
			first = got
		}
		for k, v := range first {
			for i := range v {
				if got[k][i] != v[i] {
					t.Fatalf("threads %d: %s[%d] = %v, threads 1 gave %v", th, k, i, got[k][i], v[i])
				}
			}
		}
		be.Close()
	}
}

// TestFusedMovements: slices, pads, broadcasts and transposes read in place
// by fused steps, alone and chained (a slice of a pad, a pad of a slice),
// through binary ops, Where, unary ops and casts, including reads that fall
// wholly in the padding.
func TestFusedMovements(t *testing.T) {
	for _, dt := range floats {
		b := graph.NewBuilder()
		x := b.Input("x", dt, 3, 50, 70)
		g := b.Input("g", dt, 3, 50, 70)
		taps := b.Param("taps", dt, 70, 4)

		// A causal convolution and its input gradient: slices of a pad, and
		// a sum of shifted pads of products (computed under the pads).
		xp := b.Pad(x, []int{0, 3, 0}, []int{0, 0, 0})
		var conv, back, under graph.Value
		for j := 0; j < 4; j++ {
			tap := b.Reshape(b.SliceAxis(taps, 1, j, j+1), 70)
			term := b.Mul(b.SliceAxis(xp, 1, j, j+50), tap)
			under = b.Mul(g, tap)
			pad := b.Pad(under, []int{0, j, 0}, []int{0, 3 - j, 0})
			if j == 0 {
				conv, back = term, pad
			} else {
				conv, back = b.Add(conv, term), b.Add(back, pad)
			}
		}
		b.Output("conv", conv)
		b.Output("back", back)

		// Concatenation along the last axis as a sum of pads.
		a, c := b.SliceAxis(x, 2, 0, 30), b.SliceAxis(g, 2, 10, 50)
		cat := b.Add(b.Pad(b.Neg(a), []int{0, 0, 0}, []int{0, 0, 40}), b.Pad(c, []int{0, 0, 30}, []int{0, 0, 0}))
		b.Output("cat", b.Mul(cat, x))

		// A pad of a slice (x's two halves swapped back), read by a unary
		// op and a cast.
		lo, hi := b.SliceAxis(x, 2, 0, 35), b.SliceAxis(x, 2, 35, 70)
		swap := b.Add(b.Pad(hi, []int{0, 0, 0}, []int{0, 0, 35}), b.Pad(lo, []int{0, 0, 35}, []int{0, 0, 0}))
		b.Output("swap", b.Tanh(swap))
		b.Output("shift", b.Mul(b.Pad(b.SliceAxis(x, 2, 40, 70), []int{0, 0, 40}, []int{0, 0, 0}), g))
		other := graph.F32
		if dt == graph.F32 {
			other = graph.F64
		}
		b.Output("cast", b.Add(b.Cast(b.Cast(b.Pad(b.SliceAxis(x, 1, 5, 20), []int{0, 5, 0}, []int{0, 30, 0}), other), dt), g))

		// A transpose that keeps the last axis, a broadcast column in a
		// Where, and a slice that reads only padding.
		h := b.Reshape(x, 3, 5, 10, 70)
		tr := b.Transpose(h, 0, 2, 1, 3)
		b.Output("tr", b.Mul(tr, b.Reshape(b.SliceAxis(taps, 1, 0, 1), 70)))
		col := b.Broadcast(b.SliceAxis(x, 2, 0, 1), 3, 50, 70)
		b.Output("where", b.Where(b.Less(x, g), col, b.Neg(g)))
		empty := b.SliceAxis(b.Pad(x, []int{0, 10, 0}, []int{0, 0, 0}), 1, 2, 52)
		b.Output("empty", b.Add(b.SliceAxis(b.Pad(x, []int{0, 60, 0}, []int{0, 0, 0}), 1, 0, 50), b.Mul(empty, g)))

		// Fused trees under movements: a slice of a product read by a
		// binary op, a transpose of a sum read by a unary op, a pad of a
		// comparison read as a Where condition.
		ex := b.Exp(b.Mul(x, g))
		b.Output("sub-slice", b.Add(b.SliceAxis(ex, 1, 5, 45), b.SliceAxis(g, 1, 0, 40)))
		tsum := b.Transpose(b.Reshape(b.Add(x, g), 3, 5, 10, 70), 0, 2, 1, 3)
		b.Output("sub-transpose", b.Sigmoid(tsum))
		cnd := b.Pad(b.Less(b.SliceAxis(x, 1, 0, 40), b.SliceAxis(g, 1, 0, 40)), []int{0, 10, 0}, []int{0, 0, 0})
		b.Output("sub-where", b.Where(cnd, x, b.Neg(g)))

		gr := mustBuild(t, b)
		var err error
		p := compileOn(t, gr, 2)
		sum := gr.Nodes[gr.Nodes[tsum].Inputs[0]].Inputs[0] // under the reshape
		less := gr.Nodes[cnd].Inputs[0]
		for _, v := range []graph.Value{xp, tr, col, under, ex, sum, less} {
			if kindOf(p, v) != kFused {
				t.Errorf("%v: %v is not read in place", dt, gr.Nodes[v].Op)
			}
		}
		bind := bindAll(gr, rand.New(rand.NewPCG(6, uint64(dt))), nil)
		for _, th := range []int{1, 3} {
			checkGraph(t, gr, bind, th, 8)
		}
		be := New(Options{Threads: 3})
		in := load(t, be, gr, bind)
		if p, err = be.Compile(gr); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(5, func() { p.Run(in) }); n != 0 {
			t.Errorf("%v: %v allocations per run", dt, n)
		}
		be.Close()
	}
}

// TestFusedSoftmax: a masked, scaled score fused into softmax and
// log-softmax rows; rows longer than a register are not fused.
func TestFusedSoftmax(t *testing.T) {
	for _, dt := range floats {
		for _, cols := range []int{37, 300, fuseBlock + 5} {
			b := graph.NewBuilder()
			s := b.Input("s", dt, 3, 7, cols)
			mask := b.Less(b.Iota(graph.I32, 1, 7, cols), b.Iota(graph.I32, 0, 7, cols))
			score := b.Where(mask, b.Scalar(dt, math.Inf(-1)), b.MulScalar(s, 0.3))
			b.Output("p", b.Softmax(score))
			lscore := b.Add(s, b.Input("bias", dt, cols))
			b.Output("lp", b.LogSoftmax(lscore))
			g := mustBuild(t, b)
			p := compileOn(t, g, 2)
			if fused := kindOf(p, score) == kFused; fused != (cols <= fuseBlock) {
				t.Errorf("%v cols %d: score fused %v", dt, cols, fused)
			}
			bind := bindAll(g, rand.New(rand.NewPCG(9, uint64(cols))), nil)
			for _, th := range []int{1, 3} {
				checkGraph(t, g, bind, th, 4)
			}
		}
	}
}
