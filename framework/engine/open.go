// Open: everything `mohawk validate` needs beyond the HCL itself. It starts
// the backend and every mixer plugin the students name, reads the teachers'
// configs, decodes each mixer block against its plugin's schema and asks the
// plugin for every layer's params, so that a pipeline that cannot run fails
// here, with diagnostics pointing at its blocks, before any work starts.

package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/rs/zerolog"

	"github.com/mohawk-distill/mohawk/framework/checkpoint"
	"github.com/mohawk-distill/mohawk/framework/models"
	"github.com/mohawk-distill/mohawk/framework/pipeline"
	"github.com/mohawk-distill/mohawk/plugins"
	"github.com/mohawk-distill/mohawk/sdk/backend"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// Options configure an Engine.
type Options struct {
	Log zerolog.Logger
	// Progress shows a progress bar on stderr: 1 on, -1 off, 0 when stderr
	// is a terminal. Without the bar, progress is logged to Log.
	Progress int
	// Resume continues a run from the last checkpoint in its output folder.
	Resume bool
	// Stdout receives the tables a run prints (the results at the end);
	// nil discards them.
	Stdout io.Writer

	// PluginExe is the executable that serves the built-in plugins when it
	// is run as "PluginExe plugin serve <kind> <name>"; "" means the
	// running executable (the mohawk command).
	PluginExe string
	// PluginLocations are the folders searched for plugin executables after
	// the pipeline's explicit paths; nil means plugins.DefaultLocations().
	PluginLocations []plugins.Location
	// NoCalibrate makes Plan estimate times from a stated throughput
	// instead of timing one step of each stage on the backend.
	NoCalibrate bool
	// EvalTokens bounds Evaluate's tokens; 0 means DefaultEvalTokens.
	EvalTokens int64
}

// builtinMixers and builtinBackends are the plugins the mohawk executable
// serves itself when no plugin executable of the name is found.
var (
	builtinMixers   = map[string]bool{"attention": true, "mamba2": true, "hybrid": true}
	builtinBackends = map[string]bool{"cpu": true}
)

// Engine is an opened pipeline: its plugins running, its teachers' configs
// read and its students' mixers configured.
type Engine struct {
	p   *pipeline.Pipeline
	opt Options
	log zerolog.Logger

	backendPlugin *plugins.Plugin
	be            backend.Backend
	beInfo        *backend.Info

	mixerPlugins map[string]*plugins.Plugin // by mixer name
	teachers     map[string]*teacherModel   // by teacher name
	students     map[string]*studentModel   // by student name

	// weights holds every model's params on the host, by model ref
	// ("teacher.phi") and param name; resident says which model's param the
	// backend holds under each resident name (see residency in run.go).
	weights  map[string]map[string]*graph.Tensor
	resident map[string]string

	corpora map[string]*corpus // built datasets, by name
	evals   map[string]*evalProgram
}

// teacherModel is a teacher's config and where its weights come from.
type teacherModel struct {
	t      *pipeline.Teacher
	cfg    models.HFConfig
	config []byte             // config.json to save it with
	folder *checkpoint.Folder // nil when built from scratch or when its weights are unreadable
	// weightsErr says why a checkpoint teacher's weights cannot be read:
	// its config alone is enough to validate a pipeline, not to run it.
	weightsErr error
	init       map[string]*graph.Tensor // random initial params of a teacher built from scratch
}

// studentModel is a student's replaced layers.
type studentModel struct {
	s       *pipeline.Student
	teacher *teacherModel
	mixers  map[int]models.LayerMixer
	infos   map[int]models.StudentLayerInfo  // what SaveStudent records per layer
	from    *checkpoint.Folder               // init_from a saved student folder
	strict  bool                             // every param must come from the folder (evaluating it)
	initOut map[int]map[string]*graph.Tensor // InitFromTeacher outputs by layer, once computed
	init    map[string]*graph.Tensor         // random initial values made so far (studentInit)
}

// Open starts the pipeline's backend and mixer plugins, reads the teachers'
// configs and configures every student's mixers, reporting every problem it
// finds as a diagnostic at the block it concerns. On error diagnostics it
// has already stopped what it started.
func Open(ctx context.Context, p *pipeline.Pipeline, opt Options) (*Engine, hcl.Diagnostics) {
	e := newEngine(p, opt)
	finder := e.finder()
	var diags hcl.Diagnostics

	// The backend.
	bp, err := e.launch(ctx, finder, plugins.KindBackend, p.Backend.Name, backendEnv(p.Backend))
	if err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Backend plugin unavailable",
			Detail: err.Error(), Subject: rangePtr(p.Backend.Range)})
	} else {
		e.backendPlugin, e.be, e.beInfo = bp, bp.Backend(), bp.BackendInfo()
	}

	// The teachers.
	for _, t := range p.Teachers {
		tm, d := loadTeacher(t)
		diags = append(diags, d...)
		if tm != nil {
			e.teachers[t.Name] = tm
		}
	}

	// The students: every mixer block's plugin, schema and layers.
	for _, s := range p.Students {
		sm := &studentModel{s: s, mixers: map[int]models.LayerMixer{}, infos: map[int]models.StudentLayerInfo{}}
		if s.Teacher != nil {
			sm.teacher = e.teachers[s.Teacher.Name]
		}
		for _, mb := range s.Mixers {
			diags = append(diags, e.configureMixer(ctx, finder, sm, mb)...)
		}
		if sm.teacher != nil && s.InitFrom != "" && s.InitFrom != "teacher" && s.InitFrom != "scratch" {
			diags = append(diags, e.openStudentFolder(sm)...)
		}
		e.students[s.Name] = sm
	}

	diags = append(diags, e.checkStages(ctx)...)

	// Plugin blocks nothing above launched: their files must still be
	// usable, or the pipeline names something that cannot run.
	for _, pl := range p.Plugins {
		k := plugins.Kind(pl.Kind)
		if (k == plugins.KindBackend && pl.Name == p.Backend.Name) || (k == plugins.KindMixer && e.usesMixer(pl.Name)) {
			continue
		}
		if _, err := finder.Find(k, pl.Name); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Plugin unavailable",
				Detail: err.Error(), Subject: rangePtr(pl.Range)})
		}
	}
	if diags.HasErrors() {
		e.Close()
		return nil, diags
	}
	return e, diags
}

// usesMixer reports whether a student's mixer block names the mixer name.
func (e *Engine) usesMixer(name string) bool {
	for _, s := range e.p.Students {
		for _, mb := range s.Mixers {
			if mb.Name == name {
				return true
			}
		}
	}
	return false
}

func newEngine(p *pipeline.Pipeline, opt Options) *Engine {
	e := &Engine{p: p, opt: opt, log: opt.Log,
		mixerPlugins: map[string]*plugins.Plugin{}, teachers: map[string]*teacherModel{},
		students: map[string]*studentModel{}, weights: map[string]map[string]*graph.Tensor{},
		resident: map[string]string{}, corpora: map[string]*corpus{}, evals: map[string]*evalProgram{}}
	if e.opt.Stdout == nil {
		e.opt.Stdout = io.Discard
	}
	return e
}

// finder searches the pipeline's explicit plugins, then the folders of the
// options.
func (e *Engine) finder() *plugins.Finder {
	f := &plugins.Finder{Locations: e.opt.PluginLocations}
	for _, pl := range e.p.Plugins {
		f.Explicit = append(f.Explicit, plugins.Explicit{Kind: plugins.Kind(pl.Kind), Name: pl.Name, Path: pl.Path, SHA256: pl.SHA256})
	}
	return f
}

// backendEnv passes a backend block's settings to the plugin process through
// its environment: threads as GOMAXPROCS (Go backends size their worker
// pools from it) and MOHAWK_<NAME>_THREADS, the device as
// MOHAWK_<NAME>_DEVICE (MOHAWK_VULKAN_DEVICE for the vulkan backend).
func backendEnv(b pipeline.Backend) []string {
	var env []string
	prefix := "MOHAWK_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(b.Name)) + "_"
	if b.Threads > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(b.Threads), prefix+"THREADS="+strconv.Itoa(b.Threads))
	}
	if b.Device != "" {
		env = append(env, prefix+"DEVICE="+b.Device)
	}
	return env
}

// launch finds and starts the plugin of kind k called name, with env added
// to its environment: an executable found by the finder, else the built-in
// served by the mohawk executable.
func (e *Engine) launch(ctx context.Context, finder *plugins.Finder, k plugins.Kind, name string, env []string) (*plugins.Plugin, error) {
	found, err := finder.Find(k, name)
	if err != nil {
		builtin := (k == plugins.KindMixer && builtinMixers[name]) || (k == plugins.KindBackend && builtinBackends[name])
		if !builtin || explicitFor(finder, k, name) {
			return nil, err
		}
		exe := e.opt.PluginExe
		if exe == "" {
			if exe, err = os.Executable(); err != nil {
				return nil, fmt.Errorf("built-in %s plugin %q: cannot locate the mohawk executable that serves it: %w", k, name, err)
			}
		}
		found = plugins.Builtin(k, name, exe)
	}
	return plugins.Launch(ctx, found, plugins.Options{Logger: e.log, Env: env})
}

// explicitFor reports whether the pipeline gave a path or pin for (k, name):
// then a missing plugin is an error, not a reason to run the built-in.
func explicitFor(f *plugins.Finder, k plugins.Kind, name string) bool {
	for _, x := range f.Explicit {
		if x.Kind == k && x.Name == name {
			return true
		}
	}
	return false
}

// loadTeacher reads a teacher's config from its checkpoint folder or builds
// it from the inline config map.
func loadTeacher(t *pipeline.Teacher) (*teacherModel, hcl.Diagnostics) {
	fail := func(summary string, err error) (*teacherModel, hcl.Diagnostics) {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary,
			Detail: fmt.Sprintf("teacher %q: %v", t.Name, err), Subject: rangePtr(t.Range)}}
	}
	if t.Checkpoint != "" {
		path := filepath.Join(t.Checkpoint, checkpoint.ConfigName)
		raw, err := os.ReadFile(path)
		if err != nil {
			return fail("Teacher checkpoint unreadable", err)
		}
		cfg, err := models.ConfigFromJSON(raw, path)
		if err != nil {
			return fail("Teacher config unsupported", err)
		}
		tm := &teacherModel{t: t, cfg: cfg, config: raw}
		folder, err := checkpoint.LoadFolder(t.Checkpoint)
		if err != nil {
			// Validation needs only the config; a run stops when it first
			// needs the weights.
			tm.weightsErr = err
			return tm, hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Teacher weights unreadable",
				Detail: fmt.Sprintf("teacher %q: %v; its config is valid, but a run needs its weights", t.Name, err), Subject: rangePtr(t.Range)}}
		}
		tm.folder = folder
		return tm, nil
	}
	cfg, raw, err := ConfigFromMap(t.Config)
	if err != nil {
		return fail("Teacher config invalid", err)
	}
	return &teacherModel{t: t, cfg: cfg, config: raw}, nil
}

// ConfigFromMap reads a model config given as Hugging Face config.json keys
// (a teacher's inline config) exactly as ConfigFromHF reads the file, and
// returns the JSON it was read from.
func ConfigFromMap(m map[string]any) (models.HFConfig, []byte, error) {
	if len(m) == 0 {
		return models.HFConfig{}, nil, fmt.Errorf("the config is empty; expected Hugging Face config.json keys such as model_type, vocab_size, hidden_size")
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return models.HFConfig{}, nil, fmt.Errorf("the config cannot be written as JSON: %w", err)
	}
	cfg, err := models.ConfigFromJSON(raw, "the inline config")
	return cfg, raw, err
}

// configureMixer launches the mixer plugin of block mb (once per name),
// decodes its body against the plugin's schema and checks every layer it
// replaces by asking the plugin for the layer's params.
func (e *Engine) configureMixer(ctx context.Context, finder *plugins.Finder, sm *studentModel, mb *pipeline.MixerBlock) hcl.Diagnostics {
	diag := func(summary, detail string, r hcl.Range) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rangePtr(r)}}
	}
	mp, ok := e.mixerPlugins[mb.Name]
	if !ok {
		var err error
		mp, err = e.launch(ctx, finder, plugins.KindMixer, mb.Name, nil)
		if err != nil {
			e.mixerPlugins[mb.Name] = nil // report once per name
			return diag("Mixer plugin unavailable", err.Error(), mb.Range)
		}
		e.mixerPlugins[mb.Name] = mp
	}
	if mp == nil {
		return diag("Mixer plugin unavailable", fmt.Sprintf("the mixer plugin %q could not be started (see above)", mb.Name), mb.Range)
	}
	info := mp.MixerInfo()
	cfgVal, diags := mixer.DecodeConfig(mb.Body, info.Schema, mb.EvalContext)
	if diags.HasErrors() || sm.teacher == nil {
		return diags
	}
	layers := sm.teacher.cfg.Layers()
	sel := mb.Layers
	if sel == nil {
		sel = make([]int, layers)
		for i := range sel {
			sel[i] = i
		}
	}
	raw, err := models.MarshalMixerConfig(cfgVal)
	if err != nil {
		return diag("Mixer configuration not encodable", err.Error(), mb.Range)
	}
	for _, l := range sel {
		if l < 0 || l >= layers {
			return diag("Layer out of range", fmt.Sprintf("layer %d is out of range: teacher %q has layers 0 to %d", l, sm.teacher.t.Name, layers-1), mb.LayersRange)
		}
		if _, dup := sm.mixers[l]; dup {
			return diag("Layer replaced twice", fmt.Sprintf("layer %d of student %q is already given a mixer by an earlier mixer block", l, sm.s.Name), mb.LayersRange)
		}
		layer := mixer.Layer{Config: cfgVal, Dims: sm.teacher.cfg.LayerDims(1, max(teacherSeqLen(sm.teacher.cfg), 1), l, graph.F32)}
		if _, err := mp.Mixer().Params(ctx, layer); err != nil {
			return diag("Mixer rejects the layer", fmt.Sprintf("mixer %q, layer %d of teacher %q: %v", mb.Name, l, sm.teacher.t.Name, err), mb.Range)
		}
		sm.mixers[l] = models.LayerMixer{Mixer: mp.Mixer(), Layer: mixer.Layer{Config: cfgVal}}
		sm.infos[l] = models.StudentLayerInfo{Name: mb.Name, Version: info.Version, Config: raw}
	}
	return diags
}

// openStudentFolder opens the saved student a student starts from and checks
// that it replaces the same layers with the same mixers.
func (e *Engine) openStudentFolder(sm *studentModel) hcl.Diagnostics {
	_, infos, folder, err := models.LoadStudent(sm.s.InitFrom)
	fail := func(detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Student folder unusable", Detail: detail, Subject: rangePtr(sm.s.Range)}}
	}
	if err != nil {
		return fail(fmt.Sprintf("student %q: init_from %s: %v", sm.s.Name, sm.s.InitFrom, err))
	}
	for l, in := range sm.infos {
		if got, ok := infos[l]; !ok || got.Name != in.Name {
			folder.Close()
			return fail(fmt.Sprintf("student %q: init_from %s: layer %d: expected mixer %q, found %q", sm.s.Name, sm.s.InitFrom, l, in.Name, infos[l].Name))
		}
	}
	sm.from = folder
	return nil
}

// Close stops every plugin Open started and closes the checkpoint folders.
// It may be called more than once.
func (e *Engine) Close() {
	if e == nil {
		return
	}
	if e.backendPlugin != nil {
		e.backendPlugin.Close()
		e.backendPlugin = nil
	}
	names := make([]string, 0, len(e.mixerPlugins))
	for n := range e.mixerPlugins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if mp := e.mixerPlugins[n]; mp != nil {
			mp.Close()
		}
	}
	e.mixerPlugins = map[string]*plugins.Plugin{}
	for _, c := range e.corpora {
		c.close()
	}
	e.corpora = map[string]*corpus{}
	for _, t := range e.teachers {
		if t.folder != nil {
			t.folder.Close()
			t.folder = nil
		}
	}
	for _, s := range e.students {
		if s.from != nil {
			s.from.Close()
			s.from = nil
		}
	}
}

// teacherSeqLen is the config's max_position_embeddings.
func teacherSeqLen(c models.HFConfig) int {
	switch {
	case c.Phi != nil:
		return c.Phi.SeqLen
	case c.Llama != nil:
		return c.Llama.SeqLen
	case c.GPT2 != nil:
		return c.GPT2.SeqLen
	}
	return 0
}

func rangePtr(r hcl.Range) *hcl.Range {
	if r.Filename == "" && r.Start.Line == 0 {
		return nil
	}
	return &r
}

// modelRef is the handle of a teacher or student: "teacher.phi".
func modelRef(kind, name string) string { return kind + "." + name }
