package checkpoint

import (
	"fmt"
	"strings"
	"testing"
)

// header10k is a file of 10,000 small F32 tensors with names shaped like a
// real checkpoint's, written in an order that is not sorted by name.
func header10k() []byte {
	var sb strings.Builder
	sb.WriteString(`{"__metadata__":{"format":"pt"}`)
	off := 0
	for i := range 10000 {
		fmt.Fprintf(&sb, `,"model.layers.%d.self_attn.%s_proj.weight":{"dtype":"F32","shape":[2,4],"data_offsets":[%d,%d]}`,
			(i*7919)%10000, []string{"q", "k", "v", "o"}[i%4], off, off+32)
		off += 32
	}
	sb.WriteString("}")
	return fileBytes(sb.String(), make([]byte, off))
}

// BenchmarkParse10k parses (validates and indexes) the header of a file of
// 10,000 tensors; the data section is not read.
func BenchmarkParse10k(b *testing.B) {
	data := header10k()
	b.SetBytes(int64(len(data) - 320000))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse(data, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
