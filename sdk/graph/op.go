package graph

import "fmt"

// Op is an operation of the IR. The core ops are the definition of every
// computation; the fused ops (Softmax, LogSoftmax, LayerNorm, RMSNorm,
// CrossEntropy) each have a decomposition into core ops (decompose.go) that
// is their definition and the fallback of a backend that lacks them.
type Op uint16

const (
	OpInvalid Op = iota

	// Leaves.
	OpInput // per-step data bound at run time (token ids, masks)
	OpParam // trainable tensor resident in the backend
	OpState // non-trainable resident tensor (optimizer moments, step counter)
	OpConst // constant: Values holds one value (a fill) or one per element
	OpIota  // index along Axis, broadcast to the node's shape

	// Elementwise unary.
	OpNeg
	OpAbs
	OpSign
	OpExp
	OpLog
	OpSqrt
	OpRsqrt
	OpRecip
	OpTanh
	OpSigmoid
	OpSoftplus
	OpSin
	OpCos
	OpStopGradient // identity whose gradient is zero
	OpCast         // convert to the node's dtype

	// Elementwise binary with numpy broadcasting.
	OpAdd
	OpSub
	OpMul
	OpDiv
	OpMax // NaN if either input is NaN
	OpMin // NaN if either input is NaN
	OpPow
	OpLess  // 1 where a < b else 0, in the inputs' dtype
	OpEqual // 1 where a == b else 0, in the inputs' dtype

	// Where(cond, a, b): a where cond != 0 else b (broadcasting all three).
	OpWhere

	// Reductions over Axes; the reduced dimensions are kept with size 1.
	OpReduceSum
	OpReduceMax

	// Movement.
	OpReshape   // to the node's shape, same element count
	OpTranspose // permute by Perm
	OpSlice     // Begin (inclusive) .. End (exclusive) per axis
	OpPad       // zero padding: Lo before and Hi after, per axis
	OpConcat    // along Axis
	OpBroadcast // to the node's shape (numpy rules)

	// MatMul(a, b): batched [...,M,K]x[...,K,N] with TransA/TransB; batch
	// dimensions are equal, or one operand is a plain matrix.
	OpMatMul
	// Cumsum along Axis, optionally Exclusive and/or Reverse.
	OpCumsum
	// Gather(table[V,...], ids i32[I...]) -> [I...,...]: rows of table.
	OpGather
	// ScatterAdd(ids i32[I...], updates[I...,...]) -> [V,...] (node's shape):
	// the gradient of Gather.
	OpScatterAdd

	// Fused ops, all over the last axis.
	OpSoftmax
	OpLogSoftmax
	OpLayerNorm    // (x, gamma, beta), Eps
	OpRMSNorm      // (x, gamma), Eps
	OpCrossEntropy // (logits[...,V], labels i32[...]) -> [...]: -log softmax(logits)[label]

	numOps
)

// opInfo is the static description of an op.
type opInfo struct {
	name  string
	arity int // number of inputs; -1 for variadic (at least 1)
	fused bool
}

var opInfos = [numOps]opInfo{
	OpInput: {"input", 0, false}, OpParam: {"param", 0, false}, OpState: {"state", 0, false},
	OpConst: {"const", 0, false}, OpIota: {"iota", 0, false},
	OpNeg: {"neg", 1, false}, OpAbs: {"abs", 1, false}, OpSign: {"sign", 1, false},
	OpExp: {"exp", 1, false}, OpLog: {"log", 1, false}, OpSqrt: {"sqrt", 1, false},
	OpRsqrt: {"rsqrt", 1, false}, OpRecip: {"recip", 1, false}, OpTanh: {"tanh", 1, false},
	OpSigmoid: {"sigmoid", 1, false}, OpSoftplus: {"softplus", 1, false},
	OpSin: {"sin", 1, false}, OpCos: {"cos", 1, false},
	OpStopGradient: {"stop_gradient", 1, false}, OpCast: {"cast", 1, false},
	OpAdd: {"add", 2, false}, OpSub: {"sub", 2, false}, OpMul: {"mul", 2, false},
	OpDiv: {"div", 2, false}, OpMax: {"max", 2, false}, OpMin: {"min", 2, false},
	OpPow: {"pow", 2, false}, OpLess: {"less", 2, false}, OpEqual: {"equal", 2, false},
	OpWhere:     {"where", 3, false},
	OpReduceSum: {"reduce_sum", 1, false}, OpReduceMax: {"reduce_max", 1, false},
	OpReshape: {"reshape", 1, false}, OpTranspose: {"transpose", 1, false},
	OpSlice: {"slice", 1, false}, OpPad: {"pad", 1, false}, OpConcat: {"concat", -1, false},
	OpBroadcast: {"broadcast", 1, false},
	OpMatMul:    {"matmul", 2, false}, OpCumsum: {"cumsum", 1, false},
	OpGather: {"gather", 2, false}, OpScatterAdd: {"scatter_add", 2, false},
	OpSoftmax: {"softmax", 1, true}, OpLogSoftmax: {"log_softmax", 1, true},
	OpLayerNorm: {"layer_norm", 3, true}, OpRMSNorm: {"rms_norm", 2, true},
	OpCrossEntropy: {"cross_entropy", 2, true},
}

func (o Op) String() string {
	if o.Valid() {
		return opInfos[o].name
	}
	return fmt.Sprintf("op(%d)", uint16(o))
}

// Valid reports whether o is a known op.
func (o Op) Valid() bool { return o > OpInvalid && o < numOps }

// Fused reports whether o has a decomposition into core ops.
func (o Op) Fused() bool { return o.Valid() && opInfos[o].fused }

// IsLeaf reports whether o takes no inputs.
func (o Op) IsLeaf() bool { return o >= OpInput && o <= OpIota }

// IsUnary reports an elementwise op of one input.
func (o Op) IsUnary() bool { return o >= OpNeg && o <= OpCast }

// IsBinary reports an elementwise op of two broadcast inputs.
func (o Op) IsBinary() bool { return o >= OpAdd && o <= OpEqual }

// ParseOp is the inverse of Op.String.
func ParseOp(s string) (Op, error) {
	for o := OpInvalid + 1; o < numOps; o++ {
		if opInfos[o].name == s {
			return o, nil
		}
	}
	return OpInvalid, fmt.Errorf("unknown op %q", s)
}

// Ops lists every op, for conformance suites.
func Ops() []Op {
	out := make([]Op, 0, numOps-1)
	for o := OpInvalid + 1; o < numOps; o++ {
		out = append(out, o)
	}
	return out
}

// Attrs holds the static attributes of a node. Each op reads only the
// fields its comment in the op list names; the rest stay zero.
type Attrs struct {
	Axis      int       // OpConcat, OpCumsum, OpIota
	Axes      []int     // OpReduceSum, OpReduceMax
	Perm      []int     // OpTranspose
	Begin     []int     // OpSlice
	End       []int     // OpSlice
	Lo        []int     // OpPad
	Hi        []int     // OpPad
	TransA    bool      // OpMatMul
	TransB    bool      // OpMatMul
	Exclusive bool      // OpCumsum
	Reverse   bool      // OpCumsum
	Eps       float64   // OpLayerNorm, OpRMSNorm
	Values    []float64 // OpConst
}
