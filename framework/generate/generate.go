// Package generate samples text from a model folder: a Hugging Face
// teacher (phi, llama, gpt2) or a student saved by mohawk. It compiles one
// one-token step program on a backend and runs it per token: attention
// layers keep a key/value cache and SSD layers their recurrent state as
// resident state tensors, so an SSD student decodes in O(1) memory per
// token. The prompt is fed through the same step program, token by token:
// slower than one parallel pass, but simple and exactly the computation
// that generates.
package generate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/mixers/attention"
	"github.com/mohawk-distill/mohawk/mixers/hybrid"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// Options configure Load.
type Options struct {
	// MaxLen is the number of positions the attention layers' caches hold
	// (prompt and generated tokens together); 0 takes the model's
	// max_position_embeddings, at most DefaultMaxLen. A model without
	// attention layers has no such limit.
	MaxLen int
	// Mixer returns the mixer a saved student names for a layer; nil
	// knows the built-in mixers (attention, mamba2, hybrid) only.
	Mixer func(ctx context.Context, name string) (mixer.Mixer, error)
	// Backend runs the step program; nil starts an in-process CPU backend
	// with Threads threads (0: all cores).
	Backend backend.Backend
	Threads int
}

// Model is a model loaded for generation.
type Model struct {
	Config models.HFConfig
	// Student reports whether the folder held a saved student.
	Student bool
	// Vocab is the size of the model's vocabulary.
	Vocab int

	be      backend.Backend
	prog    backend.ProgramID
	graph   *graph.Graph
	maxLen  int // 0: no limit (no attention layer)
	states  map[string]graph.Type
	fed     int // tokens fed since the last Reset
	scratch *graph.Tensor
}

// DefaultMaxLen bounds the attention caches when Options.MaxLen is 0:
// Llama 3's 131072 positions would take gigabytes of cache for a chat.
const DefaultMaxLen = 4096

// BuiltinMixer is the default Options.Mixer: the mixers mohawk ships.
func BuiltinMixer(_ context.Context, name string) (mixer.Mixer, error) {
	switch name {
	case "attention":
		return attention.Mixer{}, nil
	case "mamba2":
		return mamba2.Mixer{}, nil
	case "hybrid":
		return hybrid.Mixer{}, nil
	}
	return nil, fmt.Errorf("mixer %q is not built in (attention, mamba2, hybrid); a plugin mixer needs Options.Mixer", name)
}

// Load opens the model folder dir, builds its step program, compiles it
// and uploads its weights.
func Load(ctx context.Context, dir string, opt Options) (*Model, error) {
	folder, err := checkpoint.LoadFolder(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if folder != nil { // nil when reopening it as a student failed
			folder.Close()
		}
	}()
	cfg, err := models.ConfigFromHF(folder)
	if err != nil {
		return nil, err
	}
	var saved map[int]models.StudentLayerInfo
	var top struct {
		Mohawk json.RawMessage `json:"mohawk"`
	}
	if json.Unmarshal(folder.Config, &top) == nil && len(top.Mohawk) > 0 && string(top.Mohawk) != "null" {
		folder.Close()
		folder = nil
		if cfg, saved, folder, err = models.LoadStudent(dir); err != nil {
			return nil, err
		}
	}
	resolve := opt.Mixer
	if resolve == nil {
		resolve = BuiltinMixer
	}
	mixers := map[int]layerMixer{}
	attentionLayers := cfg.Layers() - len(saved)
	for l, info := range saved {
		m, err := resolve(ctx, info.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: layer %d: %w", dir, l, err)
		}
		mi, err := m.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: layer %d: mixer %s: %w", dir, l, info.Name, err)
		}
		if !mi.Capabilities.Step {
			return nil, fmt.Errorf("%s: layer %d: mixer %s has no Step fragment, so the model cannot generate token by token", dir, l, info.Name)
		}
		conf, err := models.UnmarshalMixerConfig(info.Config, mi.Schema)
		if err != nil {
			return nil, fmt.Errorf("%s: layer %d: mixer %s configuration: %w", dir, l, info.Name, err)
		}
		if info.Name == "hybrid" {
			attentionLayers++ // a hybrid layer may hold attention: keep the cache limit
		}
		mixers[l] = layerMixer{mixer: m, config: conf, prefix: cfg.MixerPrefix(l)}
	}

	maxLen := opt.MaxLen
	if maxLen <= 0 {
		maxLen = min(seqLen(cfg), DefaultMaxLen)
	}
	g, err := buildStep(ctx, cfg, mixers, maxLen)
	if err != nil {
		return nil, fmt.Errorf("%s: step program: %w", dir, err)
	}
	m := &Model{Config: cfg, Student: saved != nil, Vocab: cfg.Vocab(), graph: g, be: opt.Backend, states: map[string]graph.Type{}}
	if attentionLayers > 0 || cfg.Family == models.FamilyGPT2 {
		m.maxLen = maxLen
		if cfg.Family == models.FamilyGPT2 {
			m.maxLen = min(maxLen, cfg.GPT2.Defaults().Positions)
		}
	}
	if m.be == nil {
		m.be = cpu.NewService(cpu.Options{Threads: opt.Threads})
	}
	for _, v := range g.Leaves(graph.OpParam) {
		n := g.Nodes[v]
		t, err := weight(folder, n.Name, n.Type.Shape)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		if err := m.be.SetTensor(ctx, n.Name, t); err != nil {
			return nil, fmt.Errorf("%s: upload %s: %w", dir, n.Name, err)
		}
	}
	for _, v := range g.Leaves(graph.OpState) {
		m.states[g.Nodes[v].Name] = g.Nodes[v].Type
	}
	if err := m.Reset(ctx); err != nil {
		return nil, err
	}
	if m.prog, err = m.be.Compile(ctx, g); err != nil {
		return nil, fmt.Errorf("%s: compile the step program: %w", dir, err)
	}
	m.scratch = graph.NewTensor(graph.I32, 1, 1)
	return m, nil
}

// weight reads the param name of the step program from folder, as f32 of
// shape.
func weight(folder *checkpoint.Folder, name string, shape graph.Shape) (*graph.Tensor, error) {
	info, err := folder.Info(name)
	if err != nil {
		return nil, fmt.Errorf("%s: expected %v, missing (%w)", name, shape, err)
	}
	if !slices.Equal(graph.Shape(info.Shape), shape) {
		return nil, fmt.Errorf("%s: expected shape %v, found %v", name, shape, info.Shape)
	}
	t, err := folder.Tensor(name)
	if err != nil {
		return nil, err
	}
	if t.DType != graph.F32 {
		c := graph.NewTensor(graph.F32, shape...)
		for i := range c.Len() {
			c.Set(i, t.At(i))
		}
		t = c
	}
	return t, nil
}

func seqLen(cfg models.HFConfig) int {
	switch {
	case cfg.Phi != nil:
		return cfg.Phi.SeqLen
	case cfg.Llama != nil:
		return cfg.Llama.SeqLen
	case cfg.GPT2 != nil:
		return cfg.GPT2.Defaults().Positions
	}
	return 0
}

// Close frees the step program (and the backend's tensors with it when
// Load started the backend).
func (m *Model) Close() {
	if m.be != nil {
		m.be.Release(context.Background(), m.prog)
	}
}

// StateBytes is the memory of the program's resident state: the caches
// and recurrent states that grow with nothing but the model (and, for
// attention, MaxLen).
func (m *Model) StateBytes() int64 {
	var n int64
	for _, t := range m.states {
		n += int64(t.Shape.Size()) * 4
	}
	return n
}

// MaxLen is the most tokens (prompt and generated) the model can process
// since the last Reset; 0 means no limit.
func (m *Model) MaxLen() int { return m.maxLen }

// Reset zeroes every state: the next token is at position 0.
func (m *Model) Reset(ctx context.Context) error {
	names := make([]string, 0, len(m.states))
	for name := range m.states {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := m.states[name]
		if err := m.be.SetTensor(ctx, name, graph.NewTensor(t.DType, t.Shape...)); err != nil {
			return fmt.Errorf("reset state %s: %w", name, err)
		}
	}
	m.fed = 0
	return nil
}

// ErrTooLong is returned when a token would go past the attention caches.
var ErrTooLong = errors.New("the sequence is longer than the attention cache")

// Feed runs the step program on token and returns the logits of the next
// token.
func (m *Model) Feed(ctx context.Context, token int) ([]float32, error) {
	if token < 0 || token >= m.Vocab {
		return nil, fmt.Errorf("token id %d is outside the vocabulary [0, %d)", token, m.Vocab)
	}
	if m.maxLen > 0 && m.fed >= m.maxLen {
		return nil, fmt.Errorf("%w: position %d, the model holds %d positions", ErrTooLong, m.fed, m.maxLen)
	}
	m.scratch.Set(0, float64(token))
	out, err := m.be.Run(ctx, m.prog, map[string]*graph.Tensor{inputToken: m.scratch})
	if err != nil {
		return nil, fmt.Errorf("step at position %d: %w", m.fed, err)
	}
	m.fed++
	logits := out[outputLogits]
	res := make([]float32, logits.Len())
	for i := range res {
		res[i] = float32(logits.At(i))
	}
	return res, nil
}

// Sampling chooses how Generate picks tokens.
type Sampling struct {
	MaxTokens   int     // tokens to generate
	Temperature float64 // 0: greedy (the most likely token; the lowest id on ties)
	TopK        int     // > 0: sample among the K most likely tokens only
	Seed        uint64
	// Stop, when ≥ 0, ends generation after this token is generated (an
	// end-of-sequence id).
	Stop int
}

// Generate resets the model, feeds prompt (at least one token) and then
// generates up to s.MaxTokens tokens, calling emit with each as it comes
// (emit may be nil). It returns the generated tokens.
func (m *Model) Generate(ctx context.Context, prompt []int, s Sampling, emit func(token int) error) ([]int, error) {
	if len(prompt) == 0 {
		return nil, errors.New("the prompt is empty: give at least one token")
	}
	if s.Temperature < 0 || math.IsNaN(s.Temperature) {
		return nil, fmt.Errorf("temperature %v: want 0 (greedy) or more", s.Temperature)
	}
	if m.maxLen > 0 && len(prompt)+s.MaxTokens > m.maxLen+1 {
		return nil, fmt.Errorf("%w: %d prompt tokens and %d to generate need %d positions, the model holds %d", ErrTooLong, len(prompt), s.MaxTokens, len(prompt)+s.MaxTokens-1, m.maxLen)
	}
	if err := m.Reset(ctx); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x6d6f6861776b))
	var logits []float32
	var err error
	for _, t := range prompt {
		if logits, err = m.Feed(ctx, t); err != nil {
			return nil, err
		}
	}
	var out []int
	for len(out) < s.MaxTokens {
		next := Pick(logits, s.Temperature, s.TopK, rng)
		out = append(out, next)
		if emit != nil {
			if err := emit(next); err != nil {
				return out, err
			}
		}
		if next == s.Stop || len(out) == s.MaxTokens {
			break
		}
		if logits, err = m.Feed(ctx, next); err != nil {
			return out, err
		}
	}
	return out, nil
}

// Pick chooses the next token from logits: the argmax when temperature is
// 0, otherwise a draw from softmax(logits / temperature) restricted to the
// topK most likely tokens when topK > 0.
func Pick(logits []float32, temperature float64, topK int, rng *rand.Rand) int {
	if temperature == 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return best
	}
	ids := make([]int, len(logits))
	for i := range ids {
		ids[i] = i
	}
	if topK > 0 && topK < len(ids) {
		// Stable, so ties keep the lower id first.
		sort.SliceStable(ids, func(a, b int) bool { return logits[ids[a]] > logits[ids[b]] })
		ids = ids[:topK]
	}
	hi := math.Inf(-1)
	for _, i := range ids {
		hi = math.Max(hi, float64(logits[i]))
	}
	weights := make([]float64, len(ids))
	var sum float64
	for j, i := range ids {
		weights[j] = math.Exp((float64(logits[i]) - hi) / temperature)
		sum += weights[j]
	}
	r := rng.Float64() * sum
	for j, w := range weights {
		if r < w {
			return ids[j]
		}
		r -= w
	}
	return ids[len(ids)-1]
}
