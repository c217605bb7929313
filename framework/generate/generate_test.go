package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/mixers/hybrid"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// The tiny random Hugging Face models of the models package's parity
// tests: config.json and model.safetensors as transformers saved them.
func fixture(family string) string { return filepath.Join("..", "models", "testdata", family) }

const steps = 16

var prompt = []int{3, 17, 5}

// fullForward is the reference: the model built over the whole sequence
// (BuildStudent, or the teacher when mixers is nil), run on the CPU
// backend, and the logits of its last position.
type fullForward struct {
	cfg    models.HFConfig
	mixers map[int]models.LayerMixer
	params map[string]*graph.Tensor // nil: read from folder
	folder *checkpoint.Folder
}

func (f fullForward) lastLogits(t *testing.T, tokens []int) []float32 {
	t.Helper()
	ctx := context.Background()
	b := graph.NewBuilder()
	lm, err := models.BuildStudent(ctx, b, f.cfg, f.mixers, graph.F32, 1, len(tokens), 1)
	if err != nil {
		t.Fatal(err)
	}
	params := f.params
	if params == nil {
		if params, err = models.LoadWeights(lm, f.folder); err != nil {
			t.Fatal(err)
		}
	}
	b.Output("logits", lm.Logits)
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New(cpu.Options{})
	defer be.Close()
	for _, p := range lm.Params {
		if err := be.SetTensor(p.Name, params[p.Name]); err != nil {
			t.Fatal(err)
		}
	}
	prog, err := be.Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	in := graph.NewTensor(graph.I32, 1, len(tokens))
	for i, tok := range tokens {
		in.I32[i] = int32(tok)
	}
	out, err := prog.Run(map[string]*graph.Tensor{"tokens": in})
	if err != nil {
		t.Fatal(err)
	}
	logits := out["logits"]
	v := logits.Shape[2]
	return logits.F32[(len(tokens)-1)*v:]
}

// checkGreedy generates greedily with the step program and checks every
// token (and the logits it came from) against re-running the full forward
// on the sequence so far.
func checkGreedy(t *testing.T, m *Model, ref fullForward) {
	t.Helper()
	ctx := context.Background()
	got, err := m.Generate(ctx, prompt, Sampling{MaxTokens: steps, Stop: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != steps {
		t.Fatalf("generated %d tokens, want %d", len(got), steps)
	}
	seq := append([]int(nil), prompt...)
	for i := range steps {
		logits := ref.lastLogits(t, seq)
		want := Pick(logits, 0, 0, nil)
		if got[i] != want {
			t.Fatalf("step %d: generated %d, the full forward's argmax is %d (tokens so far %v)", i, got[i], want, seq)
		}
		seq = append(seq, want)
	}
	// The step program's logits at the last position equal the full
	// forward's, not only their argmax.
	if err := m.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	var stepLogits []float32
	for _, tok := range seq {
		if stepLogits, err = m.Feed(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	full := ref.lastLogits(t, seq)
	var worst float64
	for i := range full {
		worst = math.Max(worst, math.Abs(float64(full[i]-stepLogits[i]))/(1+math.Abs(float64(full[i]))))
	}
	t.Logf("generated %v; logits after %d tokens differ by at most %.2g (relative)", got, len(seq), worst)
	if worst > 1e-4 {
		t.Errorf("step logits differ from the full forward's by %g", worst)
	}
}

func TestGreedyTeachers(t *testing.T) {
	// llama3 is a Llama 3.1-style teacher with rescaled rotary
	// frequencies.
	for _, family := range []string{models.FamilyPhi, models.FamilyLlama, "llama3", models.FamilyGPT2} {
		t.Run(family, func(t *testing.T) {
			m, err := Load(context.Background(), fixture(family), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			folder, err := checkpoint.LoadFolder(fixture(family))
			if err != nil {
				t.Fatal(err)
			}
			defer folder.Close()
			checkGreedy(t, m, fullForward{cfg: m.Config, folder: folder})
		})
	}
}

// discreteMamba2 is the discrete Mamba-2 configuration with the schema's
// defaults and state size n.
func discreteMamba2(n int) cty.Value {
	v, err := configWith(mamba2.Schema, map[string]cty.Value{
		"variant": cty.StringVal(mamba2.VariantDiscrete), "state_size": cty.NumberIntVal(int64(n)),
	})
	if err != nil {
		panic(err)
	}
	return v
}

// studentMixer is the mixer a test student puts in its replaced layers.
type studentMixer struct {
	name, version string
	mixer         mixer.Mixer
	config        cty.Value
}

var ssd = studentMixer{"mamba2", mamba2.Version, mamba2.Mixer{}, discreteMamba2(8)}

// saveStudent builds a student of the fixture teacher family with the
// layers replaced by sm, perturbs its initial params (so no value is
// trivially its init: the conv is not the identity, D not 1) and saves it
// into a new folder.
func saveStudent(t *testing.T, family string, layers []int, sm studentMixer) (string, fullForward) {
	t.Helper()
	ctx := context.Background()
	folder, err := checkpoint.LoadFolder(fixture(family))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := models.ConfigFromHF(folder)
	folder.Close()
	if err != nil {
		t.Fatal(err)
	}
	mixers := map[int]models.LayerMixer{}
	infos := map[int]models.StudentLayerInfo{}
	raw, err := models.MarshalMixerConfig(sm.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		mixers[l] = models.LayerMixer{Mixer: sm.mixer, Layer: mixer.Layer{Config: sm.config}}
		infos[l] = models.StudentLayerInfo{Name: sm.name, Version: sm.version, Config: raw}
	}
	lm, err := models.BuildStudent(ctx, graph.NewBuilder(), cfg, mixers, graph.F32, 1, 8, 5)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	params := map[string]*graph.Tensor{}
	for _, p := range lm.Params {
		v := p.Init.Clone()
		for i := range v.F32 {
			v.F32[i] += float32(0.1 * r.NormFloat64())
		}
		params[p.Name] = v
	}
	dir := t.TempDir()
	if err := models.SaveStudent(dir, cfg, infos, params, ""); err != nil {
		t.Fatal(err)
	}
	return dir, fullForward{cfg: cfg, mixers: mixers, params: params}
}

func TestGreedyStudents(t *testing.T) {
	// SSD and a 4-token sliding-window softmax in one layer, the window
	// shorter than the sequence.
	within, err := configWith(hybrid.Schema, map[string]cty.Value{"mode": cty.StringVal(hybrid.ModeWithin), "window": cty.NumberIntVal(4), "state_size": cty.NumberIntVal(8)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, family string
		layers       []int
		mixer        studentMixer
	}{
		{"phi all SSD", models.FamilyPhi, []int{0, 1}, ssd},
		{"llama layer 1 SSD", models.FamilyLlama, []int{1}, ssd},
		{"gpt2 layer 0 SSD", models.FamilyGPT2, []int{0}, ssd},
		{"phi layer 1 SSD with window attention", models.FamilyPhi, []int{1}, studentMixer{"hybrid", hybrid.Version, hybrid.Mixer{}, within}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, ref := saveStudent(t, c.family, c.layers, c.mixer)
			m, err := Load(context.Background(), dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if !m.Student {
				t.Error("the saved student loaded as a teacher")
			}
			checkGreedy(t, m, ref)
		})
	}
}

// An SSD student's state does not grow with the tokens it generates: its
// step program's resident state is the same whatever the sequence length
// it is built for, and it has no length limit; a teacher's key/value cache
// grows with the length.
func TestStateDoesNotGrow(t *testing.T) {
	ctx := context.Background()
	dir, _ := saveStudent(t, models.FamilyPhi, []int{0, 1}, ssd)
	sizes := map[int]int64{}
	for _, n := range []int{64, 4096} {
		m, err := Load(ctx, dir, Options{MaxLen: n})
		if err != nil {
			t.Fatal(err)
		}
		sizes[n] = m.StateBytes()
		if m.MaxLen() != 0 {
			t.Errorf("an all-SSD student has a length limit of %d", m.MaxLen())
		}
		m.Close()
	}
	if sizes[64] != sizes[4096] || sizes[64] == 0 {
		t.Errorf("SSD student state: %d bytes for 64 positions, %d for 4096; want the same, not 0", sizes[64], sizes[4096])
	}
	// Generate past the teacher's max_position_embeddings (64).
	m, err := Load(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	before := m.StateBytes()
	out, err := m.Generate(ctx, prompt, Sampling{MaxTokens: 100, Temperature: 0.8, TopK: 10, Seed: 1, Stop: -1}, nil)
	if err != nil || len(out) != 100 {
		t.Fatalf("100 tokens: %d, %v", len(out), err)
	}
	if m.StateBytes() != before {
		t.Errorf("state grew from %d to %d bytes while generating", before, m.StateBytes())
	}
	t.Logf("SSD student state: %d bytes, whatever the length", before)

	teacher := map[int]int64{}
	for _, n := range []int{16, 32} {
		m, err := Load(ctx, fixture(models.FamilyPhi), Options{MaxLen: n})
		if err != nil {
			t.Fatal(err)
		}
		teacher[n] = m.StateBytes()
		m.Close()
	}
	if teacher[32] <= teacher[16] {
		t.Errorf("teacher key/value cache: %d bytes for 16 positions, %d for 32; want it to grow", teacher[16], teacher[32])
	}
}

func TestSampling(t *testing.T) {
	ctx := context.Background()
	m, err := Load(ctx, fixture(models.FamilyPhi), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := Sampling{MaxTokens: 12, Temperature: 1, TopK: 5, Seed: 42, Stop: -1}
	a, err := m.Generate(ctx, prompt, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Generate(ctx, prompt, s, nil)
	if !equal(a, b) {
		t.Errorf("same seed, different tokens: %v and %v", a, b)
	}
	s.Seed = 43
	c, _ := m.Generate(ctx, prompt, s, nil)
	if equal(a, c) {
		t.Logf("seeds 42 and 43 gave the same tokens %v (possible, unlikely)", a)
	}

	// Top-k 1 is greedy whatever the temperature.
	greedy, _ := m.Generate(ctx, prompt, Sampling{MaxTokens: 8, Stop: -1}, nil)
	top1, _ := m.Generate(ctx, prompt, Sampling{MaxTokens: 8, Temperature: 5, TopK: 1, Seed: 9, Stop: -1}, nil)
	if !equal(greedy, top1) {
		t.Errorf("top-k 1: %v, greedy %v", top1, greedy)
	}

	// Stop ends generation at the stop token, which is returned.
	stop := greedy[2]
	got, _ := m.Generate(ctx, prompt, Sampling{MaxTokens: 8, Stop: stop}, nil)
	if got[len(got)-1] != stop || len(got) > 3 {
		t.Errorf("stop %d: generated %v", stop, got)
	}

	// Too long for the 64-position cache; an empty prompt.
	if _, err := m.Generate(ctx, prompt, Sampling{MaxTokens: 70, Stop: -1}, nil); err == nil {
		t.Error("73 positions with a 64-position model: no error")
	}
	if _, err := m.Generate(ctx, nil, Sampling{MaxTokens: 1, Stop: -1}, nil); err == nil {
		t.Error("empty prompt: no error")
	}
	if _, err := m.Feed(ctx, 64); err == nil {
		t.Error("token 64 of a 64-token vocabulary: no error")
	}
}

func TestPick(t *testing.T) {
	logits := []float32{0, 3, 1, 3}
	if got := Pick(logits, 0, 0, nil); got != 1 {
		t.Errorf("greedy pick %d, want 1 (the lower of two equal maxima)", got)
	}
	r := rand.New(rand.NewPCG(1, 1))
	counts := map[int]int{}
	for range 2000 {
		counts[Pick(logits, 1, 2, r)]++
	}
	if counts[0]+counts[2] != 0 {
		t.Errorf("top-2 sampled outside the top 2: %v", counts)
	}
	if counts[1] < 800 || counts[3] < 800 {
		t.Errorf("two equal logits sampled unevenly: %v", counts)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A folder whose student metadata is broken fails with an error naming the
// problem, not a panic.
func TestBadStudentFolder(t *testing.T) {
	dir, _ := saveStudent(t, models.FamilyPhi, []int{1}, ssd)
	path := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(raw), `"mixers": {`, `"mixers": {"9": {"name": "mamba2"}, `, 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(context.Background(), dir, Options{})
	if err == nil || !strings.Contains(err.Error(), `layer "9"`) {
		t.Errorf("a mixer at layer 9 of 2: %v", err)
	}

	dir, _ = saveStudent(t, models.FamilyPhi, []int{1}, ssd)
	_, err = Load(context.Background(), dir, Options{Mixer: func(context.Context, string) (mixer.Mixer, error) {
		return nil, errors.New("no such plugin")
	}})
	if err == nil || !strings.Contains(err.Error(), "layer 1: no such plugin") {
		t.Errorf("an unresolvable mixer: %v", err)
	}
}

// configWith is a mixer configuration of schema s: its defaults, with the
// attributes of set.
func configWith(s mixer.Schema, set map[string]cty.Value) (cty.Value, error) {
	attrs := make(map[string]cty.Value, len(s.Attributes))
	for _, a := range s.Attributes {
		switch v, ok := set[a.Name]; {
		case ok:
			attrs[a.Name] = v
			delete(set, a.Name)
		case a.HasDefault():
			attrs[a.Name] = a.Default
		default:
			attrs[a.Name] = cty.NullVal(a.Type)
		}
	}
	for k := range set {
		return cty.NilVal, fmt.Errorf("mixer configuration: the schema has no attribute %q", k)
	}
	return cty.ObjectVal(attrs), nil
}
