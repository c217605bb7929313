package checkpoint

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

func TestSaveAndLoadFolder(t *testing.T) {
	teacher := t.TempDir()
	os.WriteFile(filepath.Join(teacher, "tokenizer.json"), []byte(`{"model":{}}`), 0o644)
	os.WriteFile(filepath.Join(teacher, "merges.txt"), []byte("a b\n"), 0o644)
	dir := filepath.Join(t.TempDir(), "student")
	cfg := []byte(`{"model_type": "phi", "hidden_size": 4}`)
	in := sampleTensors()
	if err := SaveFolder(dir, cfg, in, teacher); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if want := []string{"config.json", "merges.txt", "model.safetensors", "tokenizer.json"}; !slices.Equal(got, want) {
		t.Fatalf("folder holds %v, want %v", got, want)
	}
	fo, err := LoadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fo.Close()
	if fo.ModelType != "phi" || string(fo.Config) != string(cfg) {
		t.Fatalf("config %q, model type %q", fo.Config, fo.ModelType)
	}
	if len(fo.Names()) != len(in) {
		t.Fatalf("names %v", fo.Names())
	}
	w, err := fo.Tensor("model.embed.weight")
	if err != nil || !slices.Equal(w.F32, in["model.embed.weight"].F32) {
		t.Fatalf("tensor %v, %v", w, err)
	}
	if _, err := fo.Tensor("nope"); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("missing tensor: %v", err)
	}
	if err := SaveFolder(dir, []byte(`not json`), in, ""); err == nil {
		t.Fatal("accepted a config that is not JSON")
	}
}

// shardedFolder writes a folder of two shards and an index.
func shardedFolder(t *testing.T, weightMap map[string]string) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"llama"}`), 0o644)
	if err := Write(filepath.Join(dir, "model-00001-of-00002.safetensors"), map[string]*graph.Tensor{
		"a": graph.FromF32([]float32{1, 2}, 2), "b": graph.FromI32([]int32{3}, 1)}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "model-00002-of-00002.safetensors"), map[string]*graph.Tensor{
		"c": graph.FromF64([]float64{4}, 1)}, nil); err != nil {
		t.Fatal(err)
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 20}, "weight_map": weightMap})
	os.WriteFile(filepath.Join(dir, WeightsIndexName), idx, 0o644)
	return dir
}

func TestShardedFolder(t *testing.T) {
	s1, s2 := "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
	dir := shardedFolder(t, map[string]string{"a": s1, "b": s1, "c": s2})
	fo, err := LoadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fo.ModelType != "llama" || !slices.Equal(fo.Names(), []string{"a", "b", "c"}) {
		t.Fatalf("%q %v", fo.ModelType, fo.Names())
	}
	c, err := fo.Tensor("c")
	if err != nil || c.F32[0] != 4 {
		t.Fatalf("c = %v, %v", c, err)
	}
	b, err := fo.Tensor("b")
	if err != nil || b.I32[0] != 3 {
		t.Fatalf("b = %v, %v", b, err)
	}
	if err := fo.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		wm   map[string]string
		want string
	}{
		{"missing shard", map[string]string{"a": s1, "z": "model-00003.safetensors"}, "names shard model-00003.safetensors which does not exist"},
		{"tensor not in shard", map[string]string{"a": s2}, "tensor a listed in "},
		{"path in shard name", map[string]string{"a": "../x.safetensors"}, "is not a file name"},
		{"empty map", map[string]string{}, "no weight_map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := shardedFolder(t, tc.wm)
			fo, err := LoadFolder(dir)
			if err == nil {
				fo.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %q: want %q and the folder", err, tc.want)
			}
		})
	}
	// The message for a tensor missing from its shard names the shard.
	dir = shardedFolder(t, map[string]string{"a": s2})
	if _, err := LoadFolder(dir); err == nil || !strings.Contains(err.Error(), "is not in shard "+s2) {
		t.Fatalf("error %v", err)
	}
}

func TestFolderErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadFolder(dir); err == nil || err.Error() != "no config.json in "+dir {
		t.Fatalf("error %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": 3}`), 0o644)
	if _, err := LoadFolder(dir); err == nil || !strings.Contains(err.Error(), "model_type") {
		t.Fatalf("error %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{}`), 0o644)
	if _, err := LoadFolder(dir); err == nil || !strings.Contains(err.Error(), "no model.safetensors or model.safetensors.index.json in "+dir) {
		t.Fatalf("error %v", err)
	}
	os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("junk"), 0o644)
	if _, err := LoadFolder(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "model.safetensors")) {
		t.Fatalf("error %v", err)
	}
}
