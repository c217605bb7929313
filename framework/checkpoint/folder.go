package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

// File names of a Hugging Face model folder.
const (
	ConfigName       = "config.json"
	WeightsName      = "model.safetensors"
	WeightsIndexName = "model.safetensors.index.json"
)

// TokenizerFiles are copied by SaveFolder from the teacher's folder when
// present.
var TokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"}

// Folder is an open Hugging Face model folder: config.json and the weights
// in model.safetensors or in shards listed by model.safetensors.index.json
// (model.safetensors wins when both exist, as in transformers).
type Folder struct {
	Dir       string
	Config    json.RawMessage // config.json as written
	ModelType string          // config.json's "model_type", "" if absent

	files []*File
	where map[string]*File
	names []string
}

// LoadFolder opens a model folder and validates every weight file in it.
func LoadFolder(dir string) (*Folder, error) {
	cfg, err := os.ReadFile(filepath.Join(dir, ConfigName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s in %s", ConfigName, dir)
	}
	if err != nil {
		return nil, err
	}
	var head struct {
		ModelType *string `json:"model_type"`
	}
	if !json.Valid(cfg) || !strings.HasPrefix(strings.TrimSpace(string(cfg)), "{") {
		return nil, fmt.Errorf("%s: expected a JSON object", filepath.Join(dir, ConfigName))
	}
	if err := json.Unmarshal(cfg, &head); err != nil {
		return nil, fmt.Errorf("%s: model_type: %v", filepath.Join(dir, ConfigName), err)
	}
	fo := &Folder{Dir: dir, Config: cfg, where: map[string]*File{}}
	if head.ModelType != nil {
		fo.ModelType = *head.ModelType
	}

	single := filepath.Join(dir, WeightsName)
	if _, err := os.Stat(single); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	} else if err == nil {
		f, err := Open(single)
		if err != nil {
			return nil, err
		}
		fo.files = []*File{f}
		fo.names = f.Names()
		for _, n := range fo.names {
			fo.where[n] = f
		}
		return fo, nil
	}
	indexPath := filepath.Join(dir, WeightsIndexName)
	index, err := os.ReadFile(indexPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s or %s in %s", WeightsName, WeightsIndexName, dir)
	}
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(index, &idx); err != nil {
		return nil, fmt.Errorf("%s: expected {\"weight_map\": {tensor: shard}}: %v", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: no weight_map (or an empty one)", indexPath)
	}
	shards := map[string]*File{}
	for name := range idx.WeightMap {
		fo.names = append(fo.names, name)
	}
	sort.Strings(fo.names)
	for _, name := range fo.names {
		shard := idx.WeightMap[name]
		f, ok := shards[shard]
		if !ok {
			if shard == "" || shard == "." || shard == ".." || strings.ContainsAny(shard, `/\`) {
				fo.Close()
				return nil, fmt.Errorf("%s: tensor %q: shard name %q is not a file name in the folder", indexPath, name, shard)
			}
			p := filepath.Join(dir, shard)
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
				fo.Close()
				return nil, fmt.Errorf("%s names shard %s which does not exist in %s", indexPath, shard, dir)
			}
			f, err = Open(p)
			if err != nil {
				fo.Close()
				return nil, err
			}
			shards[shard] = f
			fo.files = append(fo.files, f)
		}
		if f.p.find(name) < 0 {
			fo.Close()
			return nil, fmt.Errorf("tensor %s listed in %s is not in shard %s", name, indexPath, shard)
		}
		fo.where[name] = f
	}
	return fo, nil
}

// Names lists the folder's tensors in sorted order.
func (fo *Folder) Names() []string { return append([]string(nil), fo.names...) }

// Tensor reads one tensor as (*File).Tensor does.
func (fo *Folder) Tensor(name string) (*graph.Tensor, error) {
	f, ok := fo.where[name]
	if !ok {
		return nil, fmt.Errorf("model folder %s: no tensor %q (it has %d tensors%s)", fo.Dir, name, len(fo.names), nearby(fo.names, name))
	}
	return f.Tensor(name)
}

// Info describes one tensor.
func (fo *Folder) Info(name string) (TensorInfo, error) {
	f, ok := fo.where[name]
	if !ok {
		return TensorInfo{}, fmt.Errorf("model folder %s: no tensor %q", fo.Dir, name)
	}
	return f.Info(name)
}

// Close closes every weight file.
func (fo *Folder) Close() error {
	var errs []error
	for _, f := range fo.files {
		errs = append(errs, f.Close())
	}
	fo.files, fo.where = nil, map[string]*File{}
	return errors.Join(errs...)
}

// SaveFolder writes a model folder: model.safetensors, config.json (which
// must be a JSON object) and, when copyFrom is not "", the tokenizer files
// of TokenizerFiles that exist in copyFrom. Each file is written
// atomically; dir is created if needed.
func SaveFolder(dir string, config []byte, tensors map[string]*graph.Tensor, copyFrom string) error {
	if !json.Valid(config) || !strings.HasPrefix(strings.TrimSpace(string(config)), "{") {
		return fmt.Errorf("model folder %s: config is not a JSON object", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := Write(filepath.Join(dir, WeightsName), tensors, nil); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, ConfigName), func(w io.Writer) error {
		_, err := w.Write(config)
		return err
	}); err != nil {
		return err
	}
	if copyFrom == "" {
		return nil
	}
	for _, name := range TokenizerFiles {
		src, err := os.Open(filepath.Join(copyFrom, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		err = writeAtomic(filepath.Join(dir, name), func(w io.Writer) error {
			_, err := io.Copy(w, src)
			return err
		})
		src.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
