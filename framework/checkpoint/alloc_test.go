package checkpoint

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// adversarialHeaders are large headers of the shapes that cost a parser
// the most per input byte, valid and invalid.
func adversarialHeaders() map[string][]byte {
	out := map[string][]byte{}
	many := func(n int, entry func(i int) string) string {
		var sb strings.Builder
		sb.WriteString("{")
		for i := range n {
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString(entry(i))
		}
		sb.WriteString("}")
		return sb.String()
	}
	out["many tiny tensors"] = fileBytes(many(20000, func(i int) string {
		return fmt.Sprintf(`"%d":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`, i)
	}), nil)
	out["many tiny tensors, no spaces to spare"] = fileBytes(many(20000, func(i int) string {
		return fmt.Sprintf(`"%x":{"dtype":"I8","shape":[],"data_offsets":[%d,%d]}`, i, i, i+1)
	}), make([]byte, 20000))
	out["many rank-16 tensors"] = fileBytes(many(5000, func(i int) string {
		return fmt.Sprintf(`"%d":{"dtype":"F4","shape":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"data_offsets":[0,0]}`, i)
	}), nil)
	out["many escaped names"] = fileBytes(many(5000, func(i int) string {
		return fmt.Sprintf(`"\u00e9\ud83d\ude00\n%d":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`, i)
	}), nil)
	out["one long name"] = fileBytes(`{"`+strings.Repeat("n", 1<<20)+`":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil)
	out["one long escaped name"] = fileBytes(`{"`+strings.Repeat(`\u00e9`, 1<<18)+`":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil)
	out["many metadata strings"] = fileBytes(`{"__metadata__":`+many(50000, func(i int) string { return fmt.Sprintf(`"%d":""`, i) })+"}", nil)
	out["ignored nested values"] = fileBytes(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":[`+strings.Repeat("[],", 50000)+`[]]}}`, nil)
	out["many dtype strings"] = fileBytes(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":[`+strings.Repeat(`"F32",`, 50000)+`"F32"]}}`, nil)
	out["a long dtype"] = fileBytes(`{"a":{"dtype":"`+strings.Repeat("F", 1<<20)+`","shape":[0],"data_offsets":[0,0]}}`, nil)
	out["long shape"] = fileBytes(`{"a":{"dtype":"U8","shape":[`+strings.Repeat("0,", 50000)+`0],"data_offsets":[0,0]}}`, nil)
	out["huge number"] = fileBytes(`{"a":{"dtype":"U8","shape":[0,`+strings.Repeat("9", 1<<20)+`],"data_offsets":[0,0]}}`, nil)
	out["huge offset"] = fileBytes(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,1`+strings.Repeat("0", 1<<20)+`]}}`, nil)
	out["huge float"] = fileBytes(`{"a":{"dtype":"U8","shape":[0.`+strings.Repeat("5", 1<<20)+`],"data_offsets":[0,0]}}`, nil)
	out["deep nesting"] = fileBytes(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":`+strings.Repeat("[", 1<<20)+strings.Repeat("]", 1<<20)+`}}`, nil)
	out["duplicate names"] = fileBytes(many(20000, func(i int) string {
		return `"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`
	}), nil)
	return out
}

// TestParseAllocationBelowFileSize checks that parsing an adversarial
// header allocates no more than the file's size.
func TestParseAllocationBelowFileSize(t *testing.T) {
	for name, b := range adversarialHeaders() {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		_, err := parse(b, "x")
		runtime.ReadMemStats(&m1)
		grew := m1.TotalAlloc - m0.TotalAlloc
		msg := "ok"
		if err != nil {
			msg = err.Error()
			if len(msg) > 100 {
				msg = msg[:100] + "..."
			}
		}
		t.Logf("%s: %d bytes, allocated %d (%.3f per byte): %s", name, len(b), grew, float64(grew)/float64(len(b)), msg)
		if grew > uint64(len(b)) {
			t.Errorf("%s: parsing %d bytes allocated %d, more than the file", name, len(b), grew)
		}
	}
}

// TestEscapedNames checks that names and metadata written with JSON escapes
// are decoded as encoding/json decodes them, sorted by their decoded bytes,
// and found by their decoded form.
func TestEscapedNames(t *testing.T) {
	raw := []string{`a\/b`, `\u00e9t\u00e9`, `\ud83d\ude00`, `lone\ud800x`, `lone\udc00`, `tab\there`, `q\"q`, `\\`, `plain`, `pl`, `\u0070lain2`, `<&>`}
	var sb strings.Builder
	sb.WriteString(`{"__metadata__":{"k\u00e9y":"v\nal"}`)
	for i, r := range raw {
		fmt.Fprintf(&sb, `,"%s":{"dtype":"U8","shape":[1],"data_offsets":[%d,%d]}`, r, i, i+1)
	}
	sb.WriteString("}")
	p := writeFile(t, "esc.safetensors", fileBytes(sb.String(), make([]byte, len(raw))))
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	for _, r := range raw {
		var s string
		if err := json.Unmarshal([]byte(`"`+r+`"`), &s); err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
	}
	sort.Strings(want)
	if got := f.Names(); !slices.Equal(got, want) {
		t.Fatalf("names\n got %q\nwant %q", got, want)
	}
	for _, name := range want {
		info, err := f.Info(name)
		if err != nil || info.Name != name || info.End-info.Begin != 1 {
			t.Fatalf("%q: %+v %v", name, info, err)
		}
	}
	if _, err := f.Info("lonex"); err == nil {
		t.Fatal("found a name that is not there")
	}
	if m := f.Metadata(); len(m) != 1 || m["kéy"] != "v\nal" {
		t.Fatalf("metadata %q", m)
	}
}
