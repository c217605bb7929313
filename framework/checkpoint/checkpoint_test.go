package checkpoint

import (
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// sampleTensors covers every dtype Write produces, a scalar and empty tensors.
func sampleTensors() map[string]*graph.Tensor {
	return map[string]*graph.Tensor{
		"model.embed.weight": graph.FromF32([]float32{1, -2.5, 3e-8, float32(math.Inf(1)), 0, -0}, 2, 3),
		"z.f64":              graph.FromF64([]float64{math.Pi, -1e300, 5e-324}, 3),
		"ids":                graph.FromI32([]int32{0, -1, math.MaxInt32, math.MinInt32}, 2, 2),
		"scalar":             graph.FromF32([]float32{42}),
		"empty":              graph.FromF32([]float32{}, 0, 5),
		"empty.i32":          graph.FromI32(nil, 3, 0),
	}
}

// fileBytes frames a JSON header (padded with spaces to 8 bytes) and a data
// section as the format specifies.
func fileBytes(header string, data []byte) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.safetensors")
	in := sampleTensors()
	meta := map[string]string{"format": "pt", "note": "a \"quoted\" value"}
	if err := Write(p, in, meta); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	hlen := binary.LittleEndian.Uint64(raw)
	if hlen%8 != 0 || raw[8+hlen-1] != ' ' && raw[8+hlen-1] != '}' {
		t.Fatalf("header length %d not padded to 8 with spaces", hlen)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := slices.Sorted(func(yield func(string) bool) {
		for k := range in {
			if !yield(k) {
				return
			}
		}
	})
	if got := f.Names(); !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	if got := f.Metadata(); got["format"] != "pt" || got["note"] != meta["note"] || len(got) != 2 {
		t.Fatalf("metadata %v", got)
	}
	for name, w := range in {
		var g *graph.Tensor
		if w.DType == graph.F64 {
			g, err = f.TensorAs(name, graph.F64)
		} else {
			g, err = f.Tensor(name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !g.Shape.Equal(w.Shape) && !(len(g.Shape) == 0 && len(w.Shape) == 0) || g.DType != w.DType {
			t.Fatalf("%s: got %v, want %v", name, g.Type, w.Type)
		}
		for i := range w.Len() {
			a, b := g.At(i), w.At(i)
			if math.Float64bits(a) != math.Float64bits(b) {
				t.Fatalf("%s[%d] = %v, want %v", name, i, a, b)
			}
		}
	}
	// F64 read as f32 rounds to nearest.
	g, err := f.Tensor("z.f64")
	if err != nil || g.F32[0] != float32(math.Pi) || !math.IsInf(float64(g.F32[1]), -1) {
		t.Fatalf("F64 as f32: %v %v", g, err)
	}
	if _, err := f.TensorAs("ids", graph.F32); err == nil || !strings.Contains(err.Error(), `"ids"`) {
		t.Fatalf("I32 as f32: %v", err)
	}
	if _, err := f.Tensor("model.embed.weigth"); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "model.embed.weight") {
		t.Fatalf("missing tensor error: %v", err)
	}
}

// TestHandMade reads a file built byte by byte from the format description,
// so that Write is not the only producer the reader is tested against.
func TestHandMade(t *testing.T) {
	var data []byte
	data = binary.LittleEndian.AppendUint16(data, 0x3c00)                     // F16 1.0
	data = binary.LittleEndian.AppendUint16(data, 0xc000)                     // F16 -2.0
	data = binary.LittleEndian.AppendUint16(data, 0x0001)                     // F16 2^-24 (smallest subnormal)
	data = binary.LittleEndian.AppendUint16(data, 0x3f80)                     // BF16 1.0
	data = binary.LittleEndian.AppendUint16(data, 0xc049)                     // BF16 -3.140625
	data = binary.LittleEndian.AppendUint64(data, uint64(0xfffffffffffffffb)) // I64 -5
	data = binary.LittleEndian.AppendUint64(data, 7)                          // I64 7
	data = append(data, 1, 0, 1)                                              // BOOL
	header := `{"__metadata__":{"format":"pt"},` +
		`"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},` +
		`"b":{"dtype":"BF16","shape":[2,1],"data_offsets":[6,10]},` +
		`"i":{"dtype":"I64","shape":[2],"data_offsets":[10,26]},` +
		`"m":{"dtype":"BOOL","shape":[3],"data_offsets":[26,29]}}`
	p := writeFile(t, "hand.safetensors", fileBytes(header, data))
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Names(); !slices.Equal(got, []string{"b", "h", "i", "m"}) {
		t.Fatalf("names %v", got)
	}
	h, err := f.Tensor("h")
	if err != nil || !slices.Equal(h.F32, []float32{1, -2, float32(math.Ldexp(1, -24))}) {
		t.Fatalf("h = %v, %v", h, err)
	}
	b, err := f.Tensor("b")
	if err != nil || !slices.Equal(b.F32, []float32{1, -3.140625}) || !b.Shape.Equal(graph.Shape{2, 1}) {
		t.Fatalf("b = %v, %v", b, err)
	}
	i, err := f.Tensor("i")
	if err != nil || i.DType != graph.I32 || !slices.Equal(i.I32, []int32{-5, 7}) {
		t.Fatalf("i = %v, %v", i, err)
	}
	if _, err := f.Tensor("m"); err == nil || !strings.Contains(err.Error(), "BOOL") {
		t.Fatalf("BOOL converted: %v", err)
	}
	if raw, err := f.Raw("m"); err != nil || !slices.Equal(raw, []byte{1, 0, 1}) {
		t.Fatalf("raw m = %v, %v", raw, err)
	}
	info, _ := f.Info("i")
	if info.DType != "I64" || info.Begin != 10 || info.End != 26 {
		t.Fatalf("info %+v", info)
	}

	// An I64 outside the int32 range is an error naming the element.
	big := binary.LittleEndian.AppendUint64(nil, 1<<40)
	p = writeFile(t, "big.safetensors", fileBytes(`{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, big))
	f2, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if _, err := f2.Tensor("x"); err == nil || !strings.Contains(err.Error(), "int32") {
		t.Fatalf("I64 overflow: %v", err)
	}
}

// hostile lists malformed files with a fragment the error must contain.
func hostile() []struct {
	name, want string
	b          []byte
} {
	e := func(h string, n int) []byte { return fileBytes(h, make([]byte, n)) }
	huge := binary.LittleEndian.AppendUint64(nil, 1<<62)
	huge = append(huge, "{}"...)
	long := binary.LittleEndian.AppendUint64(nil, 1000)
	long = append(long, `{"a":{}}`...)
	return []struct {
		name, want string
		b          []byte
	}{
		{"empty", "at least 8", nil},
		{"short", "at least 8", []byte{1, 2, 3}},
		{"huge header length", "exceeds the maximum", huge},
		{"truncated header", "truncated", long},
		{"not json", "not well-formed JSON", fileBytes(`{"a":`, nil)},
		{"not object", "does not start with '{'", fileBytes(`[1,2]`, nil)},
		{"zero header", "does not start", binary.LittleEndian.AppendUint64(nil, 0)},
		{"trailing garbage", "not well-formed", fileBytes(`{} x`, nil)},
		{"unknown dtype", "unknown dtype", e(`{"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}`, 4)},
		{"lower-case dtype", "unknown dtype", e(`{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}`, 4)},
		{"no dtype", "no dtype", e(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4)},
		{"no shape", "no shape", e(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4)},
		{"no offsets", "no data_offsets", e(`{"a":{"dtype":"F32","shape":[1]}}`, 4)},
		{"negative dim", "negative", e(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4)},
		{"negative offset", "negative", e(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, 4)},
		{"float dim", "a", e(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4)},
		{"huge dim", "too large", e(`{"a":{"dtype":"F32","shape":[9223372036854775807],"data_offsets":[0,4]}}`, 4)},
		{"overflowing dim", "a", e(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}`, 4)},
		{"huge shape", "needs more bytes", e(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}`, 4)},
		{"deep rank", "rank", e(`{"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}`, 1)},
		{"size mismatch", "hold 4 bytes, expected 8", e(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12)},
		{"end beyond data", "beyond", e(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 2)},
		{"begin after end", "begin after end", e(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, 4)},
		{"three offsets", "expected [begin, end]", e(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 4)},
		{"overlap", "overlaps", e(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8)},
		{"gap", "belong to no tensor", e(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8)},
		{"trailing data", "expected all", e(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 12)},
		{"duplicate name", "twice", e(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4)},
		{"bad metadata", "__metadata__", e(`{"__metadata__":{"a":1}}`, 0)},
		{"null metadata", "__metadata__", e(`{"__metadata__":null}`, 0)},
		{"entry not object", "expected", e(`{"a":[1,2]}`, 0)},
		{"sub-byte", "whole bytes", e(`{"a":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}}`, 1)},
	}
}

func TestHostile(t *testing.T) {
	for _, c := range hostile() {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, "bad.safetensors", c.b)
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q: want it to contain %q and the path", err, c.want)
			}
		})
	}
}

// TestWriteFailureLeavesNothing: a tensor whose data does not match its
// shape fails before anything is created, and a failure while writing (a
// folder that is not writable) leaves neither file nor temporary file.
func TestWriteFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.safetensors")
	bad := sampleTensors()
	bad["broken"] = graph.FromF32([]float32{1, 2, 3}, 2, 2)
	if err := Write(p, bad, nil); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("write of a broken tensor: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
	// An existing file survives a failed overwrite unchanged.
	good := sampleTensors()
	if err := Write(p, good, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	if err := Write(p, bad, nil); err == nil {
		t.Fatal("accepted")
	}
	after, _ := os.ReadFile(p)
	if !slices.Equal(before, after) {
		t.Fatal("failed write changed the file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	// A failure during the write itself removes the temporary file.
	err := writeAtomic(filepath.Join(dir, "x"), func(w io.Writer) error {
		w.Write([]byte("partial"))
		return os.ErrInvalid
	})
	if err == nil {
		t.Fatal("no error")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
}

// f16Ref is the binary16 value by its definition, in float64.
func f16Ref(h uint16) float64 {
	s := 1.0
	if h>>15 == 1 {
		s = -1
	}
	e, m := int(h>>10)&0x1f, float64(h&0x3ff)
	switch e {
	case 0x1f:
		if m != 0 {
			return math.NaN()
		}
		return s * math.Inf(1)
	case 0:
		return s * math.Ldexp(m/1024, -14)
	}
	return s * math.Ldexp(1+m/1024, e-15)
}

// bf16Ref is the bfloat16 value by its definition, in float64.
func bf16Ref(h uint16) float64 {
	s := 1.0
	if h>>15 == 1 {
		s = -1
	}
	e, m := int(h>>7)&0xff, float64(h&0x7f)
	switch e {
	case 0xff:
		if m != 0 {
			return math.NaN()
		}
		return s * math.Inf(1)
	case 0:
		return s * math.Ldexp(m/128, -126)
	}
	return s * math.Ldexp(1+m/128, e-127)
}

func TestHalfConversionExhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		for _, c := range []struct {
			name string
			got  float32
			ref  float64
		}{{"f16", f16ToF32(h), f16Ref(h)}, {"bf16", bf16ToF32(h), bf16Ref(h)}} {
			if math.IsNaN(c.ref) {
				if !math.IsNaN(float64(c.got)) || math.Signbit(float64(c.got)) != (h>>15 == 1) {
					t.Fatalf("%s %#04x: got %v, want NaN with the same sign", c.name, h, c.got)
				}
				continue
			}
			if float64(c.got) != c.ref || math.Signbit(float64(c.got)) != math.Signbit(c.ref) {
				t.Fatalf("%s %#04x: got %v, want %v", c.name, h, c.got, c.ref)
			}
		}
	}
}

// TestLargeFileMapped opens a 100 MB file and reads all of its bytes
// through Raw without the heap growing by anything like the file's size.
func TestLargeFileMapped(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no mmap")
	}
	const n = 25 << 20 // 100 MiB of F32
	p := filepath.Join(t.TempDir(), "big.safetensors")
	hdr := fileBytes(`{"w":{"dtype":"F32","shape":[26214400],"data_offsets":[0,104857600]}}`, nil)
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.Write(hdr); err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(int64(len(hdr)) + 4*n); err != nil { // sparse zeros
		t.Fatal(err)
	}
	fh.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := f.Raw("w")
	if err != nil || len(raw) != 4*n {
		t.Fatalf("raw: %d bytes, %v", len(raw), err)
	}
	var sum byte
	for i := 0; i < len(raw); i += 4096 {
		sum |= raw[i]
	}
	runtime.ReadMemStats(&after)
	f.Close()
	if sum != 0 {
		t.Fatal("nonzero data")
	}
	if grow := int64(after.TotalAlloc - before.TotalAlloc); grow > 1<<20 {
		t.Fatalf("opening and reading a 100 MB file allocated %d bytes on the heap", grow)
	}
}

// TestWriteExactBytes checks Write's output byte for byte against the
// format: compact JSON, names sorted, spaces to a multiple of 8, data in
// name order, little-endian.
func TestWriteExactBytes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.safetensors")
	err := Write(p, map[string]*graph.Tensor{
		"b": graph.FromI32([]int32{-2}, 1),
		"a": graph.FromF32([]float32{1, 2}, 1, 2),
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	h := `{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}`
	want := fileBytes(h, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0xfe, 0xff, 0xff, 0xff})
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}
