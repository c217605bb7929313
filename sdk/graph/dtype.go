package graph

import "fmt"

// DType is the element type of a tensor value.
type DType uint8

const (
	Invalid DType = iota
	F32           // float32: the training dtype
	F64           // float64: gradient checks and references
	I32           // int32: token ids, indices, masks
	F16           // float16: declared for later mixed precision; no backend runs it yet
	BF16          // bfloat16: declared for later mixed precision; no backend runs it yet
)

var dtypeNames = [...]string{Invalid: "invalid", F32: "f32", F64: "f64", I32: "i32", F16: "f16", BF16: "bf16"}

func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case F32, I32:
		return 4
	case F64:
		return 8
	case F16, BF16:
		return 2
	}
	return 0
}

// IsFloat reports whether d is a floating-point dtype.
func (d DType) IsFloat() bool { return d == F32 || d == F64 || d == F16 || d == BF16 }

// Valid reports whether d is one of the declared dtypes.
func (d DType) Valid() bool { return d >= F32 && d <= BF16 }

// ParseDType is the inverse of DType.String.
func ParseDType(s string) (DType, error) {
	for d, n := range dtypeNames {
		if n == s && d != 0 {
			return DType(d), nil
		}
	}
	return Invalid, fmt.Errorf("unknown dtype %q (expected f32, f64, i32, f16 or bf16)", s)
}
