package checkpoint

import "math"

// dtypeBits is the width in bits of one element of each dtype the
// safetensors format defines (the names are the format's own, as the
// Python and Rust libraries write them).
var dtypeBits = map[string]int64{
	"BOOL":    8,
	"U8":      8,
	"I8":      8,
	"F8_E5M2": 8,
	"F8_E4M3": 8,
	"F8_E8M0": 8,
	"I16":     16,
	"U16":     16,
	"F16":     16,
	"BF16":    16,
	"I32":     32,
	"U32":     32,
	"F32":     32,
	"C64":     64,
	"F64":     64,
	"I64":     64,
	"U64":     64,
	"F4":      4,
	"F6_E2M3": 6,
	"F6_E3M2": 6,
}

// isFloatDType reports the dtypes converted to f32 (or f64) on request.
func isFloatDType(d string) bool { return d == "F16" || d == "BF16" || d == "F32" || d == "F64" }

// isIntDType reports the dtypes converted to i32 on request.
func isIntDType(d string) bool { return d == "I32" || d == "I64" }

// bf16ToF32 widens a bfloat16: its bits are the upper 16 bits of a float32.
func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f16ToF32 widens an IEEE 754 binary16 exactly: normal numbers rebias the
// exponent, subnormals are normalised, infinities stay infinite and NaNs
// keep their sign and payload (shifted into the top of the float32 payload).
func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch exp {
	case 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		// man·2^-24: shift the leading 1 up to bit 10, lowering the exponent
		// once per shift; 113 is the float32 biased exponent of 2^-14.
		e := uint32(113)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
	default:
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	}
}
