package models

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

const (
	studentBatch  = 2
	studentSeqLen = 8
	studentSeed   = 7
)

// mamba2Config is the discrete Mamba-2's configuration with the schema's
// defaults and state_size the teacher's head dim.
func mamba2Config(headDim int) cty.Value {
	attrs := map[string]cty.Value{}
	for _, a := range mamba2.Schema.Attributes {
		attrs[a.Name] = a.Default
	}
	attrs["variant"] = cty.StringVal(mamba2.VariantDiscrete)
	attrs["state_size"] = cty.NumberIntVal(int64(headDim))
	return cty.ObjectVal(attrs)
}

func teacherConfig(t *testing.T, family string) HFConfig {
	t.Helper()
	folder, err := checkpoint.LoadFolder(filepath.Join("testdata", family))
	if err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	cfg, err := ConfigFromHF(folder)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func headDim(cfg HFConfig) int {
	switch {
	case cfg.Phi != nil:
		return cfg.Phi.DModel / cfg.Phi.Heads
	case cfg.Llama != nil:
		return cfg.Llama.DModel / cfg.Llama.Heads
	}
	return cfg.GPT2.DModel / cfg.GPT2.Heads
}

// teacherDims are the dims the builder gives layer l of the student.
func teacherDims(cfg HFConfig, l int) mixer.Dims {
	d := mixer.Dims{Batch: studentBatch, SeqLen: studentSeqLen, Layer: l, DType: graph.F32}
	switch {
	case cfg.Phi != nil:
		d.DModel, d.Heads, d.KVHeads = cfg.Phi.DModel, cfg.Phi.Heads, cfg.Phi.Heads
	case cfg.Llama != nil:
		c := cfg.Llama.Defaults()
		d.DModel, d.Heads, d.KVHeads = c.DModel, c.Heads, c.KVHeads
	default:
		d.DModel, d.Heads, d.KVHeads = cfg.GPT2.DModel, cfg.GPT2.Heads, cfg.GPT2.Heads
	}
	return d
}

// mixersFromInfos supplies the mixers a saved student names, as a host
// supplies plugins by name.
func mixersFromInfos(t *testing.T, infos map[int]StudentLayerInfo) map[int]LayerMixer {
	t.Helper()
	out := map[int]LayerMixer{}
	for l, info := range infos {
		if info.Name != "mamba2" {
			t.Fatalf("layer %d: unknown mixer %q", l, info.Name)
		}
		if info.Version != mamba2.Version {
			t.Fatalf("layer %d: mixer version %q, have %q", l, info.Version, mamba2.Version)
		}
		v, err := UnmarshalMixerConfig(info.Config, mamba2.Schema)
		if err != nil {
			t.Fatal(err)
		}
		out[l] = LayerMixer{Mixer: mamba2.Mixer{}, Layer: mixer.Layer{Config: v}}
	}
	return out
}

// runLogits compiles the student's logits on the CPU backend and runs them
// with params over fixed tokens.
func runLogits(t *testing.T, b *graph.Builder, lm *LM, params map[string]*graph.Tensor) *graph.Tensor {
	t.Helper()
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
	tokens := graph.NewTensor(graph.I32, studentBatch, studentSeqLen)
	for i := range tokens.I32 {
		tokens.I32[i] = int32((i*7 + 3) % 64)
	}
	out, err := prog.Run(map[string]*graph.Tensor{"tokens": tokens})
	if err != nil {
		t.Fatal(err)
	}
	return out["logits"]
}

// A 2-layer student of the llama and phi teachers with layer 1's attention
// replaced by a discrete Mamba-2 saves and loads bit-exactly: the rebuilt
// student's logits equal the original's.
func TestStudentSaveLoadRoundTrip(t *testing.T) {
	for _, family := range []string{FamilyLlama, FamilyPhi, FamilyGPT2} {
		t.Run(family, func(t *testing.T) {
			ctx := context.Background()
			teacher := teacherConfig(t, family)
			cfgVal := mamba2Config(headDim(teacher))
			mixers := map[int]LayerMixer{1: {Mixer: mamba2.Mixer{}, Layer: mixer.Layer{Config: cfgVal}}}
			b := graph.NewBuilder()
			lm, err := BuildStudent(ctx, b, teacher, mixers, graph.F32, studentBatch, studentSeqLen, studentSeed)
			if err != nil {
				t.Fatal(err)
			}

			// The teacher's attention of layer 1 is gone; layer 0 keeps it;
			// layer 1's mixer params are there, with the specs' NoDecay.
			attn, mix := "self_attn.", "model.layers.1.mixer."
			if family == FamilyGPT2 {
				attn, mix = "attn.", "transformer.h.1.mixer."
			}
			var l0Attn, l1Mixer int
			noDecay := map[string]bool{}
			for _, p := range lm.Params {
				if strings.Contains(p.Name, "1."+attn) {
					t.Errorf("teacher attention param %s is in the student", p.Name)
				}
				if strings.Contains(p.Name, "0."+attn) {
					l0Attn++
				}
				if strings.HasPrefix(p.Name, mix) {
					l1Mixer++
					noDecay[strings.TrimPrefix(p.Name, mix)] = p.NoDecay
				}
			}
			if l0Attn == 0 {
				t.Errorf("layer 0 has no attention params")
			}
			specs, err := mamba2.Mixer{}.Params(ctx, mixer.Layer{Config: cfgVal, Dims: teacherDims(teacher, 1)})
			if err != nil {
				t.Fatal(err)
			}
			if l1Mixer != len(specs) {
				t.Errorf("layer 1 has %d mixer params, the mixer declares %d", l1Mixer, len(specs))
			}
			for _, s := range specs {
				if nd, ok := noDecay[s.Name]; !ok || nd != s.NoDecay {
					t.Errorf("mixer param %s: in student %v, NoDecay %v; spec NoDecay %v", s.Name, ok, nd, s.NoDecay)
				}
			}

			// Perturbed params, so that no value is trivially its init.
			r := rand.New(rand.NewPCG(1, 2))
			params := map[string]*graph.Tensor{}
			for _, p := range lm.Params {
				v := p.Init.Clone()
				for i := range v.F32 {
					v.F32[i] += float32(0.05 * r.NormFloat64())
				}
				params[p.Name] = v
			}
			want := runLogits(t, b, lm, params)
			for _, v := range want.F32 {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("logits not finite: %v", v)
				}
			}

			cfgJSON, err := MarshalMixerConfig(cfgVal)
			if err != nil {
				t.Fatal(err)
			}
			infos := map[int]StudentLayerInfo{1: {Name: "mamba2", Version: mamba2.Version, Config: cfgJSON}}
			tokDir := t.TempDir()
			tok := []byte(`{"model": {"type": "BPE"}}`)
			if err := os.WriteFile(filepath.Join(tokDir, "tokenizer.json"), tok, 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "student")
			if err := SaveStudent(dir, teacher, infos, params, tokDir); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(filepath.Join(dir, "tokenizer.json")); err != nil || !bytes.Equal(got, tok) {
				t.Errorf("tokenizer.json not copied: %q, %v", got, err)
			}

			cfg2, infos2, folder, err := LoadStudent(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer folder.Close()
			if got := fmt.Sprint(cfg2.FamilyConfig()); got != fmt.Sprint(teacher.FamilyConfig()) {
				t.Errorf("config reads back as %s, saved %s", got, fmt.Sprint(teacher.FamilyConfig()))
			}
			if len(infos2) != 1 || infos2[1].Name != "mamba2" {
				t.Fatalf("mixer infos read back as %+v", infos2)
			}
			b2 := graph.NewBuilder()
			lm2, err := BuildStudent(ctx, b2, cfg2, mixersFromInfos(t, infos2), graph.F32, studentBatch, studentSeqLen, studentSeed+1)
			if err != nil {
				t.Fatal(err)
			}
			loaded, err := LoadWeights(lm2, folder)
			if err != nil {
				t.Fatal(err)
			}
			got := runLogits(t, b2, lm2, loaded)
			if len(got.F32) != len(want.F32) {
				t.Fatalf("logits have %d values, expected %d", len(got.F32), len(want.F32))
			}
			for i := range want.F32 {
				if math.Float32bits(got.F32[i]) != math.Float32bits(want.F32[i]) {
					t.Fatalf("logits[%d]: loaded %v, saved %v", i, got.F32[i], want.F32[i])
				}
			}
		})
	}
}

// A saved student missing one mixer param fails LoadWeights with an error
// naming it.
func TestStudentMissingMixerParam(t *testing.T) {
	ctx := context.Background()
	teacher := teacherConfig(t, FamilyLlama)
	cfgVal := mamba2Config(headDim(teacher))
	mixers := map[int]LayerMixer{1: {Mixer: mamba2.Mixer{}, Layer: mixer.Layer{Config: cfgVal}}}
	lm, err := BuildStudent(ctx, graph.NewBuilder(), teacher, mixers, graph.F32, studentBatch, studentSeqLen, studentSeed)
	if err != nil {
		t.Fatal(err)
	}
	const missing = "model.layers.1.mixer.out_proj.weight"
	params := map[string]*graph.Tensor{}
	for _, p := range lm.Params {
		if p.Name != missing {
			params[p.Name] = p.Init
		}
	}
	if len(params) != len(lm.Params)-1 {
		t.Fatalf("the student has no param %s", missing)
	}
	cfgJSON, err := MarshalMixerConfig(cfgVal)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := SaveStudent(dir, teacher, map[int]StudentLayerInfo{1: {Name: "mamba2", Version: mamba2.Version, Config: cfgJSON}}, params, ""); err != nil {
		t.Fatal(err)
	}
	cfg2, infos, folder, err := LoadStudent(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	lm2, err := BuildStudent(ctx, graph.NewBuilder(), cfg2, mixersFromInfos(t, infos), graph.F32, studentBatch, studentSeqLen, studentSeed)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadWeights(lm2, folder)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("LoadWeights: %v, expected an error naming %s", err, missing)
	}
}

// A mixer for a layer the model does not have, and a folder without the
// "mohawk" object, are errors.
func TestStudentBadInputs(t *testing.T) {
	teacher := teacherConfig(t, FamilyLlama)
	mixers := map[int]LayerMixer{5: {Mixer: mamba2.Mixer{}, Layer: mixer.Layer{Config: mamba2Config(8)}}}
	if _, err := BuildStudent(context.Background(), graph.NewBuilder(), teacher, mixers, graph.F32, 1, 8, 1); err == nil || !strings.Contains(err.Error(), "layer 5") {
		t.Errorf("mixer for layer 5 of 2: %v", err)
	}
	if _, _, _, err := LoadStudent(filepath.Join("testdata", FamilyLlama)); err == nil || !strings.Contains(err.Error(), "mohawk") {
		t.Errorf("teacher folder loaded as a student: %v", err)
	}
}
