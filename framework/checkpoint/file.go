package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// File is an open safetensors file. Its bytes are memory-mapped where the
// platform allows (read into memory once elsewhere); tensors are converted
// from them on request. A File is safe for concurrent reads; Close must not
// race with them.
type File struct {
	path    string
	p       *parsed
	release func() error
}

// Open maps and validates a safetensors file. The whole header is checked
// before Open returns: any File it returns reads every listed tensor
// without further format errors.
func Open(path string) (*File, error) {
	data, release, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	p, err := parse(data, path)
	if err != nil {
		release()
		return nil, err
	}
	return &File{path: path, p: p, release: release}, nil
}

// Path is the path the file was opened from.
func (f *File) Path() string { return f.path }

// Close releases the mapping. Tensors returned before stay valid (they are
// copies); Raw slices do not.
func (f *File) Close() error {
	if f.p == nil {
		return nil
	}
	f.p = nil
	err := f.release()
	if err != nil {
		return fmt.Errorf("safetensors %s: close: %w", f.path, err)
	}
	return nil
}

// Names lists the tensors in sorted order.
func (f *File) Names() []string {
	if f.p == nil {
		return nil
	}
	return f.p.names()
}

// Metadata returns a copy of the "__metadata__" strings (nil if none).
func (f *File) Metadata() map[string]string {
	if f.p == nil || f.p.meta == nil {
		return nil
	}
	m := map[string]string{}
	if err := json.Unmarshal(f.p.meta, &m); err != nil {
		return nil // unreachable: parse accepted it as an object of strings
	}
	return m
}

// Info describes one tensor.
func (f *File) Info(name string) (TensorInfo, error) {
	return f.lookup(name)
}

// Raw returns the tensor's little-endian bytes in place (no copy). The
// slice is valid until Close and must not be written.
func (f *File) Raw(name string) ([]byte, error) {
	t, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	return f.p.body[t.Begin:t.End:t.End], nil
}

// Tensor reads a tensor into host memory: F32, F16, BF16 and F64 become an
// f32 tensor (F16 and BF16 exactly, F64 rounded to nearest), I32 and I64
// become an i32 tensor (an I64 value outside the int32 range is an error).
// Other dtypes (U8, BOOL, F8, ...) are listed but not converted.
func (f *File) Tensor(name string) (*graph.Tensor, error) {
	t, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if isIntDType(t.DType) {
		return f.TensorAs(name, graph.I32)
	}
	return f.TensorAs(name, graph.F32)
}

// TensorAs reads a tensor converted to dt: graph.F32 or graph.F64 from a
// float dtype (F16, BF16, F32, F64), graph.I32 from I32 or I64.
func (f *File) TensorAs(name string, dt graph.DType) (*graph.Tensor, error) {
	t, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	src := f.p.body[t.Begin:t.End]
	n := t.Elements()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("safetensors %s: tensor %q: %s", f.path, name, fmt.Sprintf(format, args...))
	}
	switch dt {
	case graph.F32, graph.F64:
		if !isFloatDType(t.DType) {
			return nil, fail("dtype %s cannot be read as %v (expected F16, BF16, F32 or F64)", t.DType, dt)
		}
		out := graph.NewTensor(dt, t.Shape...)
		at := floatReader(t.DType, src)
		if dt == graph.F32 {
			if t.DType == "F64" {
				for i := range out.F32 {
					out.F32[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
				}
			} else {
				for i := range out.F32 {
					out.F32[i] = at(i)
				}
			}
		} else {
			if t.DType == "F64" {
				for i := range out.F64 {
					out.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:]))
				}
			} else {
				for i := range out.F64 {
					out.F64[i] = float64(at(i))
				}
			}
		}
		return out, nil
	case graph.I32:
		if !isIntDType(t.DType) {
			return nil, fail("dtype %s cannot be read as i32 (expected I32 or I64)", t.DType)
		}
		out := graph.NewTensor(graph.I32, t.Shape...)
		if t.DType == "I32" {
			for i := range n {
				out.I32[i] = int32(binary.LittleEndian.Uint32(src[4*i:]))
			}
		} else {
			for i := range n {
				v := int64(binary.LittleEndian.Uint64(src[8*i:]))
				if v < math.MinInt32 || v > math.MaxInt32 {
					return nil, fail("element %d is %d, outside the int32 range", i, v)
				}
				out.I32[i] = int32(v)
			}
		}
		return out, nil
	}
	return nil, fail("cannot convert to %v (expected f32, f64 or i32)", dt)
}

// floatReader returns element i of a F16, BF16 or F32 tensor as a float32.
func floatReader(dtype string, src []byte) func(i int) float32 {
	switch dtype {
	case "F16":
		return func(i int) float32 { return f16ToF32(binary.LittleEndian.Uint16(src[2*i:])) }
	case "BF16":
		return func(i int) float32 { return bf16ToF32(binary.LittleEndian.Uint16(src[2*i:])) }
	default:
		return func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:])) }
	}
}

func (f *File) lookup(name string) (TensorInfo, error) {
	if f.p == nil {
		return TensorInfo{}, fmt.Errorf("safetensors %s: tensor %q: file is closed", f.path, name)
	}
	i := f.p.find(name)
	if i < 0 {
		return TensorInfo{}, fmt.Errorf("safetensors %s: no tensor %q (the file has %d tensors%s)", f.path, name, len(f.p.recs), nearby(f.p.names(), name))
	}
	return f.p.info(&f.p.recs[i]), nil
}

// nearby names a few tensors around where name would sort, to help spot a
// misspelt or differently prefixed name.
func nearby(names []string, name string) string {
	if len(names) == 0 {
		return ""
	}
	i := sort.SearchStrings(names, name)
	lo, hi := max(0, i-1), min(len(names), i+2)
	return fmt.Sprintf(", e.g. %q", names[lo:hi])
}
