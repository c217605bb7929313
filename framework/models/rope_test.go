package models

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// llama32Scaling is the rope_scaling of Llama-3.2-1B's config.json.
var llama32Scaling = RopeScaling{Type: RopeLlama3, Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}

// wantInvFreqs is llama3's rescaling written from its definition by
// rotations: a frequency f turns orig·f/(2π) times over the original
// context; at most low_freq_factor times it is slowed by factor, at least
// high_freq_factor times it is kept, and in between its period is
// interpolated linearly in the number of turns.
func wantInvFreqs(r RopeScaling, dim int, theta float64) []float64 {
	out := make([]float64, dim/2)
	for i := range out {
		f := 1 / math.Pow(theta, float64(2*i)/float64(dim))
		turns := float64(r.OriginalMaxPositions) * f / (2 * math.Pi)
		switch {
		case r.Type == RopeLinear:
			out[i] = f / r.Factor
		case r.Type == "" || turns > r.HighFreqFactor:
			out[i] = f
		case turns < r.LowFreqFactor:
			out[i] = f / r.Factor
		default:
			w := (turns - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor)
			out[i] = w*f + (1-w)*(f/r.Factor)
		}
	}
	return out
}

// The inverse frequencies of each scaling equal a float64 computation
// written independently, for Llama-3.2-1B's parameters (head dim 64, θ
// 500000) and the fixture's (head dim 16, θ 10000), with frequencies in all
// three llama3 bands.
func TestRopeInvFreqs(t *testing.T) {
	fixture := RopeScaling{Type: RopeLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 64}
	for _, c := range []struct {
		name  string
		r     RopeScaling
		dim   int
		theta float64
	}{
		{"llama-3.2-1b", llama32Scaling, 64, 500000},
		{"fixture", fixture, 16, 10000},
		{"linear", RopeScaling{Type: RopeLinear, Factor: 4}, 16, 10000},
		{"none", RopeScaling{}, 16, 10000},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, want := c.r.InvFreqs(c.dim, c.theta), wantInvFreqs(c.r, c.dim, c.theta)
			if len(got) != c.dim/2 {
				t.Fatalf("%d frequencies, expected %d", len(got), c.dim/2)
			}
			bands := map[string]int{}
			for i := range want {
				if d := math.Abs(got[i]-want[i]) / want[i]; d > 1e-13 {
					t.Errorf("inv_freq[%d] = %.17g, expected %.17g", i, got[i], want[i])
				}
				plain := math.Pow(c.theta, -float64(2*i)/float64(c.dim))
				switch ratio := got[i] / plain; {
				case math.Abs(ratio-1) < 1e-12:
					bands["kept"]++
				case math.Abs(ratio*c.r.Factor-1) < 1e-12:
					bands["divided"]++
				default:
					bands["smoothed"]++
				}
			}
			t.Logf("bands %v", bands)
			if c.r.Type == RopeLlama3 && (bands["kept"] == 0 || bands["divided"] == 0 || bands["smoothed"] == 0) {
				t.Errorf("expected frequencies in every band, found %v", bands)
			}
		})
	}
}

// The fixture's inverse frequencies (transformers', in float32) match ours,
// and without the scaling its logits would differ far beyond the parity
// tolerance: the fixture tests the scaling.
func TestLlama3RopeFixture(t *testing.T) {
	dir := filepath.Join("testdata", "llama3")
	folder, err := checkpoint.LoadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromHF(folder)
	folder.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := RopeScaling{Type: RopeLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 64}
	if cfg.Llama.RopeScaling != want || cfg.Llama.RopeTheta != 10000 || !cfg.Llama.TieEmbeddings {
		t.Fatalf("read %+v", *cfg.Llama)
	}
	io, err := checkpoint.Open(filepath.Join(dir, "io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := io.Tensor("inv_freq")
	io.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Llama.RopeScaling.InvFreqs(cfg.Llama.DModel/cfg.Llama.Heads, cfg.Llama.RopeTheta)
	for i, g := range got {
		if d := math.Abs(g-ref.At(i)) / g; d > 1e-6 {
			t.Errorf("inv_freq[%d] %.9g, transformers %.9g", i, g, ref.At(i))
		}
	}

	// Unscaled, the same weights give other logits.
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.MkdirAll(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model.safetensors", "io.safetensors"} {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plain, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	obj := map[string]json.RawMessage{}
	for k, v := range cfg.Raw {
		obj[k] = v
	}
	obj["rope_parameters"] = json.RawMessage(`{"rope_theta": 10000.0, "rope_type": "default"}`)
	raw, _ := json.Marshal(obj)
	if err := os.WriteFile(filepath.Join(plain, checkpoint.ConfigName), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	g, w, _ := fixtureLogits(t, plain)
	scale, worst := 0.0, 0.0
	for i := 0; i < w.Len(); i++ {
		scale = math.Max(scale, math.Abs(w.At(i)))
		worst = math.Max(worst, math.Abs(g.At(i)-w.At(i)))
	}
	t.Logf("without the scaling: relative logit error %.3g", worst/scale)
	if worst/scale < 1e-2 {
		t.Errorf("unscaled logits are within %.3g of the reference: the fixture does not test the scaling", worst/scale)
	}
}

// llamaJSON is the llama fixture's config.json with keys replaced (a value
// "" deletes the key).
func llamaJSON(t *testing.T, set map[string]string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", FamilyLlama, checkpoint.ConfigName))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		if v == "" {
			delete(obj, k)
		} else {
			obj[k] = json.RawMessage(v)
		}
	}
	out, _ := json.Marshal(obj)
	return out
}

// Both spellings are read: rope_scaling with a top-level rope_theta (as
// Llama-3.2-1B's config.json has it), and rope_parameters with rope_theta
// inside (newer transformers); rope_scaling wins when both are there, as in
// transformers; the older "type" key names the type too.
func TestRopeScalingConfig(t *testing.T) {
	const l32 = `{"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}`
	for _, c := range []struct {
		name  string
		set   map[string]string
		want  RopeScaling
		theta float64
	}{
		{"rope_scaling", map[string]string{"rope_parameters": "", "rope_theta": "500000.0", "rope_scaling": l32}, llama32Scaling, 500000},
		{"rope_parameters", map[string]string{"rope_parameters": `{"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_theta": 500000.0, "rope_type": "llama3"}`}, llama32Scaling, 500000},
		{"both", map[string]string{"rope_parameters": `{"rope_theta": 500000.0, "rope_type": "default"}`, "rope_scaling": l32}, llama32Scaling, 500000},
		{"null scaling", map[string]string{"rope_scaling": "null"}, RopeScaling{}, 10000},
		{"linear type", map[string]string{"rope_parameters": "", "rope_theta": "10000.0", "rope_scaling": `{"type": "linear", "factor": 2.0}`}, RopeScaling{Type: RopeLinear, Factor: 2}, 10000},
		{"default", map[string]string{"rope_scaling": `{"rope_type": "default"}`}, RopeScaling{}, 10000},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ConfigFromJSON(llamaJSON(t, c.set), "config.json")
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Llama.RopeScaling != c.want || cfg.Llama.RopeTheta != c.theta {
				t.Fatalf("read %+v θ %g, expected %+v θ %g", cfg.Llama.RopeScaling, cfg.Llama.RopeTheta, c.want, c.theta)
			}
			// A student of it saves a config that reads back the same,
			// both from the object read and from the Go config alone.
			_, obj := writtenConfig(t, cfg)
			raw, _ := json.Marshal(obj)
			back, err := ConfigFromJSON(raw, "student")
			if err != nil {
				t.Fatal(err)
			}
			cfg.Raw = nil
			_, obj2 := writtenConfig(t, cfg)
			raw2, _ := json.Marshal(obj2)
			back2, err := ConfigFromJSON(raw2, "student")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*back.Llama, *cfg.Llama) || !reflect.DeepEqual(*back2.Llama, *cfg.Llama) {
				t.Fatalf("read back %+v and %+v, expected %+v", *back.Llama, *back2.Llama, *cfg.Llama)
			}
		})
	}
}

// A config changed after reading saves its own rope scaling over the
// teacher's, in whichever key states it.
func TestRopeScalingChanged(t *testing.T) {
	for _, set := range []map[string]string{
		{"rope_parameters": `{"rope_theta": 10000.0, "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}`},
		{"rope_scaling": `{"rope_type": "linear", "factor": 2.0}`},
	} {
		cfg, err := ConfigFromJSON(llamaJSON(t, set), "config.json")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []RopeScaling{{}, llama32Scaling, {Type: RopeLinear, Factor: 3}} {
			llama := *cfg.Llama
			llama.RopeScaling = r
			changed := cfg
			changed.Llama = &llama
			_, obj := writtenConfig(t, changed)
			raw, _ := json.Marshal(obj)
			back, err := ConfigFromJSON(raw, "student")
			if err != nil {
				t.Fatal(err)
			}
			if back.Llama.RopeScaling != r {
				t.Errorf("saved %+v, read back %+v from %s", r, back.Llama.RopeScaling, raw)
			}
		}
	}
}

func TestRopeScalingErrors(t *testing.T) {
	cases := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"yarn", map[string]string{"rope_scaling": `{"rope_type": "yarn", "factor": 4.0}`}, `rope_scaling: rope_type "yarn" is not supported (default, linear, llama3)`},
		{"dynamic", map[string]string{"rope_scaling": `{"type": "dynamic", "factor": 2.0}`}, `rope_type "dynamic" is not supported`},
		{"longrope", map[string]string{"rope_parameters": `{"rope_type": "longrope", "rope_theta": 10000.0}`}, `rope_parameters: rope_type "longrope" is not supported`},
		{"missing", map[string]string{"rope_scaling": `{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}`}, "rope_scaling.original_max_position_embeddings is missing (rope_type llama3 needs factor, low_freq_factor, high_freq_factor, original_max_position_embeddings)"},
		{"linear factor", map[string]string{"rope_scaling": `{"rope_type": "linear"}`}, "rope_scaling.factor is missing"},
		{"string factor", map[string]string{"rope_parameters": `{"rope_type": "llama3", "factor": "8", "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}`}, `rope_parameters.factor: expected a number, found "8"`},
		{"zero factor", map[string]string{"rope_scaling": `{"rope_type": "linear", "factor": 0}`}, "rope_scaling.factor must be positive, found 0"},
		{"bands", map[string]string{"rope_scaling": `{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}`}, "rope_scaling.high_freq_factor 4 must exceed low_freq_factor 4"},
		{"fractional", map[string]string{"rope_scaling": `{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64.5}`}, "rope_scaling.original_max_position_embeddings must be a positive integer, found 64.5"},
		{"type not a string", map[string]string{"rope_scaling": `{"rope_type": 3}`}, "rope_scaling.rope_type: expected a string, found 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ConfigFromJSON(llamaJSON(t, c.set), "config.json")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "config.json: ") {
				t.Fatalf("error %v, expected one containing %q", err, c.want)
			}
			t.Log(err)
		})
	}
	t.Run("phi", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join("testdata", FamilyPhi, checkpoint.ConfigName))
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			t.Fatal(err)
		}
		obj["rope_scaling"] = json.RawMessage(`{"rope_type": "linear", "factor": 2.0}`)
		raw, _ := json.Marshal(obj)
		_, err = ConfigFromJSON(raw, "config.json")
		if want := `rope_scaling: rope_type "linear" is not supported for phi (default)`; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, expected one containing %q", err, want)
		}
	})
	t.Run("go config", func(t *testing.T) {
		_, err := BuildLlama(graph.NewBuilder(), LlamaConfig{Vocab: 8, DModel: 8, Layers: 1, Heads: 2, SeqLen: 4,
			RopeScaling: RopeScaling{Type: RopeLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 1, OriginalMaxPositions: 64}}, graph.F32, 1, 1)
		if want := "high_freq_factor must exceed low_freq_factor"; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, expected one containing %q", err, want)
		}
	})
}
