package models

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// teacherWithExtras reads the llama fixture's config.json with extra fields
// added (as real checkpoints have: dtype, token ids, rope_scaling, keys of
// the model's own).
func teacherWithExtras(t *testing.T) (HFConfig, map[string]json.RawMessage) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", FamilyLlama, checkpoint.ConfigName))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	obj["torch_dtype"] = json.RawMessage(`"bfloat16"`)
	obj["bos_token_id"] = json.RawMessage(`128000`)
	obj["eos_token_id"] = json.RawMessage(`[128001, 128009]`)
	obj["rope_scaling"] = json.RawMessage(`null`)
	obj["my_custom_key"] = json.RawMessage(`{"nested": [1, 2.5, "x"], "flag": true}`)
	data, err = json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromJSON(data, "teacher")
	if err != nil {
		t.Fatal(err)
	}
	return cfg, obj
}

// writtenConfig saves a student of cfg (no layer replaced, the params are
// stand-ins) and returns its config.json object.
func writtenConfig(t *testing.T, cfg HFConfig) (string, map[string]json.RawMessage) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "student")
	params := map[string]*graph.Tensor{"w": graph.FromF32([]float32{1, 2}, 2)}
	if err := SaveStudent(dir, cfg, nil, params, ""); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, checkpoint.ConfigName))
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	return dir, obj
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// TestSaveStudentKeepsTeacherFields: every field of the teacher's
// config.json comes back as found, except torch_dtype (the weights are
// saved as float32), plus the "mohawk" object; LoadStudent reads it.
func TestSaveStudentKeepsTeacherFields(t *testing.T) {
	cfg, teacher := teacherWithExtras(t)
	if cfg.Raw == nil || !sameJSON(cfg.Raw["my_custom_key"], teacher["my_custom_key"]) {
		t.Fatalf("Raw not kept: %s", cfg.Raw["my_custom_key"])
	}
	dir, got := writtenConfig(t, cfg)
	for k, v := range teacher {
		want := v
		if k == "torch_dtype" || k == "dtype" {
			want = json.RawMessage(`"float32"`)
		}
		if !sameJSON(got[k], want) {
			t.Errorf("%s: written %s, teacher %s", k, got[k], want)
		}
	}
	if _, ok := got[studentKey]; !ok || len(got) != len(teacher)+1 {
		t.Errorf("written keys: %d, teacher's %d plus %q", len(got), len(teacher), studentKey)
	}
	cfg2, infos, folder, err := LoadStudent(dir)
	if err != nil {
		t.Fatal(err)
	}
	folder.Close()
	if len(infos) != 0 || !reflect.DeepEqual(cfg2.FamilyConfig(), cfg.FamilyConfig()) {
		t.Fatalf("read back %+v, %v", cfg2.FamilyConfig(), infos)
	}
	// Saving a loaded student again gives the same object.
	_, again := writtenConfig(t, cfg2)
	if !reflect.DeepEqual(again, got) {
		t.Errorf("saved twice differs:\n%v\n%v", again, got)
	}
}

// TestSaveStudentChangedConfig: a config changed after reading writes the
// new values over the keys that state them and keeps the others.
func TestSaveStudentChangedConfig(t *testing.T) {
	cfg, teacher := teacherWithExtras(t)
	llama := *cfg.Llama
	llama.SeqLen = 32
	llama.RopeTheta = 1234
	cfg.Llama = &llama
	_, got := writtenConfig(t, cfg)
	if string(got["max_position_embeddings"]) != "32" || string(got["rope_theta"]) != "1234" {
		t.Errorf("max_position_embeddings %s, rope_theta %s", got["max_position_embeddings"], got["rope_theta"])
	}
	for _, k := range []string{"my_custom_key", "bos_token_id", "eos_token_id", "architectures", "hidden_size"} {
		if !sameJSON(got[k], teacher[k]) {
			t.Errorf("%s: written %s, teacher %s", k, got[k], teacher[k])
		}
	}
}

// TestSaveStudentFromScratch: a config built in Go (no Raw) is written from
// its fields alone.
func TestSaveStudentFromScratch(t *testing.T) {
	cfg, _ := teacherWithExtras(t)
	cfg.Raw = nil
	_, got := writtenConfig(t, cfg)
	fresh, err := teacherConfigJSON(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["my_custom_key"]; ok || len(got) != len(fresh)+1 {
		t.Errorf("written %d keys, expected %d and %q", len(got), len(fresh), studentKey)
	}
}

func TestConfigFromJSONErrors(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", FamilyLlama, checkpoint.ConfigName))
	if err != nil {
		t.Fatal(err)
	}
	with := func(key, value string) string {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(base, &obj); err != nil {
			t.Fatal(err)
		}
		if value == "" {
			delete(obj, key)
		} else {
			obj[key] = json.RawMessage(value)
		}
		b, _ := json.Marshal(obj)
		return string(b)
	}
	cases := []struct{ name, json, want string }{
		{"not an object", `[1]`, "expected a JSON object"},
		{"null", `null`, "expected a JSON object"},
		{"string number", with("hidden_size", `"32"`), `hidden_size: expected a number, found string "32"`},
		{"missing", with("num_hidden_layers", ""), "num_hidden_layers is missing"},
		{"zero", with("num_attention_heads", "0"), "num_attention_heads must be positive, found 0"},
		{"not a multiple", with("hidden_size", "30"), "hidden_size 30 is not a multiple of num_attention_heads 4"},
		{"kv heads", with("num_key_value_heads", "3"), "num_key_value_heads 3 does not divide num_attention_heads 4"},
		{"bool", with("tie_word_embeddings", `"yes"`), "tie_word_embeddings: expected true or false"},
		{"no model_type", with("model_type", ""), "no model_type"},
		{"gpt2 key", `{"model_type": "gpt2", "vocab_size": 10, "n_embd": 8, "n_layer": 1, "n_head": 2}`, "n_positions is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ConfigFromJSON([]byte(c.json), "pipeline.hcl:3,5")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "pipeline.hcl:3,5: ") {
				t.Fatalf("error %v, want one starting with the source and containing %q", err, c.want)
			}
		})
	}
}
