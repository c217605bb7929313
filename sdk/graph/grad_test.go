package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Every differentiable op is checked against central finite differences of
// the float64 reference evaluator, on random shapes that include dimensions
// of 1, sizes that are not multiples of any tile, and broadcasting.
//
// Tolerance: |analytic − numeric| ≤ 1e-6·(1 + |numeric|), with step h = 1e-5
// (central differences are O(h²) ≈ 1e-10 accurate on these smooth inputs;
// the bound leaves room for the loss's magnitude).

type gradCase struct {
	name   string
	inputs func(r *rand.Rand) []Type
	build  func(b *Builder, x []Value) Value
	// positive keeps float inputs in [0.5, 2] (log, sqrt, pow, division).
	positive bool
	// idRange bounds i32 inputs to [0, idRange).
	idRange int
}

func dims(r *rand.Rand, n int) []int {
	choices := []int{1, 2, 3, 5, 7}
	out := make([]int, n)
	for i := range out {
		out[i] = choices[r.IntN(len(choices))]
	}
	return out
}

func f64(s ...int) Type { return Type{F64, s} }

func unaryCase(name string, positive bool, f func(b *Builder, x Value) Value) gradCase {
	return gradCase{name: name, positive: positive,
		inputs: func(r *rand.Rand) []Type { return []Type{f64(dims(r, 1+r.IntN(3))...)} },
		build:  func(b *Builder, x []Value) Value { return f(b, x[0]) }}
}

// binaryCase draws broadcastable shapes: the second input drops leading
// dimensions or replaces some with 1, or the two are swapped.
func binaryCase(name string, positive bool, f func(b *Builder, x, y Value) Value) gradCase {
	return gradCase{name: name, positive: positive,
		inputs: func(r *rand.Rand) []Type {
			a := dims(r, 1+r.IntN(3))
			bs := append([]int(nil), a[r.IntN(len(a)):]...)
			for i := range bs {
				if r.IntN(3) == 0 {
					bs[i] = 1
				}
			}
			if r.IntN(2) == 0 {
				a, bs = bs, a
			}
			return []Type{f64(a...), f64(bs...)}
		},
		build: func(b *Builder, x []Value) Value { return f(b, x[0], x[1]) }}
}

func gradCases() []gradCase {
	cases := []gradCase{
		unaryCase("neg", false, (*Builder).Neg),
		unaryCase("abs", false, (*Builder).Abs),
		unaryCase("exp", false, (*Builder).Exp),
		unaryCase("log", true, (*Builder).Log),
		unaryCase("sqrt", true, (*Builder).Sqrt),
		unaryCase("rsqrt", true, (*Builder).Rsqrt),
		unaryCase("recip", true, (*Builder).Recip),
		unaryCase("tanh", false, (*Builder).Tanh),
		unaryCase("sigmoid", false, (*Builder).Sigmoid),
		unaryCase("softplus", false, (*Builder).Softplus),
		unaryCase("sin", false, (*Builder).Sin),
		unaryCase("cos", false, (*Builder).Cos),
		unaryCase("cast_f32_roundtrip_free", false, func(b *Builder, x Value) Value { return b.Cast(b.Cast(x, F64), F64) }),
		binaryCase("add", false, (*Builder).Add),
		binaryCase("sub", false, (*Builder).Sub),
		binaryCase("mul", false, (*Builder).Mul),
		binaryCase("div", true, (*Builder).Div),
		binaryCase("max", false, (*Builder).Max),
		binaryCase("min", false, (*Builder).Min),
		binaryCase("pow", true, (*Builder).Pow),
		{name: "where", inputs: func(r *rand.Rand) []Type {
			s := dims(r, 2)
			return []Type{f64(s...), f64(s[1]), f64(s[0], 1)}
		}, build: func(b *Builder, x []Value) Value {
			return b.Where(b.Less(x[0], b.Scalar(F64, 0)), x[1], x[2])
		}},
		unaryCase("reduce_sum", false, func(b *Builder, x Value) Value { return b.ReduceSum(x, 0) }),
		unaryCase("reduce_sum_all", false, func(b *Builder, x Value) Value { return b.ReduceSum(x) }),
		unaryCase("reduce_max", false, func(b *Builder, x Value) Value { return b.ReduceMax(x, len(b.Shape(x))-1) }),
		unaryCase("mean", false, func(b *Builder, x Value) Value { return b.Mean(x, -1) }),
		unaryCase("reshape", false, func(b *Builder, x Value) Value { return b.Mul(b.Reshape(x, -1), b.Reshape(x, -1)) }),
		{name: "transpose", inputs: func(r *rand.Rand) []Type { return []Type{f64(dims(r, 3)...)} },
			build: func(b *Builder, x []Value) Value { return b.Transpose(x[0], 2, 0, 1) }},
		{name: "slice", inputs: func(r *rand.Rand) []Type { return []Type{f64(3+r.IntN(4), 1+r.IntN(3))} },
			build: func(b *Builder, x []Value) Value { return b.SliceAxis(x[0], 0, 1, b.Dim(x[0], 0)-1) }},
		{name: "pad", inputs: func(r *rand.Rand) []Type { return []Type{f64(dims(r, 2)...)} },
			build: func(b *Builder, x []Value) Value { return b.Square(b.Pad(x[0], []int{1, 0}, []int{2, 3})) }},
		{name: "concat", inputs: func(r *rand.Rand) []Type {
			s := dims(r, 2)
			return []Type{f64(s...), f64(s[0], 4), f64(s[0], 1)}
		}, build: func(b *Builder, x []Value) Value { return b.Concat(1, x...) }},
		{name: "broadcast", inputs: func(r *rand.Rand) []Type { return []Type{f64(1, 1+r.IntN(4))} },
			build: func(b *Builder, x []Value) Value { return b.Broadcast(x[0], 3, 2, b.Dim(x[0], 1)) }},
		{name: "cumsum", inputs: func(r *rand.Rand) []Type { return []Type{f64(dims(r, 2)...)} },
			build: func(b *Builder, x []Value) Value { return b.Cumsum(x[0], 1) }},
		{name: "cumsum_exclusive_reverse", inputs: func(r *rand.Rand) []Type { return []Type{f64(dims(r, 3)...)} },
			build: func(b *Builder, x []Value) Value { return b.CumsumOpts(x[0], 0, true, true) }},
		{name: "gather", idRange: 5, inputs: func(r *rand.Rand) []Type {
			return []Type{f64(5, 1+r.IntN(4)), {I32, dims(r, 2)}}
		}, build: func(b *Builder, x []Value) Value { return b.Gather(x[0], x[1]) }},
		{name: "scatter_add", idRange: 4, inputs: func(r *rand.Rand) []Type {
			return []Type{{I32, []int{6}}, f64(6, 3)}
		}, build: func(b *Builder, x []Value) Value { return b.ScatterAdd(x[0], x[1], 4) }},
		{name: "softmax", inputs: func(r *rand.Rand) []Type { return []Type{f64(dims(r, 1+r.IntN(2))...)} },
			build: func(b *Builder, x []Value) Value { return b.Softmax(x[0]) }},
		{name: "log_softmax", inputs: func(r *rand.Rand) []Type { return []Type{f64(dims(r, 2)...)} },
			build: func(b *Builder, x []Value) Value { return b.LogSoftmax(x[0]) }},
		{name: "layer_norm", inputs: func(r *rand.Rand) []Type {
			s := dims(r, 2)
			s[1] += 1 // a single-element row has no variance
			return []Type{f64(s...), f64(s[1]), f64(s[1])}
		}, build: func(b *Builder, x []Value) Value { return b.LayerNorm(x[0], x[1], x[2], 1e-5) }},
		{name: "rms_norm", inputs: func(r *rand.Rand) []Type {
			s := dims(r, 3)
			return []Type{f64(s...), f64(s[2])}
		}, build: func(b *Builder, x []Value) Value { return b.RMSNorm(x[0], x[1], 1e-6) }},
		{name: "cross_entropy", idRange: 4, inputs: func(r *rand.Rand) []Type {
			s := dims(r, 2)
			return []Type{f64(append(s, 4)...), {I32, s}}
		}, build: func(b *Builder, x []Value) Value { return b.CrossEntropy(x[0], x[1]) }},
	}
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, batch := range []string{"both", "left", "right", "none"} {
				ta, tb, batch := ta, tb, batch
				cases = append(cases, gradCase{name: fmt.Sprintf("matmul_ta%v_tb%v_%s", ta, tb, batch),
					inputs: func(r *rand.Rand) []Type {
						d := dims(r, 4)
						m, k, n, bt := d[0], d[1], d[2], d[3]+1
						as, bs := []int{m, k}, []int{k, n}
						if ta {
							as = []int{k, m}
						}
						if tb {
							bs = []int{n, k}
						}
						if batch == "both" || batch == "left" {
							as = append([]int{bt}, as...)
						}
						if batch == "both" || batch == "right" {
							bs = append([]int{bt}, bs...)
						}
						return []Type{f64(as...), f64(bs...)}
					},
					build: func(b *Builder, x []Value) Value { return b.MatMulT(x[0], x[1], ta, tb) }})
			}
		}
	}
	return cases
}

func TestGradients(t *testing.T) {
	for _, c := range gradCases() {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/%d", c.name, seed), func(t *testing.T) {
				checkGradient(t, c, rand.New(rand.NewPCG(seed, 7)))
			})
		}
	}
}

func checkGradient(t *testing.T, c gradCase, r *rand.Rand) {
	t.Helper()
	types := c.inputs(r)
	b := NewBuilder()
	var xs, params []Value
	bind := map[string]*Tensor{}
	for i, ty := range types {
		name := fmt.Sprintf("x%d", i)
		tt := NewTensor(ty.DType, ty.Shape...)
		for j := range tt.Len() {
			switch {
			case ty.DType == I32:
				tt.Set(j, float64(r.IntN(c.idRange)))
			case c.positive:
				tt.Set(j, 0.5+1.5*r.Float64())
			default:
				tt.Set(j, 2*r.Float64()-1)
			}
		}
		bind[name] = tt
		if ty.DType == I32 {
			xs = append(xs, b.Input(name, I32, ty.Shape...))
		} else {
			p := b.Param(name, ty.DType, ty.Shape...)
			xs, params = append(xs, p), append(params, p)
		}
	}
	y := c.build(b, xs)
	ys := b.Shape(y)
	weights := make([]float64, ys.Size())
	for i := range weights {
		weights[i] = 2*r.Float64() - 1
	}
	loss := b.Sum(b.Mul(y, b.Const(F64, ys, weights)))
	b.Output("loss", loss)
	grads, err := Grad(b, loss, params)
	if err != nil {
		t.Fatal(err)
	}
	for i, gv := range grads {
		b.Output(fmt.Sprintf("g%d", i), gv)
	}
	g, err := b.Build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	out, _, err := Evaluate(g, bind)
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	lossAt := func() float64 {
		o, _, err := Evaluate(g, bind)
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		return o["loss"].F64[0]
	}
	const h, tol = 1e-5, 1e-6
	pi := 0
	for i, ty := range types {
		if ty.DType == I32 {
			continue
		}
		x := bind[fmt.Sprintf("x%d", i)].F64
		ana := out[fmt.Sprintf("g%d", pi)].F64
		pi++
		for j := range x {
			orig := x[j]
			x[j] = orig + h
			up := lossAt()
			x[j] = orig - h
			down := lossAt()
			x[j] = orig
			num := (up - down) / (2 * h)
			if d := math.Abs(ana[j] - num); !(d <= tol*(1+math.Abs(num))) {
				t.Errorf("input %d %v element %d: analytic %.10g, numeric %.10g (diff %.3g)", i, ty, j, ana[j], num, d)
			}
		}
	}
}

// Finite differences cannot see a stop-gradient, so it is checked directly:
// d/dx Σ x·sg(x) = sg(x) = x.
func TestStopGradient(t *testing.T) {
	b := NewBuilder()
	x := b.Param("x", F64, 3)
	loss := b.Sum(b.Mul(x, b.StopGradient(x)))
	g, err := Grad(b, loss, []Value{x})
	if err != nil {
		t.Fatal(err)
	}
	b.Output("g", g[0])
	gr, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := Evaluate(gr, map[string]*Tensor{"x": FromF64([]float64{1, -2, 3}, 3)})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{1, -2, 3} {
		if out["g"].F64[i] != want {
			t.Fatalf("gradient %v, want [1 -2 3]", out["g"].F64)
		}
	}
}
