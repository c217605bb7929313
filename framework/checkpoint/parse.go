package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

const (
	// MaxHeaderSize bounds the JSON header of a safetensors file (the Python
	// and Rust readers use the same 100 MB bound).
	MaxHeaderSize = 100 << 20
	// MaxRank bounds the number of dimensions of one tensor.
	MaxRank = 16
	// maxDepth bounds the nesting of values the parser skips (unknown
	// fields of a tensor entry), as serde_json's recursion limit does.
	maxDepth = 128
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
//
// It refers to the header's bytes rather than copying them, so that what
// parsing allocates stays below the file's size whatever the header holds:
// one 32-byte record per tensor (the smallest entry a header can hold takes
// about 50 bytes), sized exactly by a first pass over the header. Names and
// shapes are read from the header when asked for, and copied out, so that
// nothing handed to a caller refers to the file's mapping.
type parsed struct {
	recs []tensorRec // sorted by name
	hdr  []byte
	meta []byte // the "__metadata__" object's JSON text (nil if none)
	body []byte // the data section
}

// tensorRec is one tensor: its name is the JSON string content
// hdr[name:name+nameLen] (escaped says whether it holds escapes), its shape
// the array at hdr[shape:].
type tensorRec struct {
	begin, end    int64
	name, nameLen uint32
	shape         uint32
	dtype, rank   uint8
	escaped       bool
}

func (p *parsed) rawName(r *tensorRec) []byte { return p.hdr[r.name : r.name+r.nameLen] }

// name returns a tensor's name as a new string.
func (p *parsed) name(r *tensorRec) string {
	raw := p.rawName(r)
	if !r.escaped {
		return string(raw)
	}
	out := make([]byte, decodeString(raw, nil))
	decodeString(raw, out)
	return string(out)
}

// info expands a record into a TensorInfo.
func (p *parsed) info(r *tensorRec) TensorInfo {
	var dims [MaxRank]int64
	s := scanner{b: p.hdr, i: int(r.shape)}
	s.ints("shape", dims[:]) // validated by parse
	t := TensorInfo{Name: p.name(r), DType: dtypeNames[r.dtype], Shape: make([]int, r.rank), Begin: r.begin, End: r.end}
	for i := range t.Shape {
		t.Shape[i] = int(dims[i])
	}
	return t
}

// compare orders two tensors by name (the decoded strings' bytes).
func (p *parsed) compare(a, b *tensorRec) int {
	if !a.escaped && !b.escaped {
		return bytes.Compare(p.rawName(a), p.rawName(b))
	}
	return compareDecoded(p.rawName(a), a.escaped, p.rawName(b), b.escaped)
}

// find returns the index of the tensor called name, or -1.
func (p *parsed) find(name string) int {
	q := unsafe.Slice(unsafe.StringData(name), len(name)) // only read
	cmp := func(r *tensorRec) int {
		if !r.escaped {
			return bytes.Compare(p.rawName(r), q)
		}
		return compareDecoded(p.rawName(r), true, q, false)
	}
	i := sort.Search(len(p.recs), func(i int) bool { return cmp(&p.recs[i]) >= 0 })
	if i < len(p.recs) && cmp(&p.recs[i]) == 0 {
		return i
	}
	return -1
}

// names lists the tensors in sorted order.
func (p *parsed) names() []string {
	out := make([]string, len(p.recs))
	for i := range p.recs {
		out[i] = p.name(&p.recs[i])
	}
	return out
}

// display is a tensor's name, cut short, for an error message.
func (p *parsed) display(r *tensorRec) string { return displayName(p.rawName(r)) }

func displayName(raw []byte) string {
	var buf [200]byte
	k := decodeString(raw[:min(len(raw), 150)], buf[:])
	return short(string(buf[:k]))
}

// dtypeNames lists the dtypes of dtypeBits in sorted order; a record keeps
// an index into it.
var dtypeNames = func() []string {
	var names []string
	for k := range dtypeBits {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}()

// entry is one tensor's entry as read from the header.
type entry struct {
	name       []byte // the JSON string's content, escapes not decoded
	shape      int    // offset of the shape array in the header
	dtype      int    // index into dtypeNames
	rank       int
	dims       [MaxRank]int64
	begin, end int64
}

// parse validates a whole safetensors file held in data. It reads the
// header twice: once to validate it and count the tensors, once to fill a
// slice of exactly that many records. It allocates that slice and the
// parsed struct (and an error message when it fails), nothing sized by a
// number read from the header. path is used only in error messages.
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
	if !utf8.Valid(hdr) {
		return nil, fail("header is not valid UTF-8 (at byte %d)", invalidUTF8At(hdr))
	}

	// Pass 1: validate and count.
	w := walker{hdr: hdr, bodyLen: int64(len(body))}
	if err := w.walk(); err != nil {
		if _, ok := err.(*syntaxError); !ok {
			// A malformed header is reported as such, wherever the
			// first error of content came before the first of syntax.
			v := &scanner{b: hdr}
			if serr := v.skip(0); serr != nil {
				err = serr
			} else if v.ws(); v.i != len(hdr) {
				err = v.syntax("unexpected content after the header object")
			}
		}
		return nil, fail("%v", err)
	}

	// Pass 2: fill.
	p := &parsed{recs: make([]tensorRec, 0, w.n), hdr: hdr, body: body}
	w = walker{hdr: hdr, bodyLen: int64(len(body)), fill: &p.recs}
	if err := w.walk(); err != nil {
		return nil, fail("%v", err) // unreachable: pass 1 accepted the same bytes
	}
	if w.meta[1] > 0 {
		p.meta = hdr[w.meta[0]:w.meta[1]]
	}

	// The tensors must tile the data section: sorted by offset, each begins
	// where the one before ended, and the last ends at the end of the file.
	slices.SortFunc(p.recs, func(a, b tensorRec) int {
		if a.begin != b.begin {
			return cmpInt64(a.begin, b.begin)
		}
		return cmpInt64(a.end, b.end)
	})
	var tiles error
	pos, prev := int64(0), -1
	for i := range p.recs {
		t := &p.recs[i]
		switch {
		case t.begin < pos:
			tiles = fmt.Errorf("tensor %q (bytes %d..%d) overlaps tensor %q (ending at %d)", p.display(t), t.begin, t.end, p.display(&p.recs[prev]), pos)
		case t.begin > pos:
			tiles = fmt.Errorf("tensor %q begins at byte %d, expected %d: %d bytes of the data section belong to no tensor", p.display(t), t.begin, pos, t.begin-pos)
		}
		if tiles != nil {
			break
		}
		pos, prev = t.end, i
	}
	if tiles == nil && pos != int64(len(body)) {
		tiles = fmt.Errorf("the tensors cover %d bytes of the data section, expected all %d", pos, len(body))
	}
	slices.SortFunc(p.recs, func(a, b tensorRec) int { return p.compare(&a, &b) })
	for i := 1; i < len(p.recs); i++ {
		if p.compare(&p.recs[i], &p.recs[i-1]) == 0 {
			return nil, fail("header names %q twice", p.display(&p.recs[i]))
		}
	}
	if tiles != nil {
		return nil, fail("%v", tiles)
	}
	return p, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// short cuts a (possibly hostile) name for an error message.
func short(s string) string {
	if len(s) <= 120 {
		return s
	}
	cut := 120
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// walker reads the header object and validates each tensor entry against
// a data section of bodyLen bytes. It counts the tensors in n and, when
// fill is set, appends their records to it; it records the byte range of
// the "__metadata__" object in meta. It allocates nothing unless it fails.
type walker struct {
	hdr     []byte
	bodyLen int64
	fill    *[]tensorRec
	n       int
	meta    [2]int
}

func (w *walker) walk() error {
	s := &scanner{b: w.hdr}
	var e entry
	seenMeta := false
	if err := s.expect('{'); err != nil {
		return err
	}
	if !s.next('}') {
		for {
			key, err := s.str()
			if err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			if string(key) == "__metadata__" {
				if seenMeta {
					return fmt.Errorf("header names \"__metadata__\" twice")
				}
				seenMeta = true
				if w.meta, err = s.metadata(); err != nil {
					return err
				}
			} else {
				e.name = key
				if err := s.entry(&e, w.bodyLen); err != nil {
					return err
				}
				w.n++
				if w.fill != nil {
					name := cap(w.hdr) - cap(key) // key's offset in the header
					*w.fill = append(*w.fill, tensorRec{
						begin: e.begin, end: e.end, name: uint32(name), nameLen: uint32(len(key)),
						shape: uint32(e.shape), dtype: uint8(e.dtype), rank: uint8(e.rank),
						escaped: bytes.IndexByte(key, '\\') >= 0,
					})
				}
			}
			if s.next('}') {
				break
			}
			if err := s.expect(','); err != nil {
				return err
			}
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return s.syntax("unexpected content after the header object")
	}
	return nil
}

// scanner reads JSON from b without copying or allocating.
type scanner struct {
	b []byte
	i int
}

type syntaxError struct {
	what string
	at   int
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("header is not well-formed JSON: %s at byte %d", e.what, e.at)
}

func (s *scanner) syntax(what string) error { return &syntaxError{what, s.i} }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c (after whitespace) if it comes next.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) expect(c byte) error {
	if s.next(c) {
		return nil
	}
	if s.i == len(s.b) {
		return s.syntax(fmt.Sprintf("expected %q, found the end", c))
	}
	return s.syntax(fmt.Sprintf("expected %q, found %q", c, s.b[s.i]))
}

// str reads a string and returns its content with escapes undecoded.
func (s *scanner) str() ([]byte, error) {
	if err := s.expect('"'); err != nil {
		return nil, err
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], nil
		case c < 0x20:
			return nil, s.syntax("control character in a string")
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return nil, s.syntax("unterminated string")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return nil, s.syntax("unterminated string")
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if hexVal(h) < 0 {
						return nil, s.syntax("invalid \\u escape")
					}
				}
				s.i += 6
			default:
				return nil, s.syntax("invalid escape")
			}
		default:
			s.i++
		}
	}
	return nil, s.syntax("unterminated string")
}

// number reads a JSON number; integer reports whether it has neither a
// fraction nor an exponent.
func (s *scanner) number() (text []byte, integer bool, err error) {
	s.ws()
	start := s.i
	digits := func() int {
		k := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
		return s.i - k
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	lead := s.i
	if n := digits(); n == 0 {
		return nil, false, s.syntax("expected a value")
	} else if n > 1 && s.b[lead] == '0' {
		return nil, false, s.syntax("number with a leading zero")
	}
	integer = true
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		integer = false
		if digits() == 0 {
			return nil, false, s.syntax("expected a digit after '.'")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		integer = false
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return nil, false, s.syntax("expected a digit in the exponent")
		}
	}
	return s.b[start:s.i], integer, nil
}

// int64 reads a JSON integer that fits an int64.
func (s *scanner) int64(what string) (int64, error) {
	text, integer, err := s.number()
	if err != nil {
		return 0, err
	}
	if !integer {
		return 0, fmt.Errorf("%s: %s is not an integer", what, displayName(text))
	}
	digits, neg := text, text[0] == '-'
	if neg {
		digits = text[1:]
	}
	var v int64
	for _, c := range digits {
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("%s: %s is outside the int64 range", what, displayName(text))
		}
		v = v*10 + d
	}
	if neg {
		return -v, nil
	}
	return v, nil
}

// skip reads any value, nested at most maxDepth deep.
func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return s.syntax(fmt.Sprintf("values nested deeper than %d", maxDepth))
	}
	s.ws()
	if s.i == len(s.b) {
		return s.syntax("expected a value, found the end")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, err := s.str()
		return err
	case c == '{':
		s.i++
		if s.next('}') {
			return nil
		}
		for {
			if _, err := s.str(); err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.next('}') {
				return nil
			}
			if err := s.expect(','); err != nil {
				return err
			}
		}
	case c == '[':
		s.i++
		if s.next(']') {
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.next(']') {
				return nil
			}
			if err := s.expect(','); err != nil {
				return err
			}
		}
	case c == 't' || c == 'f' || c == 'n':
		lit := "null"
		if c == 't' {
			lit = "true"
		} else if c == 'f' {
			lit = "false"
		}
		if string(s.b[s.i:min(len(s.b), s.i+len(lit))]) != lit {
			return s.syntax("invalid literal")
		}
		s.i += len(lit)
		return nil
	default:
		_, _, err := s.number()
		return err
	}
}

// metadata reads the "__metadata__" object (string values only) and
// returns its byte range.
func (s *scanner) metadata() ([2]int, error) {
	s.ws()
	start := s.i
	if !s.next('{') {
		return [2]int{}, fmt.Errorf("__metadata__: expected an object of string values")
	}
	if !s.next('}') {
		for {
			if _, err := s.str(); err != nil {
				return [2]int{}, err
			}
			if err := s.expect(':'); err != nil {
				return [2]int{}, err
			}
			s.ws()
			if s.i < len(s.b) && s.b[s.i] != '"' {
				return [2]int{}, fmt.Errorf("__metadata__: expected an object of string values")
			}
			if _, err := s.str(); err != nil {
				return [2]int{}, err
			}
			if s.next('}') {
				break
			}
			if err := s.expect(','); err != nil {
				return [2]int{}, err
			}
		}
	}
	return [2]int{start, s.i}, nil
}

// ints reads an array of integers into dst, returning how many the array
// holds (it may be more than len(dst); the extra are read, not kept).
func (s *scanner) ints(what string, dst []int64) (int, error) {
	if !s.next('[') {
		return 0, fmt.Errorf("%s: expected an array of integers", what)
	}
	n := 0
	if s.next(']') {
		return 0, nil
	}
	for {
		v, err := s.int64(what)
		if err != nil {
			return 0, err
		}
		if n < len(dst) {
			dst[n] = v
		}
		n++
		if s.next(']') {
			return n, nil
		}
		if err := s.expect(','); err != nil {
			return 0, err
		}
	}
}

// entry reads one tensor's entry into e and validates it against a data
// section of bodyLen bytes. Unknown fields are skipped.
func (s *scanner) entry(e *entry, bodyLen int64) error {
	fail := func(err error) error {
		if _, ok := err.(*syntaxError); ok {
			return err
		}
		return fmt.Errorf("tensor %q: %v", displayName(e.name), err)
	}
	if !s.next('{') {
		return fail(fmt.Errorf(`expected {"dtype", "shape", "data_offsets"}`))
	}
	var off [2]int64
	nOff := 0
	e.dtype, e.rank = -1, -1
	if !s.next('}') {
		for {
			key, err := s.str()
			if err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			var kb [32]byte
			if len(key) < len(kb) {
				key = kb[:decodeString(key, kb[:])]
			}
			switch string(key) {
			case "dtype":
				if e.dtype >= 0 {
					return fail(fmt.Errorf("dtype given twice"))
				}
				s.ws()
				if s.i < len(s.b) && s.b[s.i] != '"' {
					return fail(fmt.Errorf("dtype: expected a string"))
				}
				raw, err := s.str()
				if err != nil {
					return err
				}
				var db [64]byte
				i := -1
				if len(raw) <= len(db) {
					name := db[:decodeString(raw, db[:])]
					for k, d := range dtypeNames {
						if string(name) == d {
							i = k
						}
					}
				}
				if i < 0 {
					return fail(fmt.Errorf("unknown dtype %q (expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2, F8_E8M0, F6_E2M3, F6_E3M2, F4, C64)", displayName(raw)))
				}
				e.dtype = i
			case "shape":
				if e.rank >= 0 {
					return fail(fmt.Errorf("shape given twice"))
				}
				s.ws()
				e.shape = s.i
				n, err := s.ints("shape", e.dims[:])
				if err != nil {
					return fail(err)
				}
				if n > MaxRank {
					return fail(fmt.Errorf("rank %d exceeds the maximum %d", n, MaxRank))
				}
				e.rank = n
			case "data_offsets":
				if nOff > 0 {
					return fail(fmt.Errorf("data_offsets given twice"))
				}
				n, err := s.ints("data_offsets", off[:])
				if err != nil {
					return fail(err)
				}
				if n != 2 {
					return fail(fmt.Errorf("data_offsets holds %d numbers: expected [begin, end]", n))
				}
				nOff = n
			default:
				if err := s.skip(1); err != nil {
					return err
				}
			}
			if s.next('}') {
				break
			}
			if err := s.expect(','); err != nil {
				return err
			}
		}
	}
	switch {
	case e.dtype < 0:
		return fail(fmt.Errorf("no dtype"))
	case e.rank < 0:
		return fail(fmt.Errorf("no shape"))
	case nOff == 0:
		return fail(fmt.Errorf("no data_offsets"))
	}
	e.begin, e.end = off[0], off[1]
	if err := e.check(bodyLen); err != nil {
		return fail(err)
	}
	return nil
}

// check validates an entry's shape and offsets against a data section of
// bodyLen bytes.
func (e *entry) check(bodyLen int64) error {
	dtype := dtypeNames[e.dtype]
	bits := dtypeBits[dtype]
	shape := e.dims[:e.rank]
	zero := false
	for i, d := range shape {
		if d < 0 {
			return fmt.Errorf("shape %v: dimension %d is negative", shape, i)
		}
		if d > math.MaxInt || d > math.MaxInt64/8 {
			return fmt.Errorf("shape %v: dimension %d is too large", shape, i)
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
				return fmt.Errorf("shape %v needs more bytes than the %d-byte data section holds", shape, bodyLen)
			}
			count *= d
		}
	}
	if count*bits%8 != 0 {
		return fmt.Errorf("shape %v of %s does not fill whole bytes", shape, dtype)
	}
	size := count * bits / 8
	begin, end := e.begin, e.end
	off := [2]int64{begin, end}
	switch {
	case begin < 0 || end < 0:
		return fmt.Errorf("data_offsets %v: negative offset", off)
	case begin > end:
		return fmt.Errorf("data_offsets %v: begin after end", off)
	case end > bodyLen:
		return fmt.Errorf("data_offsets %v: end beyond the %d-byte data section", off, bodyLen)
	case end-begin != size:
		return fmt.Errorf("data_offsets %v hold %d bytes, expected %d for %s%v", off, end-begin, size, dtype, shape)
	}
	return nil
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func hex4(b []byte) rune {
	return rune(hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3]))
}

// decodeString decodes the content of a JSON string that str accepted, as
// encoding/json does (a lone surrogate becomes U+FFFD), into out, and
// returns its length; with out nil it only counts. The result is never
// longer than raw. If out is too short, the result is cut.
func decodeString(raw []byte, out []byte) int {
	n := 0
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			j = len(raw) - i
		}
		if out != nil {
			copy(out[min(n, len(out)):], raw[i:i+j])
		}
		n += j
		i += j
		if i == len(raw) {
			break
		}
		var buf [4]byte
		k := 1
		switch raw[i+1] {
		case 'b':
			buf[0] = '\b'
		case 'f':
			buf[0] = '\f'
		case 'n':
			buf[0] = '\n'
		case 'r':
			buf[0] = '\r'
		case 't':
			buf[0] = '\t'
		case 'u':
			r := hex4(raw[i+2:])
			i += 4 // with the 2 below, past \uXXXX
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+8 <= len(raw) && raw[i+2] == '\\' && raw[i+3] == 'u' {
					r2 = hex4(raw[i+4:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			k = utf8.EncodeRune(buf[:], r)
		default: // '"', '\\', '/'
			buf[0] = raw[i+1]
		}
		i += 2
		if out != nil {
			copy(out[min(n, len(out)):], buf[:k])
		}
		n += k
	}
	if out != nil {
		n = min(n, len(out))
	}
	return n
}

// compareDecoded compares the decoded contents of two JSON strings (a
// string without escaped set is taken as it is) without allocating.
func compareDecoded(a []byte, aEsc bool, b []byte, bEsc bool) int {
	da, db := strDecoder{raw: a, esc: aEsc}, strDecoder{raw: b, esc: bEsc}
	for {
		ca, oka := da.next()
		cb, okb := db.next()
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return -1
		case !okb:
			return 1
		case ca != cb:
			return cmpInt64(int64(ca), int64(cb))
		}
	}
}

// strDecoder yields the decoded bytes of a JSON string's content.
type strDecoder struct {
	raw    []byte
	esc    bool
	i      int
	pend   [4]byte
	np, ip int
}

func (d *strDecoder) next() (byte, bool) {
	if d.ip < d.np {
		d.ip++
		return d.pend[d.ip-1], true
	}
	if d.i >= len(d.raw) {
		return 0, false
	}
	c := d.raw[d.i]
	if c != '\\' || !d.esc {
		d.i++
		return c, true
	}
	// Decode one escape (with a following low surrogate) through decodeString.
	end := d.i + 2
	if d.raw[d.i+1] == 'u' {
		end = d.i + 6
		if r := hex4(d.raw[d.i+2:]); utf16.IsSurrogate(r) && end+6 <= len(d.raw) && d.raw[end] == '\\' && d.raw[end+1] == 'u' {
			if utf16.DecodeRune(r, hex4(d.raw[end+2:])) != utf8.RuneError {
				end += 6
			}
		}
	}
	d.np = decodeString(d.raw[d.i:end], d.pend[:])
	d.i = end
	d.ip = 1
	return d.pend[0], true
}
