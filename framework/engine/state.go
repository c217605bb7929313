// Checkpoints: <out>/checkpoints/<n>/ holds one safetensors file per model
// (the host copy of its params), optimizer.safetensors (the moments of the
// stage in progress) and state.json, written last. Every file is written
// atomically (temporary file, fsync, rename), and a checkpoint counts only
// once its state.json exists, so a checkpoint is complete or absent whatever
// moment the process dies at. Older checkpoints are removed once a newer one
// is complete.

package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/sdk/graph"
)

const (
	stateName     = "state.json"
	optimizerName = "optimizer.safetensors"
	stateVersion  = 1
)

// runState is where a run stands: enough to continue it exactly.
type runState struct {
	Version int `json:"version"`
	// Stage is the index of the stage in progress, or of the next one to
	// run when StageDone.
	Stage     int    `json:"stage"`
	StageName string `json:"stage_name"`
	// Step optimizer steps of Stage are done, Tokens tokens trained.
	Step   int   `json:"step"`
	Tokens int64 `json:"tokens"`
	// DataStep is the position of the stage's batch iterator (micro-batches).
	DataStep int    `json:"data_step"`
	DataSeed uint64 `json:"data_seed"`
	// The loss guard's last finite loss.
	LastLoss     float64 `json:"last_loss"`
	LastLossStep int     `json:"last_loss_step"`
	HaveLoss     bool    `json:"have_loss"`
	// Seconds spent in the stage so far.
	Seconds float64 `json:"seconds"`
	// MetricsBytes is the length of metrics.jsonl when the checkpoint was
	// taken: a resumed run cuts what came after.
	MetricsBytes int64 `json:"metrics_bytes"`
	// Models are the refs whose params the checkpoint holds; Trained the
	// refs some stage has trained.
	Models  []string `json:"models"`
	Trained []string `json:"trained"`
	// Rows are the results so far (evaluations at stage ends).
	Rows []rowJSON `json:"rows"`
	// ModelTokens are the tokens each model has been trained on so far.
	ModelTokens map[string]int64 `json:"model_tokens"`
}

// ckptDir is the checkpoints folder of a run.
func ckptDir(out string) string { return filepath.Join(out, "checkpoints") }

// lastCheckpoint returns the newest complete checkpoint's folder and number,
// or "" when there is none.
func lastCheckpoint(out string) (string, int, error) {
	entries, err := os.ReadDir(ckptDir(out))
	if errors.Is(err, os.ErrNotExist) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	best, bestN := "", -1
	for _, ent := range entries {
		n, err := strconv.Atoi(ent.Name())
		if err != nil || !ent.IsDir() {
			continue
		}
		dir := filepath.Join(ckptDir(out), ent.Name())
		if _, err := os.Stat(filepath.Join(dir, stateName)); err != nil {
			continue // incomplete: the process died while writing it
		}
		if n > bestN {
			best, bestN = dir, n
		}
	}
	return best, bestN, nil
}

// modelFile is the file of a model's params in a checkpoint.
func modelFile(ref string) string { return "model-" + ref + ".safetensors" }

// writeCheckpoint writes checkpoint n: the models' params, the optimizer
// state and, last, state.json; then removes older checkpoints.
func writeCheckpoint(out string, n int, st *runState, weights map[string]map[string]*graph.Tensor, optimizer map[string]*graph.Tensor) (string, error) {
	dir := filepath.Join(ckptDir(out), fmt.Sprintf("%06d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, ref := range st.Models {
		if err := checkpoint.Write(filepath.Join(dir, modelFile(ref)), weights[ref], nil); err != nil {
			return "", fmt.Errorf("checkpoint %s: %w", dir, err)
		}
	}
	if len(optimizer) > 0 {
		if err := checkpoint.Write(filepath.Join(dir, optimizerName), optimizer, nil); err != nil {
			return "", fmt.Errorf("checkpoint %s: %w", dir, err)
		}
	}
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(dir, stateName), append(raw, '\n')); err != nil {
		return "", fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	// The new checkpoint is complete: the older ones are no longer needed.
	entries, _ := os.ReadDir(ckptDir(out))
	for _, ent := range entries {
		if k, err := strconv.Atoi(ent.Name()); err == nil && k < n {
			os.RemoveAll(filepath.Join(ckptDir(out), ent.Name()))
		}
	}
	return dir, nil
}

// readCheckpoint loads a checkpoint's state, models and optimizer state.
func readCheckpoint(dir string) (*runState, map[string]map[string]*graph.Tensor, map[string]*graph.Tensor, error) {
	raw, err := os.ReadFile(filepath.Join(dir, stateName))
	if err != nil {
		return nil, nil, nil, err
	}
	var st runState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateName), err)
	}
	if st.Version != stateVersion {
		return nil, nil, nil, fmt.Errorf("%s: state version %d, expected %d", filepath.Join(dir, stateName), st.Version, stateVersion)
	}
	weights := map[string]map[string]*graph.Tensor{}
	for _, ref := range st.Models {
		m, err := readTensors(filepath.Join(dir, modelFile(ref)))
		if err != nil {
			return nil, nil, nil, err
		}
		weights[ref] = m
	}
	var opt map[string]*graph.Tensor
	if _, err := os.Stat(filepath.Join(dir, optimizerName)); err == nil {
		if opt, err = readTensors(filepath.Join(dir, optimizerName)); err != nil {
			return nil, nil, nil, err
		}
	}
	return &st, weights, opt, nil
}

func readTensors(path string) (map[string]*graph.Tensor, error) {
	f, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]*graph.Tensor{}
	for _, n := range f.Names() {
		t, err := f.Tensor(n)
		if err != nil {
			return nil, err
		}
		out[n] = t
	}
	return out, nil
}

// writeFileAtomic writes data to path through a synced temporary file in the
// same folder renamed over it, then syncs the folder.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
