package models

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/backends/cpu"
	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// fixtureLogits runs the model of a Hugging Face folder (testdata/<family>,
// made by reference/make_model_fixtures.py) on the CPU backend in float32
// over the fixture's input ids; it returns the logits and the reference's.
func fixtureLogits(t *testing.T, dir string) (got, want *graph.Tensor, family string) {
	t.Helper()
	folder, err := checkpoint.LoadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	cfg, err := ConfigFromHF(folder)
	if err != nil {
		t.Fatal(err)
	}
	io, err := checkpoint.Open(filepath.Join(dir, "io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	ids, err := io.Tensor("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	want, err = io.Tensor("logits")
	if err != nil {
		t.Fatal(err)
	}
	batch, seq := ids.Shape[0], ids.Shape[1]
	b := graph.NewBuilder()
	lm, err := cfg.Build(b, graph.F32, batch, seq, 1)
	if err != nil {
		t.Fatal(err)
	}
	b.Output("logits", lm.Logits)
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	weights, err := LoadWeights(lm, folder)
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New(cpu.Options{})
	defer be.Close()
	for name, w := range weights {
		if err := be.SetTensor(name, w); err != nil {
			t.Fatal(err)
		}
	}
	prog, err := be.Compile(g)
	if err != nil {
		t.Fatal(err)
	}
	tokens := graph.NewTensor(graph.I32, batch, seq)
	for i := range tokens.I32 {
		tokens.I32[i] = int32(ids.At(i))
	}
	out, err := prog.Run(map[string]*graph.Tensor{"tokens": tokens})
	if err != nil {
		t.Fatal(err)
	}
	return out["logits"], want, cfg.Family
}

// Each family's float32 logits match PyTorch's (computed in float64 from the
// same float32 weights) within 1e-4 of the largest |logit|. llama3 is a
// Llama with Llama 3.1 rope scaling (rope_parameters, rope_type llama3) and
// a tied head.
func TestHFParity(t *testing.T) {
	for _, c := range []struct{ dir, family string }{
		{FamilyPhi, FamilyPhi}, {FamilyLlama, FamilyLlama}, {FamilyGPT2, FamilyGPT2}, {"llama3", FamilyLlama},
	} {
		fam := c.dir
		t.Run(fam, func(t *testing.T) {
			got, want, family := fixtureLogits(t, filepath.Join("testdata", fam))
			if family != c.family {
				t.Fatalf("family %q, expected %q", family, c.family)
			}
			if !sameShape(want.Shape, got.Shape) {
				t.Fatalf("logits %v, expected %v", got.Shape, want.Shape)
			}
			scale, worst := 0.0, 0.0
			for i := 0; i < want.Len(); i++ {
				scale = math.Max(scale, math.Abs(want.At(i)))
			}
			for i := 0; i < want.Len(); i++ {
				d := math.Abs(got.At(i) - want.At(i))
				if !(d <= worst) {
					worst = d
				}
			}
			rel := worst / scale
			t.Logf("%s: max |Δlogit| %.3g, max |logit| %.3g, relative %.3g", fam, worst, scale, rel)
			if !(rel <= 1e-4) {
				t.Fatalf("relative error %.3g exceeds 1e-4", rel)
			}
		})
	}
}

// copyFixture copies testdata/<family> into a temporary folder.
func copyFixture(t *testing.T, family string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("testdata", family)
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		raw, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadError builds the folder's model and loads its weights; the first error.
func loadError(dir string) error {
	folder, err := checkpoint.LoadFolder(dir)
	if err != nil {
		return err
	}
	defer folder.Close()
	cfg, err := ConfigFromHF(folder)
	if err != nil {
		return err
	}
	lm, err := cfg.Build(graph.NewBuilder(), graph.F32, 2, 11, 1)
	if err != nil {
		return err
	}
	_, err = LoadWeights(lm, folder)
	return err
}

// rewriteWeights replaces model.safetensors of dir by edit's result.
func rewriteWeights(t *testing.T, dir string, edit func(map[string]*graph.Tensor)) {
	t.Helper()
	folder, err := checkpoint.LoadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string]*graph.Tensor{}
	for _, n := range folder.Names() {
		if ts[n], err = folder.Tensor(n); err != nil {
			t.Fatal(err)
		}
	}
	folder.Close()
	edit(ts)
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.SaveFolder(dir, cfg, ts, ""); err != nil {
		t.Fatal(err)
	}
}

func TestHFBadInputs(t *testing.T) {
	expect := func(t *testing.T, err error, parts ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("no error, expected one with %q", parts)
		}
		for _, p := range parts {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q lacks %q", err, p)
			}
		}
		t.Log(err)
	}
	t.Run("no config", func(t *testing.T) {
		dir := copyFixture(t, FamilyLlama)
		if err := os.Remove(filepath.Join(dir, "config.json")); err != nil {
			t.Fatal(err)
		}
		expect(t, loadError(dir), "config.json", dir)
	})
	t.Run("unknown model_type", func(t *testing.T) {
		dir := copyFixture(t, FamilyLlama)
		p := filepath.Join(dir, "config.json")
		raw, _ := os.ReadFile(p)
		raw = []byte(strings.Replace(string(raw), `"model_type": "llama"`, `"model_type": "mistral"`, 1))
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		expect(t, loadError(dir), "model_type mistral in "+p+" is not supported (phi, llama, gpt2)")
	})
	t.Run("misshapen tensor", func(t *testing.T) {
		dir := copyFixture(t, FamilyLlama)
		rewriteWeights(t, dir, func(ts map[string]*graph.Tensor) {
			ts["model.layers.0.self_attn.q_proj.weight"] = graph.NewTensor(graph.F32, 32, 16)
		})
		expect(t, loadError(dir), "model.layers.0.self_attn.q_proj.weight: expected [32,32], found [32,16] in "+filepath.Join(dir, "model.safetensors"))
	})
	t.Run("missing tensor", func(t *testing.T) {
		dir := copyFixture(t, FamilyGPT2)
		rewriteWeights(t, dir, func(ts map[string]*graph.Tensor) { delete(ts, "transformer.h.1.mlp.c_fc.bias") })
		expect(t, loadError(dir), "transformer.h.1.mlp.c_fc.bias: expected [128], missing from "+dir)
	})
}

// A tied Llama head is the embedding: no lm_head.weight parameter, so
// LoadWeights neither needs nor reads one.
func TestLlamaTiedHead(t *testing.T) {
	for _, tie := range []bool{false, true} {
		lm, err := BuildLlama(graph.NewBuilder(), LlamaConfig{Vocab: 64, DModel: 32, Layers: 1, Heads: 4, KVHeads: 2, SeqLen: 5, TieEmbeddings: tie}, graph.F32, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		has := false
		for _, p := range lm.Params {
			has = has || p.Name == "lm_head.weight"
		}
		if has == tie {
			t.Fatalf("tie %v: lm_head.weight present %v", tie, has)
		}
	}
}
