// Package mamba2 is mohawk's Mamba-2 (SSD) mixer, written only on the
// public sdk. It has two variants:
//
//   - "discrete" (Phi-Mamba, Llamba; MOHAWK's student): in_proj (no bias) →
//     [x (H·P) | B (G·N) | C (G·N) | z (H·P) | a (H)]; a depthwise causal
//     conv (with bias, identity activation) over x, B, C; log α = −softplus(a);
//     y = SSD(x, log α, B, C) + D·x; out_proj(y ⊙ silu(z + z_bias)).
//   - "continuous" (vanilla Mamba-2): in_proj → [z | x | B | C | dt]; the
//     conv followed by SiLU; Δ = softplus(dt + dt_bias), A = −exp(A_log),
//     log α = Δ·A, input Δ·x; y = SSD + D·x; out_proj(RMSNorm(y ⊙ silu(z))·w)
//     with the norm taken per group of B/C (Mamba-2's norm_before_gate=False).
//
// Shapes: B batch, T time, C = d_model, H heads, P head dim, N state size,
// G groups of B/C (n_qk_heads). Every fragment builds from the same pieces,
// so the chunked Forward, the materialised MixingMatrix and the recurrent
// Step compute the same function.
package mamba2

import (
	"context"
	"math"

	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/mohawk-distill/mohawk/sdk/nn"
)

// Version is the mixer's version.
const Version = "0.1.0"

// Mixer implements mixer.Mixer for both variants.
type Mixer struct{}

var _ mixer.Mixer = Mixer{}

// Info names the mixer and declares every capability.
func (Mixer) Info(ctx context.Context) (*mixer.Info, error) {
	return &mixer.Info{
		Name: "mamba2", Version: Version, APIVersion: mixer.APIVersion,
		Capabilities: mixer.Capabilities{MixingMatrix: true, Step: true, InitFromTeacher: true},
		Schema:       Schema,
	}, nil
}

// projStd is the standard deviation of in_proj and out_proj at
// initialisation: 0.02, Phi-Mamba's (Hugging Face's initializer_range) and
// framework/models' choice, for both variants.
const projStd = 0.02

// Params validates the configuration and declares the layer's parameters.
//
// Discrete ("mohawk" init): in_proj and out_proj Normal(0, 0.02), conv taps
// the identity (last tap 1), conv bias 0, z_bias 0, D 1.
//
// Continuous: in_proj and out_proj Normal(0, 0.02); conv taps and bias
// Uniform(±1/√K) (PyTorch's Conv1d default for a depthwise conv); D 1;
// norm.weight 1; dt_bias Uniform over [softplus⁻¹(dt_min),
// softplus⁻¹(dt_max)], so softplus(dt_bias) spans exactly [dt_min, dt_max]
// and, because softplus⁻¹(Δ) = log(expm1(Δ)) ≈ log Δ for Δ ≪ 1, is close to
// Mamba-2's log-uniform Δ (exactly log-uniform only as Δ → 0); A_log
// Uniform over [log a_init_min, log a_init_max], i.e. A log-uniform rather
// than Mamba-2's uniform A (the Init kinds cannot draw the log of a uniform).
//
// InMixingMatrix marks what the mixing matrix depends on, what stage 1
// trains: in_proj.weight (note that its x and z rows, which the matrix does
// not use, are in the same tensor; they get zero gradient from a matrix
// loss), conv1d.weight, conv1d.bias, D, and for the continuous variant
// dt_bias and A_log.
func (Mixer) Params(ctx context.Context, l mixer.Layer) ([]mixer.ParamSpec, error) {
	c, err := configure(l)
	if err != nil {
		return nil, err
	}
	normal := mixer.Init{Kind: mixer.InitNormal, Std: projStd}
	constant := func(v float64) mixer.Init { return mixer.Init{Kind: mixer.InitConstant, Value: v} }
	conv, convBias := mixer.Init{Kind: mixer.InitConvIdentity}, constant(0)
	if !c.discrete() {
		bound := 1 / math.Sqrt(float64(c.k))
		conv = mixer.Init{Kind: mixer.InitUniform, Low: -bound, High: bound}
		convBias = conv
	}
	specs := []mixer.ParamSpec{
		{Name: "in_proj.weight", Shape: []int{c.projRows(), c.d}, Init: normal, InMixingMatrix: true},
		{Name: "conv1d.weight", Shape: []int{c.convChannels(), c.k}, Init: conv, InMixingMatrix: true},
		{Name: "conv1d.bias", Shape: []int{c.convChannels()}, Init: convBias, NoDecay: true, InMixingMatrix: true},
	}
	if c.discrete() {
		specs = append(specs,
			mixer.ParamSpec{Name: "z_bias", Shape: []int{c.inner}, Init: constant(0), NoDecay: true})
	} else {
		specs = append(specs,
			mixer.ParamSpec{Name: "dt_bias", Shape: []int{c.h}, NoDecay: true, InMixingMatrix: true,
				Init: mixer.Init{Kind: mixer.InitUniform, Low: softplusInv(c.dtMin), High: softplusInv(c.dtMax)}},
			mixer.ParamSpec{Name: "A_log", Shape: []int{c.h}, NoDecay: true, InMixingMatrix: true,
				Init: mixer.Init{Kind: mixer.InitUniform, Low: math.Log(c.aMin), High: math.Log(c.aMax)}},
			mixer.ParamSpec{Name: "norm.weight", Shape: []int{c.inner}, Init: constant(1), NoDecay: true})
	}
	specs = append(specs,
		mixer.ParamSpec{Name: "D", Shape: []int{c.h}, Init: constant(1), NoDecay: true, InMixingMatrix: true},
		mixer.ParamSpec{Name: "out_proj.weight", Shape: []int{c.d, c.inner}, Init: normal})
	return specs, nil
}

// softplusInv is the inverse of softplus, log(expm1(y)), for y > 0.
func softplusInv(y float64) float64 { return y + math.Log(-math.Expm1(-y)) }

func fragment(l mixer.Layer, build func(b *graph.Builder, c config)) (*graph.Graph, error) {
	c, err := configure(l)
	if err != nil {
		return nil, err
	}
	b := graph.NewBuilder()
	build(b, c)
	return b.Build()
}

// Forward is u → y with the chunked SSD, and mixed: the SSD output before
// the gate, [B,H,T,P], equal to matrix·values of MixingMatrix.
func (Mixer) Forward(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(b *graph.Builder, c config) {
		d := l.Dims
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		s := c.sequence(b, u)
		y := nn.SSDChunked(b, s.x, s.logA, s.bm, s.cm, s.d, c.chunk)
		b.Output(mixer.OutputMixed, y)
		b.Output(mixer.OutputY, c.output(b, y, s.z))
	})
}

// MixingMatrix is u → (matrix, values): matrix = L ∘ (C·B̃ᵀ) + diag(D) per
// head, [B,H,T,T], with L[t,s] = Π_{k=s+1..t} α_k and B̃ = B (discrete) or
// Δ_s·B_s (continuous: Δ is folded into the matrix so that the values are
// the post-conv x in both variants and D stays on the diagonal); values =
// the post-conv x, [B,H,T,P].
func (Mixer) MixingMatrix(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(b *graph.Builder, c config) {
		d := l.Dims
		u := b.Input(mixer.InputU, d.DType, d.Batch, d.SeqLen, d.DModel)
		s := c.sequence(b, u)
		b.Output(mixer.OutputMatrix, nn.SSDMatrix(b, s.logA, s.bm, s.cm, s.d))
		b.Output(mixer.OutputValues, s.x)
	})
}

// Step processes one token: u [B,1,C] and position (unused: the states
// carry everything) with two states, state/conv [B,conv,K−1] (the last K−1
// pre-conv inputs x|B|C, oldest first; absent when conv_kernel is 1) and
// state/ssm [B,H,P,N] (S_t = α_t·S_{t−1} + x_t·B̃_tᵀ).
func (Mixer) Step(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(b *graph.Builder, c config) {
		d := l.Dims
		dt := d.DType
		u := b.Input(mixer.InputU, dt, d.Batch, 1, d.DModel)
		b.Input(mixer.InputPosition, graph.I32)
		convState := graph.NoValue
		if c.k > 1 {
			convState = b.Input(stateConv, dt, d.Batch, c.convChannels(), c.k-1)
		}
		ssm := b.Input(stateSSM, dt, d.Batch, c.h, c.p, c.n)
		s, nextConv := c.token(b, u, convState)
		one := func(v graph.Value, last int) graph.Value { return b.Reshape(v, d.Batch, c.h, last) }
		y, nextSSM := nn.SSDStep(b, ssm, one(s.x, c.p), b.Reshape(s.logA, d.Batch, c.h), one(s.bm, c.n), one(s.cm, c.n), s.d)
		b.Output(mixer.OutputY, c.output(b, b.Reshape(y, d.Batch, c.h, 1, c.p), s.z))
		b.Output(stateSSM, nextSSM)
		if c.k > 1 {
			b.Output(stateConv, nextConv)
		}
	})
}

// State names of the Step fragment.
const (
	stateConv = mixer.StatePrefix + "conv"
	stateSSM  = mixer.StatePrefix + "ssm"
)

// InitFromTeacher with init "attention" (discrete only, validated by
// Params) follows MambaInLlama: the x rows of in_proj ← W_V, the B rows ←
// W_K (key/value heads repeated to every head where the teacher has fewer),
// the C rows ← W_Q, out_proj ← W_O; teacher biases are dropped (in_proj and
// out_proj have none). A fragment outputs whole params, so in_proj is
// output whole: its z and a rows are set to zero, and z_bias to
// silu⁻¹(1) ≈ 1.2785, so the gate silu(z + z_bias) starts at 1 and the
// decay α = sigmoid(−a) at 1/2 for every token, which stage 1 then fits.
// D and the conv keep their Params init (1 and the identity).
//
// With init "mohawk" (and always for the continuous variant) nothing comes
// from the teacher: the fragment reads no input and outputs only D at its
// constant init (1), so running it leaves the layer as Params initialised it.
func (Mixer) InitFromTeacher(ctx context.Context, l mixer.Layer) (*graph.Graph, error) {
	return fragment(l, func(b *graph.Builder, c config) {
		d := l.Dims
		dt := d.DType
		if c.init != InitAttention {
			b.Output("D", b.Full(dt, 1, c.h))
			return
		}
		hd := d.DModel / d.Heads
		kv := d.KVHeads
		if kv == 0 {
			kv = d.Heads
		}
		teacher := func(role string, rows int) graph.Value {
			return b.Input(mixer.TeacherPrefix+role, dt, rows, d.DModel)
		}
		// repeat expands [KV·hd, C] to [H·hd, C], head h taking KV head h/(H/KV).
		repeat := func(w graph.Value) graph.Value {
			r := d.Heads / kv
			if r == 1 {
				return w
			}
			e := b.Broadcast(b.Reshape(w, kv, 1, hd, d.DModel), kv, r, hd, d.DModel)
			return b.Reshape(e, d.Heads*hd, d.DModel)
		}
		x := repeat(teacher("v_proj.weight", kv*hd))
		bRows := repeat(teacher("k_proj.weight", kv*hd))
		cRows := teacher("q_proj.weight", d.Heads*hd)
		rest := b.Zeros(dt, c.inner+c.h, d.DModel) // z and a rows
		b.Output("in_proj.weight", b.Concat(0, x, bRows, cRows, rest))
		b.Output("out_proj.weight", b.Input(mixer.TeacherPrefix+"o_proj.weight", dt, d.DModel, d.Heads*hd))
		b.Output("z_bias", b.Full(dt, siluInvOne, c.inner))
	})
}

// siluInvOne solves z·sigmoid(z) = 1.
var siluInvOne = func() float64 {
	z := 1.0
	for range 50 {
		s := 1 / (1 + math.Exp(-z))
		z -= (z*s - 1) / (s + z*s*(1-s))
	}
	return z
}()
