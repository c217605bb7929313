package checkpoint

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// FuzzOpen feeds arbitrary bytes to the parser Open uses (no disk) and then
// converts every tensor it accepts. It must never panic; parsing must
// allocate no more than the input and a constant (allocBound), and converting must
// allocate no more than twice the data section.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	seeds := []struct {
		tensors map[string]*graph.Tensor
		meta    map[string]string
	}{
		{sampleTensors(), map[string]string{"format": "pt"}},
		{map[string]*graph.Tensor{}, nil},
		{map[string]*graph.Tensor{}, map[string]string{"k": "v"}},
		{map[string]*graph.Tensor{"e": graph.FromF32(nil, 0)}, nil},
		{map[string]*graph.Tensor{"x": graph.FromI32([]int32{1, 2, 3}, 3), "y": graph.FromF64([]float64{1}, 1, 1, 1)}, nil},
	}
	for i, s := range seeds {
		p := filepath.Join(dir, "seed.safetensors")
		if err := Write(p, s.tensors, s.meta); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		_ = i
		f.Add(b)
	}
	// Hand-built files with the dtypes Write does not produce.
	var data []byte
	data = binary.LittleEndian.AppendUint16(data, 0x7c01) // F16 NaN
	data = binary.LittleEndian.AppendUint16(data, 0x0200) // F16 subnormal
	data = binary.LittleEndian.AppendUint16(data, 0xff80) // BF16 -inf
	data = binary.LittleEndian.AppendUint64(data, 1<<35)  // I64 out of int32 range
	data = append(data, 1, 0)                             // BOOL
	f.Add(fileBytes(`{"__metadata__":{"a":"b"},"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},`+
		`"b":{"dtype":"BF16","shape":[1,1],"data_offsets":[4,6]},"i":{"dtype":"I64","shape":[],"data_offsets":[6,14]},`+
		`"m":{"dtype":"BOOL","shape":[2],"data_offsets":[14,16]}}`, data))
	for _, h := range hostile() {
		f.Add(h.b)
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		var m0, m1, m2 runtime.MemStats
		runtime.ReadMemStats(&m0)
		p, err := parse(b, "fuzz")
		runtime.ReadMemStats(&m1)
		if grew := m1.TotalAlloc - m0.TotalAlloc; grew > allocBound(len(b)) {
			t.Fatalf("parsing %d bytes allocated %d bytes", len(b), grew)
		}
		if err != nil {
			return
		}
		file := &File{path: "fuzz", p: p, release: func() error { return nil }}
		for _, name := range file.Names() {
			info, err := file.Info(name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Begin < 0 || info.End > int64(len(p.body)) || info.Begin > info.End {
				t.Fatalf("accepted out-of-range tensor %+v", info)
			}
			if _, err := file.Raw(name); err != nil {
				t.Fatal(err)
			}
			file.Tensor(name)
			file.TensorAs(name, graph.F64)
		}
		runtime.ReadMemStats(&m2)
		if grew := m2.TotalAlloc - m1.TotalAlloc; grew > 3*uint64(len(p.body))+uint64(len(p.recs))*4096+64<<10 {
			t.Fatalf("converting a %d-byte data section allocated %d bytes", len(p.body), grew)
		}
		if err := file.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// allocBound is what parsing an n-byte file may allocate: the file's size
// and a constant (the parsed struct, an error message, and what fmt and
// the runtime allocate once, which a fuzz worker's first calls see). An
// adversarial header large enough for the constant not to matter stays
// under the file's size: TestParseAllocationBelowFileSize.
func allocBound(n int) uint64 { return uint64(n) + 64<<10 }
