package graph

import "fmt"

// Tensor is a host tensor: a type and row-major data in the one slice that
// matches its dtype (F32, F64 or I32). It is how values enter and leave a
// backend and how constants are described to reference evaluators.
type Tensor struct {
	Type
	F32 []float32
	F64 []float64
	I32 []int32
}

// NewTensor allocates a zero tensor.
func NewTensor(dt DType, shape ...int) *Tensor {
	t := &Tensor{Type: Type{dt, Shape(shape).Clone()}}
	n := t.Shape.Size()
	switch dt {
	case F32:
		t.F32 = make([]float32, n)
	case F64:
		t.F64 = make([]float64, n)
	case I32:
		t.I32 = make([]int32, n)
	}
	return t
}

// FromF32, FromF64 and FromI32 wrap data (not copied) with a shape.
func FromF32(data []float32, shape ...int) *Tensor {
	return &Tensor{Type: Type{F32, Shape(shape).Clone()}, F32: data}
}
func FromF64(data []float64, shape ...int) *Tensor {
	return &Tensor{Type: Type{F64, Shape(shape).Clone()}, F64: data}
}
func FromI32(data []int32, shape ...int) *Tensor {
	return &Tensor{Type: Type{I32, Shape(shape).Clone()}, I32: data}
}

// Len is the number of elements held.
func (t *Tensor) Len() int {
	switch t.DType {
	case F32:
		return len(t.F32)
	case F64:
		return len(t.F64)
	case I32:
		return len(t.I32)
	}
	return 0
}

// Check reports a tensor whose data does not match its type.
func (t *Tensor) Check() error {
	if t == nil {
		return fmt.Errorf("nil tensor")
	}
	if t.DType != F32 && t.DType != F64 && t.DType != I32 {
		return fmt.Errorf("tensor of dtype %v: only f32, f64 and i32 tensors hold data", t.DType)
	}
	if t.Len() != t.Shape.Size() {
		return fmt.Errorf("tensor %v holds %d elements, expected %d", t.Type, t.Len(), t.Shape.Size())
	}
	return nil
}

// At returns element i as a float64.
func (t *Tensor) At(i int) float64 {
	switch t.DType {
	case F32:
		return float64(t.F32[i])
	case F64:
		return t.F64[i]
	case I32:
		return float64(t.I32[i])
	}
	return 0
}

// Set stores v at element i, converted to the tensor's dtype.
func (t *Tensor) Set(i int, v float64) {
	switch t.DType {
	case F32:
		t.F32[i] = float32(v)
	case F64:
		t.F64[i] = v
	case I32:
		t.I32[i] = int32(v)
	}
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{Type: Type{t.DType, t.Shape.Clone()}}
	c.F32 = append([]float32(nil), t.F32...)
	c.F64 = append([]float64(nil), t.F64...)
	c.I32 = append([]int32(nil), t.I32...)
	return c
}

// Float64s returns the elements converted to float64.
func (t *Tensor) Float64s() []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.At(i)
	}
	return out
}
