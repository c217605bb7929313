// Conversions between this package's types and the generated messages of
// the wire protocol (internal/mixerv1). The "from" side of each conversion
// checks what it reads: the host reads what an untrusted plugin sent.

package mixer

import (
	"errors"
	"fmt"
	"math"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	pb "github.com/mohawk-distill/mohawk/sdk/mixer/internal/mixerv1"
)

// Sizes of the wire.
//
// A fragment never travels as one message: its encoding is cut into chunks
// of ChunkSize bytes (the last one shorter), each its own gRPC message, so
// that a fragment of any size the host accepts (up to
// graph.MaxEncodedSize(graph.DefaultLimits), which a mixer that bakes large
// constants into its graph can approach) streams through messages of
// bounded size. The host checks the size in the header against that bound
// and copies every chunk into one buffer, which it grows as chunks arrive
// (beyond a first 64 MiB) so that a header alone cannot make it claim much.
//
// Both sides set MaxMessageSize as their send and receive limit (gRPC's own
// default, made explicit on both sides, where go-plugin would otherwise
// leave the host's receive limit at 2 GiB). Since chunks are ChunkSize
// bytes, no message comes near it: the largest besides chunks are Info (a
// schema of a few KiB) and Params (tens of bytes per parameter); a bounded
// limit in turn bounds the memory any one message can make the receiver
// claim, whatever the other side sends.
const (
	ChunkSize      = 1 << 20 // 1 MiB of graph encoding per message
	MaxMessageSize = 4 << 20 // the send and receive limit of both sides
)

func infoToProto(info *Info) (*pb.InfoResponse, error) {
	s, err := schemaToProto(info.Schema)
	if err != nil {
		return nil, err
	}
	c := info.Capabilities
	return &pb.InfoResponse{
		Name:       info.Name,
		Version:    info.Version,
		ApiVersion: int64(info.APIVersion),
		Capabilities: &pb.Capabilities{
			MixingMatrix:    c.MixingMatrix,
			Step:            c.Step,
			InitFromTeacher: c.InitFromTeacher,
		},
		Schema: s,
	}, nil
}

func infoFromProto(r *pb.InfoResponse) (*Info, error) {
	if r.ApiVersion < math.MinInt32 || r.ApiVersion > math.MaxInt32 {
		return nil, fmt.Errorf("API version %d is out of range", r.ApiVersion)
	}
	s, err := schemaFromProto(r.Schema)
	if err != nil {
		return nil, err
	}
	c := r.GetCapabilities()
	return &Info{
		Name:       r.Name,
		Version:    r.Version,
		APIVersion: int(r.ApiVersion),
		Capabilities: Capabilities{
			MixingMatrix:    c.GetMixingMatrix(),
			Step:            c.GetStep(),
			InitFromTeacher: c.GetInitFromTeacher(),
		},
		Schema: s,
	}, nil
}

// schemaToProto writes a schema that Validate accepts; defaults are
// converted to their attribute's type first.
func schemaToProto(s Schema) (*pb.Schema, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	out := &pb.Schema{Attributes: make([]*pb.Attribute, len(s.Attributes))}
	for i, a := range s.Attributes {
		t, err := ctyjson.MarshalType(a.Type)
		if err != nil {
			return nil, fmt.Errorf("schema attribute %q: type: %v", a.Name, err)
		}
		pa := &pb.Attribute{Name: a.Name, Type: t, Required: a.Required, Description: a.Description}
		if d, ok := a.defaultValue(); ok {
			if pa.Default, err = ctyjson.Marshal(d, a.Type); err != nil {
				return nil, fmt.Errorf("schema attribute %q: default: %v", a.Name, err)
			}
		}
		out.Attributes[i] = pa
	}
	return out, nil
}

func schemaFromProto(ps *pb.Schema) (Schema, error) {
	var s Schema
	for i, pa := range ps.GetAttributes() {
		t, err := ctyjson.UnmarshalType(pa.Type)
		if err != nil {
			return Schema{}, fmt.Errorf("schema attribute %d (%q): type: %v", i, pa.Name, err)
		}
		a := Attribute{Name: pa.Name, Type: t, Required: pa.Required, Description: pa.Description}
		if len(pa.Default) > 0 {
			if a.Default, err = ctyjson.Unmarshal(pa.Default, t); err != nil {
				return Schema{}, fmt.Errorf("schema attribute %d (%q): default: %v", i, pa.Name, err)
			}
		}
		s.Attributes = append(s.Attributes, a)
	}
	if err := s.Validate(); err != nil {
		return Schema{}, err
	}
	return s, nil
}

// configToJSON writes a configuration as cty JSON of the schema's object
// type, converting it first (so a host may pass any value that converts).
func configToJSON(v cty.Value, s Schema) ([]byte, error) {
	t := s.ObjectType()
	if v == cty.NilVal {
		return nil, errors.New("the layer has no configuration (decode it with DecodeConfig)")
	}
	cv, err := convert.Convert(v, t)
	if err != nil {
		return nil, fmt.Errorf("the layer's configuration does not conform to the mixer's schema: %v", err)
	}
	if !cv.IsWhollyKnown() {
		return nil, errors.New("the layer's configuration holds unknown values")
	}
	return ctyjson.Marshal(cv, t)
}

func configFromJSON(data []byte, s Schema) (cty.Value, error) {
	v, err := ctyjson.Unmarshal(data, s.ObjectType())
	if err != nil {
		return cty.NilVal, fmt.Errorf("the configuration does not conform to the mixer's schema: %v", err)
	}
	return v, nil
}

func dimsToProto(d Dims) *pb.Dims {
	return &pb.Dims{
		Batch:   int64(d.Batch),
		SeqLen:  int64(d.SeqLen),
		DModel:  int64(d.DModel),
		Heads:   int64(d.Heads),
		KvHeads: int64(d.KVHeads),
		Layer:   int64(d.Layer),
		Dtype:   d.DType.String(),
	}
}

func dimsFromProto(pd *pb.Dims) (Dims, error) {
	if pd == nil {
		return Dims{}, errors.New("no dims")
	}
	dt, err := graph.ParseDType(pd.Dtype)
	if err != nil {
		return Dims{}, fmt.Errorf("dims: %v", err)
	}
	var errs []error
	dim := func(name string, v int64) int {
		if v < 0 || v > graph.MaxElements {
			errs = append(errs, fmt.Errorf("dims: %s %d is out of range [0, %d]", name, v, graph.MaxElements))
			return 0
		}
		return int(v)
	}
	d := Dims{
		Batch:   dim("batch", pd.Batch),
		SeqLen:  dim("seq_len", pd.SeqLen),
		DModel:  dim("d_model", pd.DModel),
		Heads:   dim("heads", pd.Heads),
		KVHeads: dim("kv_heads", pd.KvHeads),
		Layer:   dim("layer", pd.Layer),
		DType:   dt,
	}
	return d, errors.Join(errs...)
}

// Check reports dims a fragment cannot be built for: a batch, sequence
// length or model width that is not positive, negative head counts or
// layer index, or a dtype that is not floating point.
func (d Dims) Check() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"batch", d.Batch}, {"seq_len", d.SeqLen}, {"d_model", d.DModel}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("dims: %s is %d, expected a positive size", f.name, f.v))
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"heads", d.Heads}, {"kv_heads", d.KVHeads}, {"layer", d.Layer}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("dims: %s is %d, expected ≥ 0", f.name, f.v))
		}
	}
	if !d.DType.IsFloat() {
		errs = append(errs, fmt.Errorf("dims: dtype %v, expected a floating-point dtype", d.DType))
	}
	return errors.Join(errs...)
}

var initKinds = map[InitKind]pb.InitKind{
	InitNormal:       pb.InitKind_INIT_KIND_NORMAL,
	InitUniform:      pb.InitKind_INIT_KIND_UNIFORM,
	InitConstant:     pb.InitKind_INIT_KIND_CONSTANT,
	InitConvIdentity: pb.InitKind_INIT_KIND_CONV_IDENTITY,
}

func paramsToProto(ps []ParamSpec) ([]*pb.ParamSpec, error) {
	out := make([]*pb.ParamSpec, len(ps))
	for i, p := range ps {
		k, ok := initKinds[p.Init.Kind]
		if !ok {
			return nil, fmt.Errorf("parameter %q: unknown init kind %d", p.Name, p.Init.Kind)
		}
		shape := make([]int64, len(p.Shape))
		for j, d := range p.Shape {
			shape[j] = int64(d)
		}
		out[i] = &pb.ParamSpec{
			Name:           p.Name,
			Shape:          shape,
			Init:           &pb.Init{Kind: k, Std: p.Init.Std, Low: p.Init.Low, High: p.Init.High, Value: p.Init.Value},
			NoDecay:        p.NoDecay,
			InMixingMatrix: p.InMixingMatrix,
		}
	}
	return out, nil
}

// paramsFromProto reads and checks parameter specs: each one realisable
// (ParamSpec.Check), of rank at most graph.MaxRank and at most
// graph.MaxElements elements, and declared once.
func paramsFromProto(pps []*pb.ParamSpec) ([]ParamSpec, error) {
	out := make([]ParamSpec, 0, len(pps))
	seen := make(map[string]bool, len(pps))
	for i, pp := range pps {
		if len(pp.Shape) > graph.MaxRank {
			return nil, fmt.Errorf("parameter %d (%q) has rank %d, above the maximum %d", i, pp.Name, len(pp.Shape), graph.MaxRank)
		}
		shape := make([]int, len(pp.Shape))
		size := int64(1)
		for j, d := range pp.Shape {
			if d <= 0 || d > graph.MaxElements {
				return nil, fmt.Errorf("parameter %d (%q) has shape %v, expected dimensions in [1, %d]", i, pp.Name, pp.Shape, graph.MaxElements)
			}
			if size *= d; size > graph.MaxElements {
				return nil, fmt.Errorf("parameter %d (%q) of shape %v has more than %d elements", i, pp.Name, pp.Shape, graph.MaxElements)
			}
			shape[j] = int(d)
		}
		var kind InitKind
		for k, pk := range initKinds {
			if pk == pp.GetInit().GetKind() {
				kind = k
			}
		}
		pi := pp.GetInit()
		p := ParamSpec{
			Name:           pp.Name,
			Shape:          shape,
			Init:           Init{Kind: kind, Std: pi.GetStd(), Low: pi.GetLow(), High: pi.GetHigh(), Value: pi.GetValue()},
			NoDecay:        pp.NoDecay,
			InMixingMatrix: pp.InMixingMatrix,
		}
		if err := p.Check(); err != nil {
			return nil, err
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("parameter %q is declared twice", p.Name)
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	return out, nil
}
