package graph

import (
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/mohawk-distill/mohawk/sdk/graph/internal/graphpb"
)

// FormatVersion is the version of the binary graph format (the protocol
// buffer message mohawk.graph.v1.Graph) that MarshalBinary writes and Decode
// reads. Decode rejects any other version.
const FormatVersion = 1

// ErrMalformed wraps every Decode failure caused by bytes that are not a
// well-formed encoding of the format (truncated, corrupt, unknown fields, an
// unsupported version); the failures of a well-formed encoding of a bad graph
// wrap ErrInvalid instead.
var ErrMalformed = errors.New("malformed graph encoding")

// Size budget of an encoding, from which MaxEncodedSize derives the bound.
const (
	// encodedBytesPerNode is an allowance per node, far above what real nodes
	// need on average (an op and dtype name, a few inputs, a shape of at most
	// MaxRank dimensions, a binding name, attributes), so that no real graph
	// within its limits comes near the bound.
	encodedBytesPerNode = 1024
	// encodedBytesPerValue is the size of one packed double.
	encodedBytesPerValue = 8
	// encodedBytesSlack covers the header and rounding.
	encodedBytesSlack = 4096
	// maxMeanInputs bounds the inputs of all nodes together, as a mean per
	// node of lim.MaxNodes: one byte on the wire, an input costs 4 bytes
	// unmarshalled, 4 in the Graph and 32 while Validate checks its node.
	// Real graphs average under 3 (only concat has more than 3).
	maxMeanInputs = 8
)

// MaxEncodedSize is the largest encoding that Decode accepts under lim: a
// generous allowance per node plus eight bytes per constant value. A reader
// of an untrusted stream can use it to bound how much it reads.
func MaxEncodedSize(lim Limits) int {
	n := satMul(max(lim.MaxNodes, 0), encodedBytesPerNode)
	n = satAdd(n, satMul(max(lim.MaxConstValues, 0), encodedBytesPerValue))
	return satAdd(n, encodedBytesSlack)
}

func satMul(a, b int) int {
	if a != 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}

func satAdd(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

// MarshalBinary encodes g in the binary graph format (FormatVersion). Ops and
// dtypes are written by name, so the encoding survives a renumbering of Op or
// DType. It does not validate g, but refuses what the format cannot hold: an
// unknown op or dtype, a name that is not UTF-8. Every node keeps all of its
// attributes, so Decode returns exactly the graph that was encoded.
func (g *Graph) MarshalBinary() ([]byte, error) {
	if g == nil {
		return nil, errors.New("graph: cannot encode a nil graph")
	}
	pg := &graphpb.Graph{FormatVersion: FormatVersion}
	if len(g.Nodes) > 0 {
		pg.Nodes = make([]*graphpb.Node, len(g.Nodes))
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if !n.Op.Valid() {
			return nil, fmt.Errorf("graph: cannot encode node %d: unknown op %v", i, n.Op)
		}
		if !n.Type.DType.Valid() {
			return nil, fmt.Errorf("graph: cannot encode node %d (%s): unknown dtype %v", i, n.Op, n.Type.DType)
		}
		if !utf8.ValidString(n.Name) {
			return nil, fmt.Errorf("graph: cannot encode node %d (%s): name %q is not valid UTF-8", i, n.Op, n.Name)
		}
		a := &n.Attrs
		pn := &graphpb.Node{
			Op:        n.Op.String(),
			Name:      n.Name,
			Dtype:     n.Type.DType.String(),
			Shape:     int64s(n.Type.Shape),
			Axis:      int64(a.Axis),
			Axes:      int64s(a.Axes),
			Perm:      int64s(a.Perm),
			Begin:     int64s(a.Begin),
			End:       int64s(a.End),
			Lo:        int64s(a.Lo),
			Hi:        int64s(a.Hi),
			TransA:    a.TransA,
			TransB:    a.TransB,
			Exclusive: a.Exclusive,
			Reverse:   a.Reverse,
			Eps:       a.Eps,
			Values:    a.Values, // only read by Marshal
		}
		if len(n.Inputs) > 0 {
			pn.Inputs = make([]int32, len(n.Inputs))
			for j, v := range n.Inputs {
				pn.Inputs[j] = int32(v)
			}
		}
		pg.Nodes[i] = pn
	}
	for i, o := range g.Outputs {
		if !utf8.ValidString(o.Name) {
			return nil, fmt.Errorf("graph: cannot encode output %d: name %q is not valid UTF-8", i, o.Name)
		}
		pg.Outputs = append(pg.Outputs, &graphpb.Output{Name: o.Name, Value: int32(o.Value)})
	}
	for _, u := range g.Updates {
		pg.Updates = append(pg.Updates, &graphpb.Update{Target: int32(u.Target), Value: int32(u.Value)})
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(pg)
	if err != nil {
		return nil, fmt.Errorf("graph: encode: %w", err)
	}
	return data, nil
}

func int64s[S ~[]int](s S) []int64 {
	if len(s) == 0 {
		return nil
	}
	out := make([]int64, len(s))
	for i, v := range s {
		out[i] = int64(v)
	}
	return out
}

// Decode parses an encoding written by MarshalBinary and validates the graph
// under lim (Graph.Validate), so that what it returns is safe to hand to a
// backend. It never panics, whatever data holds. Errors wrap ErrMalformed
// when data is not a well-formed encoding and ErrInvalid when it encodes a
// graph that is not valid or exceeds lim. Slices that would be empty are nil
// in the result.
//
// Beyond what Validate checks, Decode refuses what no real graph needs and
// what would let a small input claim much memory or overflow shape
// arithmetic: an encoding longer than MaxEncodedSize(lim), more outputs or
// more updates than lim.MaxNodes, more than MaxRank entries in a shape or a
// shape-like attribute (axes, perm, begin, end, lo, hi) of any node, more
// values in all nodes together than lim.MaxConstValues, more inputs in all
// nodes together than 8·lim.MaxNodes, a dimension above MaxElements, and
// fields that the format does not define.
func Decode(data []byte, lim Limits) (*Graph, error) {
	// Unmarshalling materialises the whole message before Validate can apply
	// lim, so the input is first bounded by the most that a graph within lim
	// may need (MaxEncodedSize), and then scanned without allocating to count
	// what it would unmarshal into: an empty node is two bytes on the wire but
	// hundreds in memory, and a one-byte varint becomes eight, so bytes alone
	// do not bound memory. Both checks are linear in len(data).
	if bound := MaxEncodedSize(lim); len(data) > bound {
		return nil, fmt.Errorf("%w: encoding of %d bytes exceeds %d bytes, the most a graph within the limits (%d nodes, %d constant values) may take",
			ErrInvalid, len(data), bound, lim.MaxNodes, lim.MaxConstValues)
	}
	if err := scanEncoding(data, lim); err != nil {
		return nil, err
	}
	var pg graphpb.Graph
	if err := proto.Unmarshal(data, &pg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkUnknown(&pg); err != nil {
		return nil, err
	}
	g, err := fromProto(&pg)
	if err != nil {
		return nil, err
	}
	if err := g.Validate(lim); err != nil {
		return nil, err
	}
	return g, nil
}

// The messages of graph.proto and the fields that scanEncoding counts.
var (
	graphDesc  = graphpb.File_graph_proto.Messages().ByName("Graph")
	nodeDesc   = graphpb.File_graph_proto.Messages().ByName("Node")
	outputDesc = graphpb.File_graph_proto.Messages().ByName("Output")
	updateDesc = graphpb.File_graph_proto.Messages().ByName("Update")

	fieldVersion = graphDesc.Fields().ByName("format_version").Number()
	fieldNodes   = graphDesc.Fields().ByName("nodes").Number()
	fieldOutputs = graphDesc.Fields().ByName("outputs").Number()
	fieldUpdates = graphDesc.Fields().ByName("updates").Number()
	fieldInputs  = nodeDesc.Fields().ByName("inputs").Number()
	fieldValues  = nodeDesc.Fields().ByName("values").Number()

	// rankFields are the node fields that hold at most one entry per
	// dimension of a tensor, hence at most MaxRank entries in a valid graph.
	rankFields    = [...]protoreflect.Name{"shape", "axes", "perm", "begin", "end", "lo", "hi"}
	rankFieldNums = func() (nums [len(rankFields)]protowire.Number) {
		for k, name := range rankFields {
			nums[k] = nodeDesc.Fields().ByName(name).Number()
		}
		return nums
	}()
)

// scanEncoding checks data without unmarshalling it: that it is well-formed,
// of FormatVersion, without fields the format does not define, and that the
// counts of what it holds are within lim: nodes, outputs and updates at most
// lim.MaxNodes each, values of all nodes together at most lim.MaxConstValues,
// inputs of all nodes together at most maxMeanInputs·lim.MaxNodes, and at
// most MaxRank entries in each shape-like field of a node.
func scanEncoding(data []byte, lim Limits) error {
	// First the top level alone, for the version and the counts.
	var version uint64
	var nodes, outputs, updates int
	err := scanFields(data, "", func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == fieldVersion && typ == protowire.VarintType:
			version, _ = protowire.ConsumeVarint(v) // well-formed: scanFields parsed it
		case num == fieldNodes && typ == protowire.BytesType:
			nodes++
		case num == fieldOutputs && typ == protowire.BytesType:
			outputs++
		case num == fieldUpdates && typ == protowire.BytesType:
			updates++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if version != FormatVersion {
		return fmt.Errorf("%w: format version %d, expected %d", ErrMalformed, version, FormatVersion)
	}
	if nodes > lim.MaxNodes {
		return fmt.Errorf("%w: %d nodes exceed the limit %d", ErrInvalid, nodes, lim.MaxNodes)
	}
	if outputs > lim.MaxNodes {
		return fmt.Errorf("%w: %d outputs exceed the node limit %d", ErrInvalid, outputs, lim.MaxNodes)
	}
	if updates > lim.MaxNodes {
		return fmt.Errorf("%w: %d updates exceed the node limit %d", ErrInvalid, updates, lim.MaxNodes)
	}

	// Then every message, field by field.
	values, inputs, maxInputs := 0, 0, satMul(max(lim.MaxNodes, 0), maxMeanInputs)
	nodes, outputs, updates = 0, 0, 0
	return scanMessage(data, "", graphDesc, func(num protowire.Number, _ protowire.Type, v []byte) error {
		v, _ = protowire.ConsumeBytes(v) // scanMessage checked the wire type of each message field
		switch num {
		case fieldNodes:
			where := fmt.Sprintf("node %d: ", nodes)
			nodes++
			var rank [len(rankFields)]int
			return scanMessage(v, where, nodeDesc, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num == fieldValues {
					if typ == protowire.BytesType {
						v, _ = protowire.ConsumeBytes(v)
						values += len(v) / 8
					} else {
						values++
					}
					if values > lim.MaxConstValues {
						return fmt.Errorf("%w: %sconstants hold more than %d values", ErrInvalid, where, lim.MaxConstValues)
					}
					return nil
				}
				count := func() int { n, _ := varints(typ, v, func(uint64) error { return nil }); return n }
				if num == fieldInputs {
					if inputs += count(); inputs > maxInputs {
						return fmt.Errorf("%w: %sthe nodes have more than %d inputs in all (%d per node of the limit %d)",
							ErrInvalid, where, maxInputs, maxMeanInputs, lim.MaxNodes)
					}
				}
				for k := range rankFieldNums {
					if num == rankFieldNums[k] {
						if rank[k] += count(); rank[k] > MaxRank {
							return fmt.Errorf("%w: %s%s has more than %d entries (the maximum rank)", ErrInvalid, where, rankFields[k], MaxRank)
						}
					}
				}
				return nil
			})
		case fieldOutputs:
			outputs++
			return scanMessage(v, fmt.Sprintf("output %d: ", outputs-1), outputDesc, nil)
		case fieldUpdates:
			updates++
			return scanMessage(v, fmt.Sprintf("update %d: ", updates-1), updateDesc, nil)
		}
		return nil
	})
}

// scanMessage is scanFields for a message of type md: it also refuses a field
// that md does not define or that has a wire type its kind does not allow,
// which the parser would otherwise keep as an unknown field. f may be nil.
func scanMessage(data []byte, where string, md protoreflect.MessageDescriptor, f func(protowire.Number, protowire.Type, []byte) error) error {
	return scanFields(data, where, func(num protowire.Number, typ protowire.Type, v []byte) error {
		fd := md.Fields().ByNumber(num)
		if fd == nil || !wireTypeFits(fd, typ) {
			return fmt.Errorf("%w: %sunknown field %d (wire type %d)", ErrMalformed, where, num, typ)
		}
		if fd.IsList() && typ == protowire.BytesType && fd.Kind() != protoreflect.MessageKind {
			if err := checkPacked(fd.Kind(), v); err != nil {
				return fmt.Errorf("%w: %s%s: %v", ErrMalformed, where, fd.Name(), err)
			}
		}
		if fd.Kind() == protoreflect.Int32Kind {
			// The parser would keep the low 32 bits of a larger varint.
			if _, err := varints(typ, v, func(x uint64) error {
				if int64(x) != int64(int32(x)) {
					return fmt.Errorf("%w: %s%s holds %d, which is not an int32", ErrInvalid, where, fd.Name(), int64(x))
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if f == nil {
			return nil
		}
		return f(num, typ, v)
	})
}

// wireTypeFits reports whether the parser reads a field of fd's kind encoded
// with wire type typ: its own wire type, or for a repeated scalar also packed.
func wireTypeFits(fd protoreflect.FieldDescriptor, typ protowire.Type) bool {
	var want protowire.Type
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.StringKind, protoreflect.BytesKind:
		return typ == protowire.BytesType
	case protoreflect.DoubleKind, protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		want = protowire.Fixed64Type
	case protoreflect.FloatKind, protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		want = protowire.Fixed32Type
	case protoreflect.GroupKind:
		return typ == protowire.StartGroupType
	default: // bool, enum and the varint integers
		want = protowire.VarintType
	}
	return typ == want || (fd.IsList() && typ == protowire.BytesType)
}

// checkPacked reports a packed field of scalars of kind k whose value v (as
// scanFields passes it) does not hold a whole number of them.
func checkPacked(k protoreflect.Kind, v []byte) error {
	v, _ = protowire.ConsumeBytes(v)
	size := 0
	switch k {
	case protoreflect.DoubleKind, protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		size = 8
	case protoreflect.FloatKind, protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		size = 4
	}
	if size > 0 {
		if len(v)%size != 0 {
			return fmt.Errorf("%d bytes of packed %d-byte values", len(v), size)
		}
		return nil
	}
	for len(v) > 0 {
		_, m := protowire.ConsumeVarint(v)
		if m < 0 {
			return fmt.Errorf("packed integers: %s", wireError(m))
		}
		v = v[m:]
	}
	return nil
}

// varints calls f on each integer of one occurrence v (a value as scanFields
// passes it, checked by checkPacked when packed) of a varint field, and
// returns their number.
func varints(typ protowire.Type, v []byte, f func(uint64) error) (int, error) {
	if typ != protowire.BytesType {
		x, _ := protowire.ConsumeVarint(v)
		return 1, f(x)
	}
	v, _ = protowire.ConsumeBytes(v)
	n := 0
	for len(v) > 0 {
		x, m := protowire.ConsumeVarint(v)
		if err := f(x); err != nil {
			return n, err
		}
		v = v[m:]
		n++
	}
	return n, nil
}

// scanFields calls f with the number, wire type and encoded value (tag
// excluded) of each field of the message data, or reports where data is not
// well-formed; where prefixes the report.
func scanFields(data []byte, where string, f func(protowire.Number, protowire.Type, []byte) error) error {
	for off := 0; off < len(data); {
		num, typ, n := protowire.ConsumeTag(data[off:])
		if n < 0 {
			return fmt.Errorf("%w: %sbyte %d: %s", ErrMalformed, where, off, wireError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, data[off+n:])
		if m < 0 {
			return fmt.Errorf("%w: %sbyte %d: field %d: %s", ErrMalformed, where, off, num, wireError(m))
		}
		if err := f(num, typ, data[off+n:off+n+m]); err != nil {
			return err
		}
		off += n + m
	}
	return nil
}

// wireError describes the negative result n of a protowire function.
func wireError(n int) string {
	err := protowire.ParseError(n)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "truncated"
	}
	return err.Error()
}

// checkUnknown rejects unknown fields (scanEncoding has, so this guards the
// scan against a parser that keeps more as unknown than it expects): dropping
// them silently could change the meaning of the graph.
func checkUnknown(pg *graphpb.Graph) error {
	msgs := []proto.Message{pg}
	for _, n := range pg.Nodes {
		msgs = append(msgs, n)
	}
	for _, o := range pg.Outputs {
		msgs = append(msgs, o)
	}
	for _, u := range pg.Updates {
		msgs = append(msgs, u)
	}
	for _, m := range msgs {
		if len(m.ProtoReflect().GetUnknown()) > 0 {
			return fmt.Errorf("%w: unknown fields in %v", ErrMalformed, m.ProtoReflect().Descriptor().Name())
		}
	}
	return nil
}

// fromProto converts the message to a Graph, checking every integer against
// the range of what it becomes; the rest is left to Validate.
func fromProto(pg *graphpb.Graph) (*Graph, error) {
	g := &Graph{}
	if len(pg.Nodes) > 0 {
		g.Nodes = make([]Node, len(pg.Nodes))
	}
	for i, pn := range pg.Nodes {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%w: node %d: %s", ErrInvalid, i, fmt.Sprintf(format, args...))
		}
		// No op or dtype name is long; a long one stays out of the error.
		if len(pn.Op) > maxNameLen {
			return nil, fail("unknown op %q... (%d bytes)", pn.Op[:maxNameLen], len(pn.Op))
		}
		if len(pn.Dtype) > maxNameLen {
			return nil, fail("unknown dtype %q... (%d bytes)", pn.Dtype[:maxNameLen], len(pn.Dtype))
		}
		op, err := ParseOp(pn.Op)
		if err != nil {
			return nil, fail("%v", err)
		}
		dt, err := ParseDType(pn.Dtype)
		if err != nil {
			return nil, fail("%v", err)
		}
		n := &g.Nodes[i]
		n.Op, n.Name, n.Type.DType = op, pn.Name, dt
		if len(pn.Inputs) > 0 {
			n.Inputs = make([]Value, len(pn.Inputs))
			for j, v := range pn.Inputs {
				n.Inputs[j] = Value(v)
			}
		}
		for j, d := range pn.Shape {
			// A dimension above MaxElements fits no tensor but an empty one,
			// and would overflow the shape arithmetic of later nodes.
			if d < 0 || d > MaxElements {
				return nil, fail("dimension %d of shape %v is %d, expected 0..%d", j, pn.Shape, d, int64(MaxElements))
			}
		}
		if n.Type.Shape, err = toInts[Shape](pn.Shape); err != nil {
			return nil, fail("shape: %v", err)
		}
		a := &n.Attrs
		if a.Axis, err = toInt(pn.Axis); err != nil {
			return nil, fail("axis: %v", err)
		}
		for _, f := range []struct {
			name string
			dst  *[]int
			src  []int64
		}{
			{"axes", &a.Axes, pn.Axes}, {"perm", &a.Perm, pn.Perm},
			{"begin", &a.Begin, pn.Begin}, {"end", &a.End, pn.End},
			{"lo", &a.Lo, pn.Lo}, {"hi", &a.Hi, pn.Hi},
		} {
			if *f.dst, err = toInts[[]int](f.src); err != nil {
				return nil, fail("%s: %v", f.name, err)
			}
		}
		a.TransA, a.TransB, a.Exclusive, a.Reverse = pn.TransA, pn.TransB, pn.Exclusive, pn.Reverse
		a.Eps = pn.Eps
		if len(pn.Values) > 0 {
			a.Values = pn.Values // pg is not shared
		}
	}
	for _, o := range pg.Outputs {
		g.Outputs = append(g.Outputs, Output{Name: o.Name, Value: Value(o.Value)})
	}
	for _, u := range pg.Updates {
		g.Updates = append(g.Updates, Update{Target: Value(u.Target), Value: Value(u.Value)})
	}
	return g, nil
}

// maxNameLen bounds the op and dtype names quoted in an error.
const maxNameLen = 32

func toInt(v int64) (int, error) {
	if int64(int(v)) != v {
		return 0, fmt.Errorf("%d does not fit in an int", v)
	}
	return int(v), nil
}

func toInts[S ~[]int](vs []int64) (S, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	out := make(S, len(vs))
	for i, v := range vs {
		var err error
		if out[i], err = toInt(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}
