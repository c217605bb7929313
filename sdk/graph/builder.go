package graph

import (
	"fmt"
	"math"
	"runtime"
	"strings"
)

// Builder constructs a Graph with calls that read like the math:
//
//	x := b.Input("x", F32, B, T, C)
//	w := b.Param("w", F32, C, C)
//	y := b.MatMul(x, w)
//
// A call whose shapes do not fit records the first error (naming the op, its
// input types and the caller's file:line) and returns NoValue; later calls
// that receive NoValue do nothing, so a whole model can be written without
// checking errors, and Build (or Err) reports the first one.
type Builder struct {
	g   Graph
	err error
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder { return &Builder{} }

// Extend returns a builder that appends to a copy of g (to add gradients,
// losses or an optimizer to an existing graph).
func Extend(g *Graph) *Builder {
	b := &Builder{}
	b.g.Nodes = append([]Node(nil), g.Nodes...)
	b.g.Outputs = append([]Output(nil), g.Outputs...)
	b.g.Updates = append([]Update(nil), g.Updates...)
	return b
}

// Err returns the first error recorded.
func (b *Builder) Err() error { return b.err }

// Build validates and returns the graph.
func (b *Builder) Build() (*Graph, error) {
	if b.err != nil {
		return nil, b.err
	}
	g := &Graph{
		Nodes:   append([]Node(nil), b.g.Nodes...),
		Outputs: append([]Output(nil), b.g.Outputs...),
		Updates: append([]Update(nil), b.g.Updates...),
	}
	if err := g.Validate(Limits{MaxNodes: math.MaxInt, MaxConstValues: math.MaxInt}); err != nil {
		return nil, err
	}
	return g, nil
}

// Node returns the node that defines v.
func (b *Builder) Node(v Value) *Node { return &b.g.Nodes[v] }

// NumValues is the number of nodes built so far.
func (b *Builder) NumValues() int { return len(b.g.Nodes) }

// Type, Shape and DType describe v.
func (b *Builder) Type(v Value) Type {
	if !b.ok(v) {
		return Type{}
	}
	return b.g.Nodes[v].Type
}
func (b *Builder) Shape(v Value) Shape { return b.Type(v).Shape }
func (b *Builder) DType(v Value) DType { return b.Type(v).DType }

// Dim returns dimension i of v; negative i counts from the end.
func (b *Builder) Dim(v Value, i int) int {
	s := b.Shape(v)
	if i < 0 {
		i += len(s)
	}
	if i < 0 || i >= len(s) {
		return 0
	}
	return s[i]
}

func (b *Builder) ok(v Value) bool { return v >= 0 && int(v) < len(b.g.Nodes) }

// Fail records err (if it is the first) with the caller's location; for
// helpers built on the builder that detect their own misuse.
func (b *Builder) Fail(err error) {
	if b.err == nil {
		b.err = fmt.Errorf("%s: %w", callerOutsideGraph(), err)
	}
}

// add appends a node after checking its shape rule.
func (b *Builder) add(op Op, name string, a Attrs, declared Type, inputs ...Value) Value {
	if b.err != nil {
		return NoValue
	}
	if ar := opInfos[op].arity; (ar >= 0 && len(inputs) != ar) || (ar < 0 && len(inputs) == 0) {
		b.Fail(fmt.Errorf("%s: %d inputs given, expected %s", op, len(inputs), arityText(ar)))
		return NoValue
	}
	in := make([]Type, len(inputs))
	for i, v := range inputs {
		if !b.ok(v) {
			b.Fail(fmt.Errorf("%s: input %d is not a value of this builder", op, i))
			return NoValue
		}
		in[i] = b.g.Nodes[v].Type
	}
	if err := declared.Shape.check(); err != nil && (op.IsLeaf() || op == OpReshape || op == OpBroadcast || op == OpScatterAdd) {
		b.Fail(fmt.Errorf("%s: %v", op, err))
		return NoValue
	}
	t, err := inferType(op, &a, in, declared)
	if err != nil {
		b.Fail(err)
		return NoValue
	}
	b.g.Nodes = append(b.g.Nodes, Node{Op: op, Name: name, Inputs: append([]Value(nil), inputs...), Type: t, Attrs: a})
	return Value(len(b.g.Nodes) - 1)
}

// callerOutsideGraph names the first stack frame outside this package, so an
// error points at the model code that made the bad call.
func callerOutsideGraph() string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !strings.Contains(f.Function, "/sdk/graph.") || strings.HasSuffix(f.File, "_test.go") {
			return fmt.Sprintf("%s:%d", shortFile(f.File), f.Line)
		}
		if !more {
			return "graph"
		}
	}
}

func shortFile(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		if j := strings.LastIndex(p[:i], "/"); j >= 0 {
			return p[j+1:]
		}
	}
	return p
}

// ---- leaves ----

func (b *Builder) leaf(op Op, name string, dt DType, shape []int) Value {
	if name == "" {
		b.Fail(fmt.Errorf("%s: a name is required", op))
		return NoValue
	}
	if _, dup := b.lookup(name); dup {
		b.Fail(fmt.Errorf("%s: name %q is already used", op, name))
		return NoValue
	}
	return b.add(op, name, Attrs{}, Type{dt, Shape(shape).Clone()})
}

func (b *Builder) lookup(name string) (Value, bool) { return b.g.Lookup(name) }

// Lookup finds the input, param or state named name.
func (b *Builder) Lookup(name string) (Value, bool) { return b.lookup(name) }

// Input declares per-step data bound at run time.
func (b *Builder) Input(name string, dt DType, shape ...int) Value {
	return b.leaf(OpInput, name, dt, shape)
}

// Param declares a trainable tensor resident in the backend.
func (b *Builder) Param(name string, dt DType, shape ...int) Value {
	return b.leaf(OpParam, name, dt, shape)
}

// State declares a non-trainable resident tensor.
func (b *Builder) State(name string, dt DType, shape ...int) Value {
	return b.leaf(OpState, name, dt, shape)
}

// Const is a constant tensor with one value per element, row-major.
func (b *Builder) Const(dt DType, shape []int, values []float64) Value {
	return b.add(OpConst, "", Attrs{Values: append([]float64(nil), values...)}, Type{dt, Shape(shape).Clone()})
}

// Full is a constant tensor filled with v.
func (b *Builder) Full(dt DType, v float64, shape ...int) Value {
	return b.add(OpConst, "", Attrs{Values: []float64{v}}, Type{dt, Shape(shape).Clone()})
}

// Scalar is a rank-0 constant.
func (b *Builder) Scalar(dt DType, v float64) Value { return b.Full(dt, v) }

// Zeros is Full(dt, 0, shape...).
func (b *Builder) Zeros(dt DType, shape ...int) Value { return b.Full(dt, 0, shape...) }

// Iota is the index along axis, broadcast to shape.
func (b *Builder) Iota(dt DType, axis int, shape ...int) Value {
	return b.add(OpIota, "", Attrs{Axis: axis}, Type{dt, Shape(shape).Clone()})
}

// ---- elementwise ----

func (b *Builder) unary(op Op, x Value) Value { return b.add(op, "", Attrs{}, Type{}, x) }

func (b *Builder) Neg(x Value) Value      { return b.unary(OpNeg, x) }
func (b *Builder) Abs(x Value) Value      { return b.unary(OpAbs, x) }
func (b *Builder) Sign(x Value) Value     { return b.unary(OpSign, x) }
func (b *Builder) Exp(x Value) Value      { return b.unary(OpExp, x) }
func (b *Builder) Log(x Value) Value      { return b.unary(OpLog, x) }
func (b *Builder) Sqrt(x Value) Value     { return b.unary(OpSqrt, x) }
func (b *Builder) Rsqrt(x Value) Value    { return b.unary(OpRsqrt, x) }
func (b *Builder) Recip(x Value) Value    { return b.unary(OpRecip, x) }
func (b *Builder) Tanh(x Value) Value     { return b.unary(OpTanh, x) }
func (b *Builder) Sigmoid(x Value) Value  { return b.unary(OpSigmoid, x) }
func (b *Builder) Softplus(x Value) Value { return b.unary(OpSoftplus, x) }
func (b *Builder) Sin(x Value) Value      { return b.unary(OpSin, x) }
func (b *Builder) Cos(x Value) Value      { return b.unary(OpCos, x) }

// StopGradient is x, through which no gradient flows.
func (b *Builder) StopGradient(x Value) Value { return b.unary(OpStopGradient, x) }

// Cast converts x to dt.
func (b *Builder) Cast(x Value, dt DType) Value {
	if b.DType(x) == dt {
		return x
	}
	return b.add(OpCast, "", Attrs{}, Type{DType: dt}, x)
}

func (b *Builder) binary(op Op, x, y Value) Value { return b.add(op, "", Attrs{}, Type{}, x, y) }

func (b *Builder) Add(x, y Value) Value   { return b.binary(OpAdd, x, y) }
func (b *Builder) Sub(x, y Value) Value   { return b.binary(OpSub, x, y) }
func (b *Builder) Mul(x, y Value) Value   { return b.binary(OpMul, x, y) }
func (b *Builder) Div(x, y Value) Value   { return b.binary(OpDiv, x, y) }
func (b *Builder) Max(x, y Value) Value   { return b.binary(OpMax, x, y) }
func (b *Builder) Min(x, y Value) Value   { return b.binary(OpMin, x, y) }
func (b *Builder) Pow(x, y Value) Value   { return b.binary(OpPow, x, y) }
func (b *Builder) Less(x, y Value) Value  { return b.binary(OpLess, x, y) }
func (b *Builder) Equal(x, y Value) Value { return b.binary(OpEqual, x, y) }

// Where is x where cond != 0, else y.
func (b *Builder) Where(cond, x, y Value) Value {
	return b.add(OpWhere, "", Attrs{}, Type{}, cond, x, y)
}

// AddScalar, MulScalar and PowScalar combine x with a constant of its dtype.
func (b *Builder) AddScalar(x Value, s float64) Value { return b.Add(x, b.Scalar(b.DType(x), s)) }
func (b *Builder) MulScalar(x Value, s float64) Value { return b.Mul(x, b.Scalar(b.DType(x), s)) }
func (b *Builder) PowScalar(x Value, s float64) Value { return b.Pow(x, b.Scalar(b.DType(x), s)) }

// Square is x*x.
func (b *Builder) Square(x Value) Value { return b.Mul(x, x) }

// ---- reductions ----

// ReduceSum sums over axes (all axes when none are given), keeping them as 1.
func (b *Builder) ReduceSum(x Value, axes ...int) Value {
	return b.add(OpReduceSum, "", Attrs{Axes: b.axes(x, axes)}, Type{}, x)
}

// ReduceMax takes the maximum over axes (all when none), keeping them as 1.
func (b *Builder) ReduceMax(x Value, axes ...int) Value {
	return b.add(OpReduceMax, "", Attrs{Axes: b.axes(x, axes)}, Type{}, x)
}

// Mean averages over axes (all when none), keeping them as 1.
func (b *Builder) Mean(x Value, axes ...int) Value {
	axes = b.axes(x, axes)
	n := 1
	for _, a := range axes {
		if a >= 0 && a < len(b.Shape(x)) {
			n *= b.Shape(x)[a]
		}
	}
	return b.MulScalar(b.ReduceSum(x, axes...), 1/float64(max(n, 1)))
}

// Sum reduces every axis to a scalar of rank 0.
func (b *Builder) Sum(x Value) Value { return b.Reshape(b.ReduceSum(x)) }

// axes normalises negative axes; none means all.
func (b *Builder) axes(x Value, axes []int) []int {
	r := len(b.Shape(x))
	if len(axes) == 0 {
		all := make([]int, r)
		for i := range all {
			all[i] = i
		}
		return all
	}
	out := make([]int, len(axes))
	for i, a := range axes {
		if a < 0 {
			a += r
		}
		out[i] = a
	}
	return out
}

// ---- movement ----

// Reshape gives x a new shape with the same number of elements; one
// dimension may be -1 and is then inferred.
func (b *Builder) Reshape(x Value, shape ...int) Value {
	shape = append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range shape {
		if d == -1 && infer < 0 {
			infer = i
		} else {
			known *= d
		}
	}
	if infer >= 0 && known > 0 {
		shape[infer] = b.Shape(x).Size() / known
	}
	if b.ok(x) && b.Shape(x).Equal(shape) {
		return x
	}
	return b.add(OpReshape, "", Attrs{}, Type{Shape: shape}, x)
}

// Transpose permutes the axes of x: output axis i is input axis perm[i].
func (b *Builder) Transpose(x Value, perm ...int) Value {
	return b.add(OpTranspose, "", Attrs{Perm: append([]int(nil), perm...)}, Type{}, x)
}

// Slice takes begin[i]:end[i] along every axis.
func (b *Builder) Slice(x Value, begin, end []int) Value {
	return b.add(OpSlice, "", Attrs{Begin: append([]int(nil), begin...), End: append([]int(nil), end...)}, Type{}, x)
}

// SliceAxis takes lo:hi along one axis (negative axis counts from the end).
func (b *Builder) SliceAxis(x Value, axis, lo, hi int) Value {
	s := b.Shape(x)
	if axis < 0 {
		axis += len(s)
	}
	begin, end := make([]int, len(s)), s.Clone()
	if axis >= 0 && axis < len(s) {
		begin[axis], end[axis] = lo, hi
	}
	return b.Slice(x, begin, end)
}

// Pad adds lo[i] zeros before and hi[i] after along every axis.
func (b *Builder) Pad(x Value, lo, hi []int) Value {
	return b.add(OpPad, "", Attrs{Lo: append([]int(nil), lo...), Hi: append([]int(nil), hi...)}, Type{}, x)
}

// Concat joins xs along axis (negative counts from the end).
func (b *Builder) Concat(axis int, xs ...Value) Value {
	if len(xs) > 0 && axis < 0 {
		axis += len(b.Shape(xs[0]))
	}
	if len(xs) == 1 {
		return xs[0]
	}
	return b.add(OpConcat, "", Attrs{Axis: axis}, Type{}, xs...)
}

// Broadcast expands x to shape by numpy rules.
func (b *Builder) Broadcast(x Value, shape ...int) Value {
	if b.ok(x) && b.Shape(x).Equal(shape) {
		return x
	}
	return b.add(OpBroadcast, "", Attrs{}, Type{Shape: append(Shape(nil), shape...)}, x)
}

// ---- linear algebra and scans ----

// MatMul is the (batched) matrix product x·y.
func (b *Builder) MatMul(x, y Value) Value { return b.add(OpMatMul, "", Attrs{}, Type{}, x, y) }

// MatMulT is op(x)·op(y) where op transposes the last two axes when asked.
func (b *Builder) MatMulT(x, y Value, transX, transY bool) Value {
	return b.add(OpMatMul, "", Attrs{TransA: transX, TransB: transY}, Type{}, x, y)
}

// Cumsum is the inclusive running sum along axis.
func (b *Builder) Cumsum(x Value, axis int) Value { return b.CumsumOpts(x, axis, false, false) }

// CumsumOpts is the running sum along axis: exclusive leaves out the element
// itself, reverse runs from the end.
func (b *Builder) CumsumOpts(x Value, axis int, exclusive, reverse bool) Value {
	if axis < 0 {
		axis += len(b.Shape(x))
	}
	return b.add(OpCumsum, "", Attrs{Axis: axis, Exclusive: exclusive, Reverse: reverse}, Type{}, x)
}

// Gather takes rows of table (axis 0) at ids.
func (b *Builder) Gather(table, ids Value) Value {
	return b.add(OpGather, "", Attrs{}, Type{}, table, ids)
}

// ScatterAdd sums updates into rows ids of a zero tensor of rows rows.
func (b *Builder) ScatterAdd(ids, updates Value, rows int) Value {
	us, is := b.Shape(updates), b.Shape(ids)
	shape := Shape{rows}
	if len(us) >= len(is) {
		shape = append(shape, us[len(is):]...)
	}
	return b.add(OpScatterAdd, "", Attrs{}, Type{Shape: shape}, ids, updates)
}

// ---- fused ----

// Softmax over the last axis.
func (b *Builder) Softmax(x Value) Value { return b.unaryFused(OpSoftmax, x) }

// LogSoftmax over the last axis.
func (b *Builder) LogSoftmax(x Value) Value { return b.unaryFused(OpLogSoftmax, x) }

func (b *Builder) unaryFused(op Op, x Value) Value { return b.add(op, "", Attrs{}, Type{}, x) }

// LayerNorm normalises the last axis to zero mean and unit variance, then
// scales by gamma and shifts by beta.
func (b *Builder) LayerNorm(x, gamma, beta Value, eps float64) Value {
	return b.add(OpLayerNorm, "", Attrs{Eps: eps}, Type{}, x, gamma, beta)
}

// RMSNorm divides the last axis by its root mean square, then scales by gamma.
func (b *Builder) RMSNorm(x, gamma Value, eps float64) Value {
	return b.add(OpRMSNorm, "", Attrs{Eps: eps}, Type{}, x, gamma)
}

// CrossEntropy is -log softmax(logits)[label] per position.
func (b *Builder) CrossEntropy(logits, labels Value) Value {
	return b.add(OpCrossEntropy, "", Attrs{}, Type{}, logits, labels)
}

// ---- program interface ----

// Output names v as a result of the graph.
func (b *Builder) Output(name string, v Value) {
	if b.err != nil {
		return
	}
	if !b.ok(v) {
		b.Fail(fmt.Errorf("output %q: not a value of this builder", name))
		return
	}
	for _, o := range b.g.Outputs {
		if o.Name == name {
			b.Fail(fmt.Errorf("output %q is declared twice", name))
			return
		}
	}
	b.g.Outputs = append(b.g.Outputs, Output{name, v})
}

// Update writes v into the resident param or state target after each run.
func (b *Builder) Update(target, v Value) {
	if b.err != nil {
		return
	}
	if !b.ok(target) || !b.ok(v) {
		b.Fail(fmt.Errorf("update: not a value of this builder"))
		return
	}
	tn := b.g.Nodes[target]
	if tn.Op != OpParam && tn.Op != OpState {
		b.Fail(fmt.Errorf("update: target is a %s, expected a param or state", tn.Op))
		return
	}
	if !tn.Type.Equal(b.Type(v)) {
		b.Fail(fmt.Errorf("update of %q: value has type %v, expected %v", tn.Name, b.Type(v), tn.Type))
		return
	}
	for _, u := range b.g.Updates {
		if u.Target == target {
			b.Fail(fmt.Errorf("update of %q is declared twice", tn.Name))
			return
		}
	}
	b.g.Updates = append(b.g.Updates, Update{target, v})
}
