// Package mixer is the contract between mohawk's engine and a sequence
// mixer: the Mixer interface a mixer implements (in process, or in a plugin
// process), and the types it speaks in. A mixer is a graph builder. Asked
// at set-up, it returns graph fragments — its forward pass, its
// materialised mixing matrix, its one-token recurrent step, its
// initialisation from a teacher's attention — and never touches data.
//
// A fragment is a graph.Graph over named placeholders: its OpInput nodes
// are the values the engine binds (see the Input* names), its OpParam nodes
// are the mixer's own parameters by relative name ("in_proj.weight"), which
// the engine prefixes with the layer's path, and its outputs are named (see
// the Output* names). graph.Builder.Inline splices a fragment into a model;
// CheckFragment states what each kind of fragment may read and must write.
//
// As a plugin, a mixer's main calls Serve; the host launches it with
// ClientConfig and dispenses a Client, a Mixer whose calls cross the process
// boundary and whose fragments are decoded and checked as untrusted input.
// The host decodes a pipeline's mixer block with DecodeConfig against the
// mixer's Schema and sends the finished value as the Layer's Config.
package mixer

import (
	"context"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/zclconf/go-cty/cty"
)

// APIVersion is the version of this contract.
const APIVersion = 1

// Placeholder and output names of fragments.
const (
	// InputU is the normalised residual stream entering the mixer, [B,T,C].
	InputU = "u"
	// InputPosition is the i32 scalar position of the token a Step fragment
	// processes.
	InputPosition = "position"
	// StatePrefix starts the names of a Step fragment's recurrent state: each
	// state is an input (its value before the token) and an output of the
	// same name (after it). States start at zero.
	StatePrefix = "state/"
	// TeacherPrefix starts the inputs of an InitFromTeacher fragment: the
	// teacher layer's attention parameters by role (TeacherPrefix +
	// "q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight",
	// and the biases where the teacher has them), in PyTorch layout
	// [out, in].
	TeacherPrefix = "teacher/"

	// OutputY is the mixer's output, [B,T,C] (Forward) or [B,1,C] (Step).
	OutputY = "y"
	// OutputMatrix is the materialised mixing matrix [B,H,T,T].
	OutputMatrix = "matrix"
	// OutputValues is what the mixing matrix mixes, [B,H,T,P]: a
	// MixingMatrix fragment outputs it beside the matrix.
	OutputValues = "values"
	// OutputMixed is matrix·values, [B,H,T,P]: a Forward fragment of a mixer
	// with a matrix form outputs it beside y, so the two forms can be
	// checked against each other.
	OutputMixed = "mixed"
)

// Capabilities are the optional fragments a mixer provides.
type Capabilities struct {
	MixingMatrix    bool // MixingMatrix: stage 1 of MOHAWK can fit it
	Step            bool // Step: recurrent generation
	InitFromTeacher bool // InitFromTeacher: initialise from attention weights
}

// Info describes a mixer.
type Info struct {
	Name         string
	Version      string
	APIVersion   int
	Capabilities Capabilities
	// Schema is the configuration a pipeline's mixer block may hold. The
	// host decodes the user's HCL against it (with source positions in its
	// diagnostics) and sends finished values.
	Schema Schema
}

// Schema is a flat set of configuration attributes.
type Schema struct {
	Attributes []Attribute
}

// Attribute is one configuration attribute.
type Attribute struct {
	Name        string
	Type        cty.Type
	Required    bool
	Default     cty.Value // cty.NilVal for none; must be of Type
	Description string
}

// Dims are the sizes of the layer a fragment is built for.
type Dims struct {
	Batch, SeqLen, DModel int
	// Heads is the teacher's number of attention heads and KVHeads its
	// key/value heads (grouped-query attention when smaller).
	Heads, KVHeads int
	// Layer is the index of the layer in the model, for mixers whose
	// behaviour depends on depth (hybrids).
	Layer int
	DType graph.DType
}

// Layer is one configured mixer layer: a configuration (an object of the
// schema's attributes, defaults filled in) for dims.
type Layer struct {
	Config cty.Value
	Dims   Dims
}

// InitKind is how a parameter starts.
type InitKind uint8

const (
	InitNormal       InitKind = iota + 1 // Normal(0, Std)
	InitUniform                          // Uniform(Low, High)
	InitConstant                         // every element Value
	InitConvIdentity                     // depthwise conv taps [C,K]: the last tap 1, the others 0
)

// Init describes a parameter's initial value; the host draws it from the
// run's seed, so initialisation is deterministic for a seed.
type Init struct {
	Kind           InitKind
	Std, Low, High float64
	Value          float64
}

// ParamSpec declares one parameter of a layer.
type ParamSpec struct {
	Name    string // relative: "in_proj.weight"
	Shape   []int
	Init    Init
	NoDecay bool // no weight decay (norms, biases, skips, gates)
	// InMixingMatrix marks the parameters the mixing matrix depends on:
	// what stage 1 of MOHAWK trains.
	InMixingMatrix bool
}

// Mixer builds the graphs of a sequence mixer.
type Mixer interface {
	Info(ctx context.Context) (*Info, error)
	// Params validates the layer's configuration against its dims (an error
	// names the attribute and the constraint) and declares its parameters.
	Params(ctx context.Context, l Layer) ([]ParamSpec, error)
	// Forward is the fragment u → y over the whole sequence.
	Forward(ctx context.Context, l Layer) (*graph.Graph, error)
	// MixingMatrix is the fragment u → (matrix, values), where the
	// capability is declared; Forward then also outputs mixed =
	// matrix·values.
	MixingMatrix(ctx context.Context, l Layer) (*graph.Graph, error)
	// Step is the fragment (u, position, states) → (y, states) for one
	// token, where the capability is declared (Dims.SeqLen is then the
	// longest sequence the state must hold).
	Step(ctx context.Context, l Layer) (*graph.Graph, error)
	// InitFromTeacher is the fragment teacher params → some of the layer's
	// params (outputs named as the params), where the capability is
	// declared.
	InitFromTeacher(ctx context.Context, l Layer) (*graph.Graph, error)
}
