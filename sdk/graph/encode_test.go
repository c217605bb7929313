package graph

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mohawk-distill/mohawk/sdk/graph/internal/graphpb"
)

// encGraph is a graph built with the Builder, for round trips and as a
// fuzzing seed.
type encGraph struct {
	name  string
	build func(b *Builder)
}

var encGraphs = []encGraph{
	{"mlp", encMLP},
	{"attention", encAttention},
	{"matmul_transposes", encMatMuls},
	{"embedding", encEmbedding},
	{"misc", encMisc},
	{"sgd", encSGD},
}

func encBuild(t testing.TB, tg encGraph) *Graph {
	t.Helper()
	b := NewBuilder()
	tg.build(b)
	g, err := b.Build()
	if err != nil {
		t.Fatalf("%s: %v", tg.name, err)
	}
	return g
}

func encMarshal(t testing.TB, g *Graph) []byte {
	t.Helper()
	data, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// encMLP is a two-layer perceptron with layer norm, a cross-entropy loss,
// and updates of a param and of a state step counter.
func encMLP(b *Builder) {
	x := b.Input("x", F32, 4, 8)
	labels := b.Input("labels", I32, 4)
	w1, b1 := b.Param("w1", F32, 8, 16), b.Param("b1", F32, 16)
	h := b.Add(b.MatMul(x, w1), b1)
	h = b.Mul(h, b.Sigmoid(h))
	h = b.LayerNorm(h, b.Param("ln.γ", F32, 16), b.Param("ln.β", F32, 16), 1e-5)
	w2 := b.Param("w2", F32, 16, 10)
	logits := b.MatMul(h, w2)
	b.Output("loss", b.Mean(b.CrossEntropy(logits, labels)))
	b.Output("logits", logits)
	b.Update(w2, b.Sub(w2, b.MulScalar(w2, 1e-3)))
	step := b.State("step", I32)
	b.Update(step, b.AddScalar(step, 1))
}

// encAttention is causal multi-head self-attention: the mask is built
// from two iotas compared with Less and applied with Where.
func encAttention(b *Builder) {
	const B, T, H, D = 2, 5, 2, 4
	const C = H * D
	x := b.Input("x", F32, B, T, C)
	qkv := b.MatMul(x, b.Param("wqkv", F32, C, 3*C))
	heads := func(t Value) Value { return b.Transpose(b.Reshape(t, B, T, H, D), 0, 2, 1, 3) }
	q := heads(b.SliceAxis(qkv, -1, 0, C))
	k := heads(b.SliceAxis(qkv, -1, C, 2*C))
	v := heads(b.SliceAxis(qkv, -1, 2*C, 3*C))
	s := b.MulScalar(b.MatMulT(q, k, false, true), 1/math.Sqrt(D))
	future := b.Less(b.Iota(I32, 0, T, T), b.Iota(I32, 1, T, T))
	s = b.Where(future, b.Full(F32, math.Inf(-1), T, T), s)
	o := b.MatMul(b.Softmax(s), v)
	o = b.Reshape(b.Transpose(o, 0, 2, 1, 3), B, T, C)
	y := b.Add(x, b.MatMul(o, b.Param("wo", F32, C, C)))
	b.Output("y", b.RMSNorm(y, b.Param("norm.gamma", F32, C), 1e-6))
}

// encMatMuls uses every combination of transposes and the two
// batch rules (equal batches, or a plain matrix on either side).
func encMatMuls(b *Builder) {
	a := b.Input("a", F64, 3, 6, 4)
	m := b.Param("m", F64, 5, 6)
	at := b.MatMulT(a, m, true, true)    // [3,4,6]·[6,5] -> [3,4,5]
	ma := b.MatMulT(m, a, false, false)  // [5,6]·[3,6,4] -> [3,5,4]
	aa := b.MatMulT(a, a, true, false)   // [3,4,6]·[3,6,4] -> [3,4,4]
	mm := b.MatMulT(m, m, false, true)   // [5,6]·[6,5] -> [5,5]
	x := b.MatMulT(at, ma, false, false) // [3,4,5]·[3,5,4] -> [3,4,4]
	b.Output("x", b.Cast(b.Add(x, aa), F32))
	b.Output("mm", mm)
}

// encEmbedding gathers rows of a table, scatters updates back into its
// shape, and runs cumulative sums with every option.
func encEmbedding(b *Builder) {
	table := b.Param("emb", F32, 11, 6)
	ids := b.Input("ids", I32, 2, 3)
	e := b.Gather(table, ids)
	grad := b.ScatterAdd(ids, b.Input("grad", F32, 2, 3, 6), 11)
	b.Update(table, b.Sub(table, b.MulScalar(grad, 0.1)))
	b.Output("cumsum", b.Cumsum(e, 1))
	b.Output("cumsum_rev_excl", b.CumsumOpts(e, -1, true, true))
	b.Output("cumsum_excl", b.CumsumOpts(e, 0, true, false))
	b.Output("ids_cumsum", b.CumsumOpts(ids, 1, false, true))
}

// encMisc covers the remaining ops and constants with every kind of value,
// including NaN and negative zero (which must survive bit for bit).
func encMisc(b *Builder) {
	x := b.Input("x", F32, 2, 3)
	c := b.Const(F32, []int{2, 3}, []float64{1, -2, 3.5, math.NaN(), math.Copysign(0, -1), math.MaxFloat64})
	y := b.Log(b.Softplus(b.Exp(x)))
	y = b.Recip(b.Rsqrt(b.AddScalar(b.Sqrt(b.Abs(y)), 1)))
	y = b.Cos(b.Neg(b.Tanh(b.Sin(y))))
	y = b.Sigmoid(b.StopGradient(b.Sign(y)))
	d := b.Div(b.Max(y, c), b.Min(y, b.Full(F32, 2, 2, 3)))
	p := b.PowScalar(d, 2)
	bc := b.Broadcast(b.ReduceMax(p, 1), 2, 3)
	pad := b.Pad(bc, []int{1, 0}, []int{0, 2})
	cat := b.Concat(0, pad, pad, b.Iota(F32, 1, 1, 5))
	b.Output("log_softmax", b.Cast(b.LogSoftmax(cat), F64))
	b.Output("等しい", b.Equal(x, c))
	ci := b.Const(I32, []int{3}, []float64{1, -2, math.MaxInt32})
	b.Output("sum_i32", b.Sum(b.Mul(ci, ci)))
	b.Output("half", b.Cast(x, F16))
	b.Output("bhalf", b.Cast(x, BF16))
	s := b.State("ema", F64, 3)
	b.Update(s, b.Add(b.MulScalar(s, 0.9), b.MulScalar(b.Cast(b.Reshape(b.ReduceSum(x, 0), 3), F64), 0.1)))
	b.Output("scalar", b.Reshape(b.ReduceSum(b.Transpose(b.Scalar(F32, 3)))))
}

// encSGD is one step of training a small perceptron: the loss, its gradient
// (Grad) and plain SGD updates of every param, and a step counter.
func encSGD(b *Builder) {
	x := b.Input("x", F32, 3, 4)
	labels := b.Input("labels", I32, 3)
	w1, w2 := b.Param("w1", F32, 4, 5), b.Param("w2", F32, 5, 2)
	gamma := b.Param("gamma", F32, 5)
	h := b.RMSNorm(b.Tanh(b.MatMul(x, w1)), gamma, 1e-6)
	loss := b.Mean(b.CrossEntropy(b.MatMul(h, w2), labels))
	b.Output("loss", loss)
	params := []Value{w1, w2, gamma}
	grads, err := Grad(b, loss, params)
	if err != nil {
		b.Fail(err)
		return
	}
	for i, p := range params {
		b.Update(p, b.Sub(p, b.MulScalar(grads[i], 0.1)))
	}
	step := b.State("step", F32)
	b.Update(step, b.AddScalar(step, 1))
}

// encDiff describes the first difference between a and b, or returns ""
// when they are equal. Nil and empty slices are equal; floats are compared
// bit for bit, so NaN equals itself and -0 differs from 0.
func encDiff(a, b *Graph) string {
	if (a == nil) != (b == nil) {
		return fmt.Sprintf("nil graph: %v vs %v", a == nil, b == nil)
	}
	if a == nil {
		return ""
	}
	if len(a.Nodes) != len(b.Nodes) {
		return fmt.Sprintf("%d nodes vs %d", len(a.Nodes), len(b.Nodes))
	}
	floatsEqual := func(x, y []float64) bool {
		return slices.EqualFunc(x, y, func(p, q float64) bool { return math.Float64bits(p) == math.Float64bits(q) })
	}
	for i := range a.Nodes {
		x, y := &a.Nodes[i], &b.Nodes[i]
		ax, ay := &x.Attrs, &y.Attrs
		switch {
		case x.Op != y.Op, x.Name != y.Name, !slices.Equal(x.Inputs, y.Inputs), x.Type.DType != y.Type.DType,
			!slices.Equal(x.Type.Shape, y.Type.Shape),
			ax.Axis != ay.Axis, !slices.Equal(ax.Axes, ay.Axes), !slices.Equal(ax.Perm, ay.Perm),
			!slices.Equal(ax.Begin, ay.Begin), !slices.Equal(ax.End, ay.End),
			!slices.Equal(ax.Lo, ay.Lo), !slices.Equal(ax.Hi, ay.Hi),
			ax.TransA != ay.TransA, ax.TransB != ay.TransB, ax.Exclusive != ay.Exclusive, ax.Reverse != ay.Reverse,
			math.Float64bits(ax.Eps) != math.Float64bits(ay.Eps), !floatsEqual(ax.Values, ay.Values):
			return fmt.Sprintf("node %d:\n  %+v\nvs\n  %+v", i, *x, *y)
		}
	}
	if !slices.Equal(a.Outputs, b.Outputs) {
		return fmt.Sprintf("outputs %v vs %v", a.Outputs, b.Outputs)
	}
	if !slices.Equal(a.Updates, b.Updates) {
		return fmt.Sprintf("updates %v vs %v", a.Updates, b.Updates)
	}
	return ""
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, tg := range encGraphs {
		t.Run(tg.name, func(t *testing.T) {
			g := encBuild(t, tg)
			data := encMarshal(t, g)
			got, err := Decode(data, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if d := encDiff(g, got); d != "" {
				t.Fatalf("decode(encode(g)) differs from g: %s", d)
			}
			// The encoding is canonical: encoding the decoded graph gives
			// the same bytes.
			if again := encMarshal(t, got); !bytes.Equal(again, data) {
				t.Fatalf("re-encoding differs: %d bytes vs %d", len(again), len(data))
			}
			// The limits that the graph just fits are enough.
			tight := Limits{MaxNodes: len(g.Nodes), MaxConstValues: encConstValues(g)}
			if _, err := Decode(data, tight); err != nil {
				t.Fatalf("decode under the tightest limits %+v: %v", tight, err)
			}
		})
	}
}

func encConstValues(g *Graph) int {
	n := 0
	for _, nd := range g.Nodes {
		n += len(nd.Attrs.Values)
	}
	return n
}

// TestEncodePreservesEvaluation runs a training step of a graph and of its
// decoded copy on the same bindings: outputs and updates agree bit for bit.
func TestEncodePreservesEvaluation(t *testing.T) {
	g := encBuild(t, encGraph{"sgd", encSGD})
	dec, err := Decode(encMarshal(t, g), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	bind := map[string]*Tensor{}
	for _, n := range g.Nodes {
		if n.Op != OpInput && n.Op != OpParam && n.Op != OpState {
			continue
		}
		tn := NewTensor(n.Type.DType, n.Type.Shape...)
		for i := range tn.Len() {
			if tn.DType == I32 {
				tn.Set(i, float64(r.IntN(2)))
			} else {
				tn.Set(i, r.NormFloat64())
			}
		}
		bind[n.Name] = tn
	}
	wantOut, wantUpd, err := Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	gotOut, gotUpd, err := Evaluate(dec, bind)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ want, got map[string]*Tensor }{{wantOut, gotOut}, {wantUpd, gotUpd}} {
		if len(m.want) != len(m.got) || len(m.want) == 0 {
			t.Fatalf("%d results vs %d", len(m.got), len(m.want))
		}
		for name, w := range m.want {
			gt := m.got[name]
			if gt == nil || !gt.Type.Equal(w.Type) {
				t.Fatalf("%s: %v vs %v", name, gt, w.Type)
			}
			for i := range w.Len() {
				if math.Float64bits(gt.At(i)) != math.Float64bits(w.At(i)) {
					t.Fatalf("%s[%d]: %v vs %v", name, i, gt.At(i), w.At(i))
				}
			}
		}
	}
}

// TestEncodeCoversEveryOp makes sure the round trips exercise every op, so
// that a new op without a test graph is noticed.
func TestEncodeCoversEveryOp(t *testing.T) {
	seen := map[Op]bool{}
	for _, tg := range encGraphs {
		for _, n := range encBuild(t, tg).Nodes {
			seen[n.Op] = true
		}
	}
	for _, op := range Ops() {
		if !seen[op] {
			t.Errorf("no test graph uses %s", op)
		}
	}
}

func TestEncodeEmptyGraph(t *testing.T) {
	data := encMarshal(t, &Graph{})
	if want := []byte{0x08, FormatVersion}; !bytes.Equal(data, want) {
		t.Fatalf("empty graph encodes as %x, expected %x", data, want)
	}
	g, err := Decode(data, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if g.Nodes != nil || g.Outputs != nil || g.Updates != nil {
		t.Fatalf("empty graph decodes as %+v", g)
	}
}

// TestDecodeGolden pins the wire format: a change to graph.proto that would
// make existing files unreadable (a renumbered field, a renamed op) fails
// here and calls for a new FormatVersion.
func TestDecodeGolden(t *testing.T) {
	b := NewBuilder()
	x := b.Input("x", F32, 2, 3)
	b.Output("y", b.LayerNorm(b.Neg(x), b.Param("g", F32, 3), b.Full(F32, 0.5, 3), 0.25))
	b.Output("t", b.Transpose(x, 1, 0))
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "080112130a05696e70757412017822036633322a02020312110a036e65671a010022036633322a02020312120a05706172616d1201672203663332" +
		"2a0103121a0a05636f6e737422036633322a0103920108000000000000e03f12240a0a6c617965725f6e6f726d1a0301020322036633322a020203" +
		"8901000000000000d03f121b0a097472616e73706f73651a010022036633322a020302420201001a050a017910041a050a01741005"
	data := encMarshal(t, g)
	if got := hex.EncodeToString(data); got != golden {
		t.Errorf("encoding changed:\n got %s\nwant %s", got, golden)
	}
	want, _ := hex.DecodeString(golden)
	got, err := Decode(want, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if d := encDiff(g, got); d != "" {
		t.Fatal(d)
	}
}

func TestEncodeUsesNames(t *testing.T) {
	data := encMarshal(t, encBuild(t, encGraphs[0]))
	for _, name := range []string{"layer_norm", "cross_entropy", "matmul", "f32", "i32"} {
		if !bytes.Contains(data, []byte(name)) {
			t.Errorf("encoding does not hold the name %q", name)
		}
	}
}

func TestMarshalBinaryErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    *Graph
		want string
	}{
		{"nil", nil, "nil graph"},
		{"op", &Graph{Nodes: []Node{{Op: numOps, Type: Type{DType: F32}}}}, "node 0: unknown op op("},
		{"zero op", &Graph{Nodes: []Node{{Type: Type{DType: F32}}}}, "node 0: unknown op op(0)"},
		{"dtype", &Graph{Nodes: []Node{{Op: OpInput, Name: "x"}}}, "node 0 (input): unknown dtype invalid"},
		{"name", &Graph{Nodes: []Node{{Op: OpInput, Name: "\xff", Type: Type{DType: F32}}}}, "not valid UTF-8"},
		{"output name", &Graph{Outputs: []Output{{Name: "a\xffb"}}}, "output 0: name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.g.MarshalBinary()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, expected one containing %q", err, tc.want)
			}
		})
	}
}

func TestMaxEncodedSize(t *testing.T) {
	if got := MaxEncodedSize(Limits{MaxNodes: math.MaxInt, MaxConstValues: math.MaxInt}); got != math.MaxInt {
		t.Errorf("unbounded limits give %d, expected saturation at MaxInt", got)
	}
	if got := MaxEncodedSize(Limits{MaxNodes: -5, MaxConstValues: -1}); got != encodedBytesSlack {
		t.Errorf("negative limits give %d, expected %d", got, encodedBytesSlack)
	}
	lim := Limits{MaxNodes: 10, MaxConstValues: 100}
	_, err := Decode(make([]byte, MaxEncodedSize(lim)+1), lim)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("encoding of %d bytes exceeds %d bytes", MaxEncodedSize(lim)+1, MaxEncodedSize(lim))) {
		t.Fatalf("oversized input: %v", err)
	}
}

// encEdit encodes g, lets edit change the message, and encodes that.
func encEdit(t testing.TB, g *Graph, edit func(pg *graphpb.Graph)) []byte {
	t.Helper()
	var pg graphpb.Graph
	if err := proto.Unmarshal(encMarshal(t, g), &pg); err != nil {
		t.Fatal(err)
	}
	edit(&pg)
	data, err := proto.Marshal(&pg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// encNodeIndex is the index of the first node of g with op o.
func encNodeIndex(t *testing.T, g *Graph, o Op) int {
	t.Helper()
	for i, n := range g.Nodes {
		if n.Op == o {
			return i
		}
	}
	t.Fatalf("no %s node", o)
	return -1
}

func TestDecodeErrors(t *testing.T) {
	mlp := encBuild(t, encGraphs[0])
	misc := encBuild(t, encGraphs[4])
	mm := encNodeIndex(t, mlp, OpMatMul)
	add := encNodeIndex(t, mlp, OpAdd)
	c := encNodeIndex(t, misc, OpConst)

	type testCase struct {
		name string
		data []byte
		lim  Limits
		is   error    // ErrInvalid or ErrMalformed
		want []string // substrings of the message
	}
	edit := func(name string, g *Graph, f func(pg *graphpb.Graph), is error, want ...string) testCase {
		return testCase{name, encEdit(t, g, f), DefaultLimits, is, want}
	}
	cases := []testCase{
		edit("wrong version", mlp, func(pg *graphpb.Graph) { pg.FormatVersion = 2 },
			ErrMalformed, "format version 2, expected 1"),
		edit("missing version", mlp, func(pg *graphpb.Graph) { pg.FormatVersion = 0 },
			ErrMalformed, "format version 0, expected 1"),
		edit("unknown op", mlp, func(pg *graphpb.Graph) { pg.Nodes[3].Op = "conv2d" },
			ErrInvalid, `node 3: unknown op "conv2d"`),
		edit("long op", mlp, func(pg *graphpb.Graph) { pg.Nodes[2].Op = strings.Repeat("\x00", 1000) },
			ErrInvalid, `node 2: unknown op "\x00\x00`, `\x00"... (1000 bytes)`),
		edit("long dtype", mlp, func(pg *graphpb.Graph) { pg.Nodes[2].Dtype = strings.Repeat("f", 33) },
			ErrInvalid, `node 2: unknown dtype "ffff`, `ff"... (33 bytes)`),
		edit("empty op", mlp, func(pg *graphpb.Graph) { pg.Nodes[0].Op = "" },
			ErrInvalid, `node 0: unknown op ""`),
		edit("unknown dtype", mlp, func(pg *graphpb.Graph) { pg.Nodes[1].Dtype = "f8" },
			ErrInvalid, `node 1: unknown dtype "f8"`),
		edit("invalid dtype name", mlp, func(pg *graphpb.Graph) { pg.Nodes[1].Dtype = "invalid" },
			ErrInvalid, `node 1: unknown dtype "invalid"`),
		edit("input refers to a later node", mlp, func(pg *graphpb.Graph) { pg.Nodes[mm].Inputs[1] = int32(mm + 1) },
			ErrInvalid, fmt.Sprintf("node %d (matmul): input 1 refers to value %d, expected an earlier node (0..%d)", mm, mm+1, mm-1)),
		edit("input refers to itself", mlp, func(pg *graphpb.Graph) { pg.Nodes[mm].Inputs[0] = int32(mm) },
			ErrInvalid, fmt.Sprintf("node %d (matmul): input 0 refers to value %d", mm, mm)),
		edit("negative input", mlp, func(pg *graphpb.Graph) { pg.Nodes[mm].Inputs[0] = -1 },
			ErrInvalid, fmt.Sprintf("node %d (matmul): input 0 refers to value -1", mm)),
		edit("negative dim", mlp, func(pg *graphpb.Graph) { pg.Nodes[0].Shape[1] = -3 },
			ErrInvalid, "node 0: dimension 1 of shape [4 -3] is -3, expected 0..17179869184"),
		edit("dim above MaxElements", mlp, func(pg *graphpb.Graph) { pg.Nodes[0].Shape = []int64{0, 1 << 40} },
			ErrInvalid, "node 0: dimension 1 of shape [0 1099511627776] is 1099511627776"),
		edit("min int64 dim", mlp, func(pg *graphpb.Graph) { pg.Nodes[0].Shape[0] = math.MinInt64 },
			ErrInvalid, "node 0: dimension 0", "is -9223372036854775808"),
		edit("shape too large", mlp, func(pg *graphpb.Graph) { pg.Nodes[0].Shape = []int64{1 << 20, 1 << 20} },
			ErrInvalid, "node 0 (input): shape [1048576,1048576] has more than 17179869184 elements"),
		edit("rank too large", mlp, func(pg *graphpb.Graph) { pg.Nodes[0].Shape = make([]int64, MaxRank+1) },
			ErrInvalid, "node 0: shape has more than 8 entries"),
		edit("attribute too long", mlp, func(pg *graphpb.Graph) { pg.Nodes[5].Perm = make([]int64, 100) },
			ErrInvalid, "node 5: perm has more than 8 entries"),
		edit("negative axis", misc, func(pg *graphpb.Graph) { pg.Nodes[encNodeIndex(t, misc, OpIota)].Axis = -1 },
			ErrInvalid, "iota(): axis -1 out of range for shape [1,5]"),
		edit("const with wrong number of values", misc, func(pg *graphpb.Graph) { pg.Nodes[c].Values = []float64{1, 2, 3, 4, 5} },
			ErrInvalid, fmt.Sprintf("node %d: const(): has 5 values, expected 1 (a fill) or 6 for shape [2,3]", c)),
		edit("const without values", misc, func(pg *graphpb.Graph) { pg.Nodes[c].Values = nil },
			ErrInvalid, "has 0 values, expected 1 (a fill) or 6"),
		edit("wrong arity", mlp, func(pg *graphpb.Graph) { pg.Nodes[add].Inputs = pg.Nodes[add].Inputs[:1] },
			ErrInvalid, fmt.Sprintf("node %d (add): has 1 inputs, expected 2", add)),
		edit("leaf with an input", mlp, func(pg *graphpb.Graph) { pg.Nodes[1].Inputs = []int32{0} },
			ErrInvalid, "node 1 (input): has 1 inputs, expected 0"),
		edit("dtype mismatch", mlp, func(pg *graphpb.Graph) { pg.Nodes[3].Dtype = "f64" }, // b1
			ErrInvalid, fmt.Sprintf("node %d: add(f32[4,16], f64[16]): dtypes differ: f32 and f64", add)),
		edit("declared type disagrees", mlp, func(pg *graphpb.Graph) { pg.Nodes[add].Shape = []int64{16, 4} },
			ErrInvalid, fmt.Sprintf("node %d (add): declares type f32[16,4] but its inputs give f32[4,16]", add)),
		edit("duplicate name", mlp, func(pg *graphpb.Graph) { pg.Nodes[1].Name = "x" },
			ErrInvalid, `node 1 (input): name "x" is already used by node 0`),
		edit("output of a missing value", mlp, func(pg *graphpb.Graph) { pg.Outputs[0].Value = 1000 },
			ErrInvalid, `output "loss" refers to missing value 1000`),
		edit("update of an input", mlp, func(pg *graphpb.Graph) { pg.Updates[0].Target = 0 },
			ErrInvalid, "update target 0 is a input, expected a param or state"),
		edit("unknown node field", mlp, func(pg *graphpb.Graph) {
			pg.Nodes[2].ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))
		}, ErrMalformed, "node 2: unknown field 99 (wire type 0)"),
		edit("known field of the wrong wire type", mlp, func(pg *graphpb.Graph) {
			pg.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 7))
		}, ErrMalformed, "unknown field 2 (wire type 0)"),
		{"too many nodes", encMarshal(t, mlp), Limits{MaxNodes: len(mlp.Nodes) - 1, MaxConstValues: 100},
			ErrInvalid, []string{fmt.Sprintf("%d nodes exceed the limit %d", len(mlp.Nodes), len(mlp.Nodes)-1)}},
		{"too many inputs", encEdit(t, mlp, func(pg *graphpb.Graph) {
			pg.Nodes[4].Inputs = make([]int32, 8*100+1)
		}), Limits{MaxNodes: 100, MaxConstValues: 100}, ErrInvalid,
			[]string{"node 4: the nodes have more than 800 inputs in all (8 per node of the limit 100)"}},
		{"too many constant values", encMarshal(t, misc), Limits{MaxNodes: 100, MaxConstValues: 3},
			ErrInvalid, []string{fmt.Sprintf("node %d: constants hold more than 3 values", c)}},
		{"too many outputs", encEdit(t, mlp, func(pg *graphpb.Graph) {
			for i := range 200 {
				pg.Outputs = append(pg.Outputs, &graphpb.Output{Name: fmt.Sprint(i)})
			}
		}), Limits{MaxNodes: 100, MaxConstValues: 100}, ErrInvalid, []string{"202 outputs exceed the node limit 100"}},
		{"truncated", func() []byte { d := encMarshal(t, mlp); return d[:len(d)-1] }(), DefaultLimits,
			ErrMalformed, []string{"malformed graph encoding: byte", "field 4: truncated"}},
		{"truncated inside a node", encMarshal(t, mlp)[:40], DefaultLimits,
			ErrMalformed, []string{"malformed graph encoding: byte 23: field 2: truncated"}},
		{"garbage", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, DefaultLimits,
			ErrMalformed, []string{"malformed graph encoding: byte 0:"}},
		{"field number zero", []byte{0x00, 0x01}, DefaultLimits,
			ErrMalformed, []string{"malformed graph encoding: byte 0:", "invalid field number"}},
		{"bad packed varint", []byte{0x08, 0x01, 0x12, 0x03, 0x2a, 0x01, 0x80}, DefaultLimits,
			ErrMalformed, []string{"malformed graph encoding: node 0: shape: packed integers: truncated"}},
		{"malformed node", []byte{0x08, 0x01, 0x12, 0x02, 0x00, 0x01}, DefaultLimits,
			ErrMalformed, []string{"malformed graph encoding: node 0: byte 0:", "invalid field number"}},
		{"bad packed doubles", []byte{0x08, 0x01, 0x12, 0x05, 0x92, 0x01, 0x02, 0x00, 0x00}, DefaultLimits,
			ErrMalformed, []string{"malformed graph encoding: node 0: values: 2 bytes of packed 8-byte values"}},
		edit("input out of the int32 range", mlp, func(pg *graphpb.Graph) {
			pg.Nodes[mm].ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 1<<32+1))
		}, ErrInvalid, fmt.Sprintf("node %d: inputs holds 4294967297, which is not an int32", mm)),
		edit("output out of the int32 range", mlp, func(pg *graphpb.Graph) {
			pg.Outputs[1].ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1<<63))
		}, ErrInvalid, "output 1: value holds -9223372036854775808, which is not an int32"),
		edit("version out of the uint32 range", mlp, func(pg *graphpb.Graph) {
			pg.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1<<32+1))
		}, ErrMalformed, "format version 4294967297, expected 1"),
		{"text", []byte("op: matmul\n"), DefaultLimits, ErrMalformed, []string{"malformed graph encoding: byte 0: field 13:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Decode(tc.data, tc.lim)
			if err == nil {
				t.Fatalf("decoded %d nodes, expected an error", len(g.Nodes))
			}
			t.Log(err)
			if g != nil {
				t.Errorf("returned a graph with the error")
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %q", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestDecodeTruncations decodes every prefix of an encoding: none may panic,
// and a prefix that decodes is a smaller valid graph.
func TestDecodeTruncations(t *testing.T) {
	for _, tg := range encGraphs {
		g := encBuild(t, tg)
		data := encMarshal(t, g)
		for n := range len(data) {
			got, err := Decode(data[:n], DefaultLimits)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
					t.Fatalf("%s[:%d]: error wraps neither sentinel: %v", tg.name, n, err)
				}
				continue
			}
			if len(got.Nodes)+len(got.Outputs)+len(got.Updates) >= len(g.Nodes)+len(g.Outputs)+len(g.Updates) {
				t.Fatalf("%s[:%d] decodes to a graph as large as the whole", tg.name, n)
			}
		}
	}
}

// TestDecodeGarbage decodes random bytes, and encodings with random bytes
// changed: no panic, and random bytes are refused.
func TestDecodeGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		data := make([]byte, 1+rng.IntN(300))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if g, err := Decode(data, DefaultLimits); err == nil {
			t.Fatalf("random bytes %d (%x) decoded to %+v", i, data, g)
		}
	}
	for _, tg := range encGraphs {
		orig := encMarshal(t, encBuild(t, tg))
		for range 2000 {
			data := bytes.Clone(orig)
			for range 1 + rng.IntN(4) {
				data[rng.IntN(len(data))] = byte(rng.Uint32())
			}
			g, err := Decode(data, DefaultLimits)
			if err != nil {
				continue
			}
			if err := g.Validate(DefaultLimits); err != nil {
				t.Fatalf("decoded graph does not validate: %v", err)
			}
		}
	}
}

// TestDecodeBoundsMemory decodes encodings built to make a small input claim
// much memory (many empty messages, long packed fields, inputs, names): what
// Decode allocates stays within a small multiple of MaxEncodedSize (about 2×
// at worst today), whatever the input holds.
func TestDecodeBoundsMemory(t *testing.T) {
	lim := Limits{MaxNodes: 1000, MaxConstValues: 1000}
	bound := MaxEncodedSize(lim)
	header := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), FormatVersion)
	// fill repeats field (an encoded tag and value) up to the bound.
	fill := func(prefix, field []byte) []byte {
		data := bytes.Clone(prefix)
		for len(data)+len(field) <= bound {
			data = append(data, field...)
		}
		return data
	}
	emptyNode := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), nil)
	emptyOutput := protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), nil)
	emptyUpdate := protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), nil)
	node := func(fields ...[]byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), slices.Concat(fields...))
	}
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	packed := func(num protowire.Number, n int) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), make([]byte, n))
	}
	ints := func(num protowire.Number, vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			b = protowire.AppendVarint(b, v)
		}
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
	}
	leaf := slices.Concat(str(1, "input"), str(2, "x"), str(4, "f32"), ints(5, 1))
	n := lim.MaxNodes
	concat := slices.Concat(str(1, "concat"), str(4, "f32"), ints(5, uint64(8*n-1)))
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"too many empty nodes", fill(header, emptyNode)},
		{"too many empty outputs", fill(header, emptyOutput)},
		{"empty nodes, outputs and updates, then a long name", slices.Concat(header,
			bytes.Repeat(emptyNode, n-1), bytes.Repeat(emptyOutput, n), bytes.Repeat(emptyUpdate, n),
			node(str(2, strings.Repeat("n", bound-10*n-64))))},
		{"packed inputs", slices.Concat(header, node(leaf), node(concat, packed(3, 8*n-1)))},
		{"unpacked inputs", slices.Concat(header, node(leaf), node(concat, bytes.Repeat([]byte{0x18, 0x00}, 8*n-1)))},
		{"too many inputs", slices.Concat(header, node(leaf), node(concat, packed(3, bound-64)))},
		{"packed shape", slices.Concat(header, node(str(1, "input"), packed(5, bound-32)))},
		{"long name", slices.Concat(header, node(str(1, "input"), str(4, "f32"), str(2, strings.Repeat("n", bound-64))))},
		{"long op", slices.Concat(header, node(str(1, strings.Repeat("\x01", bound-64))))},
		{"unknown fields", fill(header, protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))},
		{"values", slices.Concat(header, node(str(1, "const"), str(4, "f64"), ints(5, uint64(lim.MaxConstValues)),
			packed(18, 8*lim.MaxConstValues)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.data) > bound {
				t.Fatalf("test input of %d bytes exceeds the bound %d", len(tc.data), bound)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Decode(tc.data, lim)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes: allocated %d (%.2f× the bound): %v", len(tc.data), alloc, float64(alloc)/float64(bound), err)
			if alloc > 4*uint64(bound) {
				t.Errorf("allocated %d bytes, more than 4× the bound %d", alloc, bound)
			}
		})
	}
}
