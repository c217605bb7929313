package graph

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph/internal/graphpb"
)

// fuzzDecodeLimits are small, so that the fuzzer reaches the limits.
var fuzzDecodeLimits = Limits{MaxNodes: 128, MaxConstValues: 64}

// FuzzDecode checks that Decode never panics, that what it accepts is valid,
// and that what it accepts survives a round trip unchanged.
func FuzzDecode(f *testing.F) {
	for _, tg := range encGraphs {
		g := encBuild(f, tg)
		data := encMarshal(f, g)
		if _, err := Decode(data, fuzzDecodeLimits); err != nil {
			f.Fatalf("seed %s does not decode under the fuzzing limits: %v", tg.name, err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(encEdit(f, g, func(pg *graphpb.Graph) { pg.FormatVersion++ }))
		f.Add(encEdit(f, g, func(pg *graphpb.Graph) { // a node moved to the end
			pg.Nodes = append(pg.Nodes[1:], pg.Nodes[0])
		}))
		f.Add(encEdit(f, g, func(pg *graphpb.Graph) { // every op a binary one
			for _, n := range pg.Nodes {
				if len(n.Inputs) == 2 {
					n.Op = "pow"
				}
			}
		}))
		f.Add(encEdit(f, g, func(pg *graphpb.Graph) { // every dtype i32
			for _, n := range pg.Nodes {
				n.Dtype = "i32"
			}
		}))
		f.Add(encEdit(f, g, func(pg *graphpb.Graph) { // dimensions grown
			for _, n := range pg.Nodes {
				for j := range n.Shape {
					n.Shape[j] *= 1 << 16
				}
			}
		}))
	}
	f.Add([]byte{})
	f.Add([]byte{0x08, FormatVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Decode(data, fuzzDecodeLimits)
		if err != nil {
			if g != nil {
				t.Fatalf("a graph returned with the error %v", err)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error wraps neither ErrInvalid nor ErrMalformed: %v", err)
			}
			return
		}
		if err := g.Validate(fuzzDecodeLimits); err != nil {
			t.Fatalf("decoded graph does not validate: %v", err)
		}
		enc, err := g.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded graph does not encode: %v", err)
		}
		g2, err := Decode(enc, fuzzDecodeLimits)
		if err != nil {
			t.Fatalf("re-encoded graph does not decode: %v", err)
		}
		if d := encDiff(g, g2); d != "" {
			t.Fatalf("round trip changed the graph: %s", d)
		}
		if enc2, err := g2.MarshalBinary(); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable (%v)", err)
		}
	})
}
