package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

const (
	// MaxHeaderSize bounds the JSON header of a safetensors file (the Python
	// and Rust readers use the same 100 MB bound).
	MaxHeaderSize = 100 << 20
	// MaxRank bounds the number of dimensions of one tensor.
	MaxRank = 16
)

// TensorInfo describes one tensor of a safetensors file. Begin and End are
// byte offsets into the data section (after the header), End exclusive.
type TensorInfo struct {
	Name  string
	DType string // the format's name: "F32", "BF16", "I64", ...
	Shape []int
	Begin int64
	End   int64
}

// Elements is the number of elements (the product of the shape).
func (t *TensorInfo) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// parsed is the validated content of a safetensors file held in memory.
type parsed struct {
	infos    map[string]*TensorInfo
	names    []string // sorted
	metadata map[string]string
	body     []byte // the data section
}

// parse validates a whole safetensors file held in data. Its allocations
// are proportional to the header, never to numbers written in the header.
// path is used only in error messages.
func parse(data []byte, path string) (*parsed, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("safetensors %s: %s", path, fmt.Sprintf(format, args...))
	}
	if len(data) < 8 {
		return nil, fail("file is %d bytes, expected at least 8 (the header length)", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return nil, fail("header length %d exceeds the maximum %d", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fail("header length %d exceeds the %d bytes after the length field (truncated file?)", n, len(data)-8)
	}
	hdr := data[8 : 8+n]
	body := data[8+n:]
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, fail("header does not start with '{' (not a safetensors file?)")
	}
	if !json.Valid(hdr) {
		// json.Valid accepts trailing whitespace, which is the format's padding.
		return nil, fail("header is not well-formed JSON: %v", jsonError(hdr))
	}

	p := &parsed{infos: map[string]*TensorInfo{}, body: body}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, fail("header: %v", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fail("header: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fail("header: expected a tensor name, found %v", tok)
		}
		if seen[key] {
			return nil, fail("header names %q twice", key)
		}
		seen[key] = true
		if key == "__metadata__" {
			if err := dec.Decode(&p.metadata); err != nil || p.metadata == nil {
				return nil, fail("__metadata__: expected an object of string values (%v)", err)
			}
			continue
		}
		var e rawEntry
		if err := dec.Decode(&e); err != nil {
			return nil, fail("tensor %q: expected {\"dtype\", \"shape\", \"data_offsets\"}: %v", key, err)
		}
		info, err := e.check(key, int64(len(body)))
		if err != nil {
			return nil, fail("tensor %q: %v", key, err)
		}
		p.infos[key] = info
		p.names = append(p.names, key)
	}
	sort.Strings(p.names)

	// The tensors must tile the data section: sorted by offset, each begins
	// where the one before ended, and the last ends at the end of the file.
	byOffset := make([]*TensorInfo, 0, len(p.infos))
	for _, name := range p.names {
		byOffset = append(byOffset, p.infos[name])
	}
	sort.SliceStable(byOffset, func(i, j int) bool {
		if byOffset[i].Begin != byOffset[j].Begin {
			return byOffset[i].Begin < byOffset[j].Begin
		}
		return byOffset[i].End < byOffset[j].End
	})
	pos, prev := int64(0), ""
	for _, t := range byOffset {
		switch {
		case t.Begin < pos:
			return nil, fail("tensor %q (bytes %d..%d) overlaps tensor %q (ending at %d)", t.Name, t.Begin, t.End, prev, pos)
		case t.Begin > pos:
			return nil, fail("tensor %q begins at byte %d, expected %d: %d bytes of the data section belong to no tensor", t.Name, t.Begin, pos, t.Begin-pos)
		}
		pos, prev = t.End, t.Name
	}
	if pos != int64(len(body)) {
		return nil, fail("the tensors cover %d bytes of the data section, expected all %d", pos, len(body))
	}
	return p, nil
}

// rawEntry is one tensor's entry as decoded, before validation.
type rawEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// check validates an entry against a data section of bodyLen bytes.
func (e *rawEntry) check(name string, bodyLen int64) (*TensorInfo, error) {
	switch {
	case e.DType == nil:
		return nil, fmt.Errorf("no dtype")
	case e.Shape == nil:
		return nil, fmt.Errorf("no shape")
	case e.DataOffsets == nil:
		return nil, fmt.Errorf("no data_offsets")
	}
	bits, ok := dtypeBits[*e.DType]
	if !ok {
		return nil, fmt.Errorf("unknown dtype %q (expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2, F8_E8M0, F6_E2M3, F6_E3M2, F4, C64)", *e.DType)
	}
	shape := *e.Shape
	if len(shape) > MaxRank {
		return nil, fmt.Errorf("rank %d exceeds the maximum %d", len(shape), MaxRank)
	}
	zero := false
	for i, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("shape %v: dimension %d is negative", shape, i)
		}
		if d > math.MaxInt || d > math.MaxInt64/8 {
			return nil, fmt.Errorf("shape %v: dimension %d is too large", shape, i)
		}
		zero = zero || d == 0
	}
	// Count elements without overflow: at most bodyLen·8/bits can fit.
	count, limit := int64(1), bodyLen*8/bits
	if zero {
		count = 0
	} else {
		for _, d := range shape {
			if count > limit/d {
				return nil, fmt.Errorf("shape %v needs more bytes than the %d-byte data section holds", shape, bodyLen)
			}
			count *= d
		}
	}
	if count*bits%8 != 0 {
		return nil, fmt.Errorf("shape %v of %s does not fill whole bytes", shape, *e.DType)
	}
	size := count * bits / 8
	off := *e.DataOffsets
	if len(off) != 2 {
		return nil, fmt.Errorf("data_offsets %v: expected [begin, end]", off)
	}
	begin, end := off[0], off[1]
	switch {
	case begin < 0 || end < 0:
		return nil, fmt.Errorf("data_offsets %v: negative offset", off)
	case begin > end:
		return nil, fmt.Errorf("data_offsets %v: begin after end", off)
	case end > bodyLen:
		return nil, fmt.Errorf("data_offsets %v: end beyond the %d-byte data section", off, bodyLen)
	case end-begin != size:
		return nil, fmt.Errorf("data_offsets %v hold %d bytes, expected %d for %s%v", off, end-begin, size, *e.DType, shape)
	}
	info := &TensorInfo{Name: name, DType: *e.DType, Shape: make([]int, len(shape)), Begin: begin, End: end}
	for i, d := range shape {
		info.Shape[i] = int(d)
	}
	return info, nil
}

// jsonError names the first syntax error of a malformed header.
func jsonError(b []byte) error {
	var v json.RawMessage // checked before anything is built
	err := json.Unmarshal(b, &v)
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Errorf("%v at byte %d", se, se.Offset)
	}
	if err == nil {
		return fmt.Errorf("unexpected content")
	}
	return err
}
