// Op codes of shaders/eltwise.comp (the numbers of shaders/ops.glsl) and
// the IR ops they implement.

package vulkan

import "github.com/mohawk-distill/mohawk/sdk/graph"

const (
	opFill uint32 = iota
	opCopy
	opCopyGated
	opWhere
	opNeg
	opAbs
	opSign
	opExp
	opLog
	opSqrt
	opRsqrt
	opRecip
	opTanh
	opSigmoid
	opSoftplus
	opSin
	opCos
	opCastF2I
	opCastI2F
	opAdd
	opSub
	opMul
	opDiv
	opMax
	opMin
	opPow
	opLess
	opEqual
)

// elementwise maps the IR's elementwise ops to eltwise.comp op codes.
var elementwise = map[graph.Op]uint32{
	graph.OpNeg: opNeg, graph.OpAbs: opAbs, graph.OpSign: opSign, graph.OpExp: opExp, graph.OpLog: opLog,
	graph.OpSqrt: opSqrt, graph.OpRsqrt: opRsqrt, graph.OpRecip: opRecip, graph.OpTanh: opTanh,
	graph.OpSigmoid: opSigmoid, graph.OpSoftplus: opSoftplus, graph.OpSin: opSin, graph.OpCos: opCos,
	graph.OpAdd: opAdd, graph.OpSub: opSub, graph.OpMul: opMul, graph.OpDiv: opDiv, graph.OpMax: opMax,
	graph.OpMin: opMin, graph.OpPow: opPow, graph.OpLess: opLess, graph.OpEqual: opEqual,
}

// intOps are the elementwise ops eltwise.comp computes on i32.
var intOps = map[uint32]bool{
	opNeg: true, opAbs: true, opSign: true, opAdd: true, opSub: true, opMul: true,
	opMax: true, opMin: true, opLess: true, opEqual: true,
}

// dtCode is the DT specialization constant of a dtype.
func dtCode(dt graph.DType) uint32 {
	if dt == graph.I32 {
		return 1
	}
	return 0
}

// rowOps maps the fused ops to rows.comp op codes.
var rowOps = map[graph.Op]uint32{
	graph.OpSoftmax: 0, graph.OpLogSoftmax: 1, graph.OpLayerNorm: 2, graph.OpRMSNorm: 3, graph.OpCrossEntropy: 4,
}
