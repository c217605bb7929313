package checkpoint

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestParseAllocationLinear parses large headers of the shapes that cost
// the most per input byte (many tiny tensors, many tiny metadata strings,
// long shapes, ignored nested values) and checks allocBound.
func TestParseAllocationLinear(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 20000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"%d":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`, i)
	}
	sb.WriteString("}")
	var mb strings.Builder
	mb.WriteString(`{"__metadata__":{`)
	for i := range 50000 {
		if i > 0 {
			mb.WriteString(",")
		}
		fmt.Fprintf(&mb, `"%d":""`, i)
	}
	mb.WriteString("}}")
	var ub strings.Builder
	ub.WriteString(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":[`)
	for i := range 50000 {
		if i > 0 {
			ub.WriteString(",")
		}
		ub.WriteString("[]")
	}
	ub.WriteString("]}}")
	for _, h := range []string{sb.String(), mb.String(), ub.String(), `{"a":{"dtype":"U8","shape":[` + strings.Repeat("0,", 5000) + `0],"data_offsets":[0,0]}}`} {
		b := fileBytes(h, nil)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		_, err := parse(b, "x")
		runtime.ReadMemStats(&m1)
		grew := m1.TotalAlloc - m0.TotalAlloc
		t.Logf("%d bytes: allocated %d (%.1f per byte), %v", len(b), grew, float64(grew)/float64(len(b)), err)
		if grew > allocBound(len(b)) {
			t.Errorf("parsing %d bytes allocated %d, more than %d", len(b), grew, allocBound(len(b)))
		}
	}
}
