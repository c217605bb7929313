package graph

import (
	"fmt"
	"strconv"
	"strings"
)

// Shape is a static tensor shape, outermost dimension first (row-major).
type Shape []int

// MaxRank and MaxElements bound what a graph may declare, so that a hostile
// graph cannot make a backend allocate without limit.
const (
	MaxRank     = 8
	MaxElements = 1 << 34
)

// Size is the number of elements (1 for a scalar).
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func (s Shape) Rank() int { return len(s) }

func (s Shape) Equal(o Shape) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// check reports a shape whose rank or size is out of bounds.
func (s Shape) check() error {
	if len(s) > MaxRank {
		return fmt.Errorf("rank %d exceeds the maximum %d", len(s), MaxRank)
	}
	n := 1
	for _, d := range s {
		if d < 0 {
			return fmt.Errorf("negative dimension in %v", s)
		}
		if d > MaxElements {
			// Even in an empty tensor: it would overflow shape arithmetic.
			return fmt.Errorf("dimension %d in %v exceeds %d", d, s, MaxElements)
		}
		if d > 0 && n > MaxElements/d {
			return fmt.Errorf("shape %v has more than %d elements", s, MaxElements)
		}
		n *= d
	}
	return nil
}

// Strides are the row-major element strides of s.
func (s Shape) Strides() []int {
	st := make([]int, len(s))
	acc := 1
	for i := len(s) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= s[i]
	}
	return st
}

// BroadcastShapes returns the numpy-style broadcast of a and b: dimensions
// are aligned on the right and must be equal or 1.
func BroadcastShapes(a, b Shape) (Shape, error) {
	r := max(len(a), len(b))
	out := make(Shape, r)
	for i := 0; i < r; i++ {
		da, db := dimFromRight(a, r-1-i), dimFromRight(b, r-1-i)
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast (dimension %d: %d vs %d)", a, b, i, da, db)
		}
	}
	return out, nil
}

// dimFromRight returns dimension j of s counted so that s is right-aligned in
// a shape of rank j+1+k; missing leading dimensions are 1.
func dimFromRight(s Shape, fromRight int) int {
	i := len(s) - 1 - fromRight
	if i < 0 {
		return 1
	}
	return s[i]
}

// Type is the static type of a value: dtype and shape.
type Type struct {
	DType DType
	Shape Shape
}

func (t Type) String() string { return t.DType.String() + t.Shape.String() }

func (t Type) Equal(o Type) bool { return t.DType == o.DType && t.Shape.Equal(o.Shape) }
