// Decoding of the pipeline's blocks (backend, plugin, teacher, student,
// dataset) into the Pipeline, with defaults and the static checks that
// belong to one block.

package pipeline

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// hfConfigName is the file a Hugging Face model folder must have.
const hfConfigName = "config.json"

const (
	maxInt   = math.MaxInt32 // counts that index arrays (threads, seq_len, micro_batch)
	maxInt64 = math.MaxInt64
	noLimit  = math.MaxFloat64
)

// declareHandles records the names of teacher, student and dataset blocks
// before anything is decoded, so any block may refer to any other, and puts
// their handles in the evaluation context.
func (l *loader) declareHandles(blocks map[string]hcl.Blocks) {
	for _, ns := range []string{nsTeacher, nsStudent, nsDataset} {
		l.handles[ns] = map[string]bool{}
		vals := map[string]cty.Value{}
		for _, b := range blocks[ns] {
			name := b.Labels[0]
			if !hclsyntax.ValidIdentifier(name) {
				continue // reported when the block is decoded
			}
			l.handles[ns][name] = true
			vals[name] = cty.StringVal(ns + "." + name)
		}
		l.ctx.Variables[ns] = cty.ObjectVal(vals)
	}
}

// named filters blocks to those with a valid, first-seen name, reporting the
// others; kind is the block type.
func (l *loader) named(kind string, blocks hcl.Blocks) hcl.Blocks {
	seen := map[string]hcl.Range{}
	var out hcl.Blocks
	for _, b := range blocks {
		name := b.Labels[0]
		if !l.validName(kind, name, b.LabelRanges[0]) {
			continue
		}
		if prev, dup := seen[name]; dup {
			l.duplicate(kind, name, b.DefRange, prev)
			continue
		}
		seen[name] = b.DefRange
		out = append(out, b)
	}
	return out
}

// content decodes a block body against its schema, collecting diagnostics;
// the attributes are empty (not nil) when the body is unusable.
func (l *loader) content(body hcl.Body, schema *hcl.BodySchema) *hcl.BodyContent {
	c, diags := body.Content(schema)
	l.diags = append(l.diags, diags...)
	if c == nil {
		c = &hcl.BodyContent{Attributes: hcl.Attributes{}}
	}
	return c
}

// single returns the only block of a kind that may appear once, reporting
// the others.
func (l *loader) single(kind string, blocks hcl.Blocks) *hcl.Block {
	if len(blocks) == 0 {
		return nil
	}
	for _, b := range blocks[1:] {
		l.errorf(b.DefRange.Ptr(), "Duplicate "+kind+" block", "Only one %s block is allowed; the first is at %s.", kind, shortRange(blocks[0].DefRange))
	}
	return blocks[0]
}

func (l *loader) decodeBackend(blocks hcl.Blocks) {
	l.p.Backend = Backend{Name: "cpu"}
	b := l.single("backend", blocks)
	if b == nil {
		return
	}
	c := l.content(b.Body, backendSchema)
	l.p.Backend = Backend{
		Name:    b.Labels[0],
		Threads: int(l.integer(c.Attributes, "threads", 0, 0, maxInt)),
		Device:  l.str(c.Attributes, "device", ""),
		Range:   b.DefRange,
	}
}

func (l *loader) decodePlugins(blocks hcl.Blocks) {
	seen := map[string]hcl.Range{}
	for _, b := range blocks {
		kind, name := b.Labels[0], b.Labels[1]
		c := l.content(b.Body, pluginSchema)
		if !contains(pluginKinds, kind) {
			l.errorf(b.LabelRanges[0].Ptr(), "Invalid plugin kind", "A plugin's kind must be one of %s; found %q.%s",
				quoteAll(pluginKinds), kind, didYouMean(kind, pluginKinds))
			continue
		}
		key := kind + " " + name
		if prev, dup := seen[key]; dup {
			l.duplicate(kind+" plugin", name, b.DefRange, prev)
			continue
		}
		seen[key] = b.DefRange
		pl := Plugin{Kind: kind, Name: name, Path: resolve(l.p.Dir, l.str(c.Attributes, "path", "")), Range: b.DefRange}
		if sum, attr, ok := l.typed(c.Attributes, "sha256", cty.String); ok {
			s := strings.ToLower(strings.TrimSpace(sum.AsString()))
			if _, err := hex.DecodeString(s); err != nil || len(s) != 64 {
				l.errorf(attr.Expr.Range().Ptr(), "Invalid sha256", "sha256 must be 64 hexadecimal digits; found %q.", sum.AsString())
			}
			pl.SHA256 = s
		}
		l.p.Plugins = append(l.p.Plugins, pl)
	}
}

func (l *loader) decodeTeachers(blocks hcl.Blocks) map[string]*Teacher {
	teachers := map[string]*Teacher{}
	for _, b := range l.named("teacher", blocks) {
		c := l.content(b.Body, teacherSchema)
		t := &Teacher{Name: b.Labels[0], Seed: l.seed(c.Attributes), Range: b.DefRange}
		teachers[t.Name] = t
		l.p.Teachers = append(l.p.Teachers, t)
		ckAttr, cfgAttr := c.Attributes["checkpoint"], c.Attributes["config"]
		switch {
		case ckAttr != nil && cfgAttr != nil:
			l.errorf(cfgAttr.NameRange.Ptr(), "Conflicting teacher source",
				"Teacher %q sets both checkpoint and config; use checkpoint for a pretrained folder or config to build one from scratch.", t.Name)
		case ckAttr == nil && cfgAttr == nil:
			l.errorf(b.DefRange.Ptr(), "Missing teacher source",
				"Teacher %q needs checkpoint (a Hugging Face folder) or config (Hugging Face config keys, to build one from scratch).", t.Name)
		case ckAttr != nil:
			if v, attr, ok := l.typed(c.Attributes, "checkpoint", cty.String); ok {
				t.Checkpoint = resolve(l.p.Dir, v.AsString())
				l.checkModelFolder(t.Checkpoint, attr.Expr.Range(), "checkpoint")
			}
		default:
			t.Config = l.hfConfig(c.Attributes)
		}
	}
	return teachers
}

// checkModelFolder reports a model folder that does not exist or lacks
// config.json; whether the config makes sense is the engine's to check.
func (l *loader) checkModelFolder(dir string, rng hcl.Range, name string) bool {
	info, err := os.Stat(dir)
	switch {
	case err != nil:
		l.errorf(rng.Ptr(), "Model folder not found", "%s: the folder %s does not exist.", name, dir)
	case !info.IsDir():
		l.errorf(rng.Ptr(), "Model folder not found", "%s: %s is a file; expected a Hugging Face model folder.", name, dir)
	default:
		if _, err := os.Stat(filepath.Join(dir, hfConfigName)); err != nil {
			l.errorf(rng.Ptr(), "Missing config.json", "%s: the folder %s has no %s; expected a Hugging Face model folder.", name, dir, hfConfigName)
		} else {
			return true
		}
	}
	return false
}

// hfConfig decodes a teacher's config object to JSON-shaped Go values, the
// form config.json has.
func (l *loader) hfConfig(attrs hcl.Attributes) map[string]any {
	v, attr, ok := l.value(attrs, "config")
	if !ok {
		return nil
	}
	rng := attr.Expr.Range()
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		l.errorf(rng.Ptr(), "Incorrect attribute value type", "config must be an object of Hugging Face config.json keys; found %s.", valueWord(v))
		return nil
	}
	raw, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		l.errorf(rng.Ptr(), "Invalid config", "config cannot be written as JSON: %s.", err)
		return nil
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		l.errorf(rng.Ptr(), "Invalid config", "config cannot be written as JSON: %s.", err)
		return nil
	}
	if mt, _ := cfg["model_type"].(string); mt == "" {
		l.errorf(rng.Ptr(), "Missing model_type", "config must set model_type (phi, llama or gpt2), as config.json does.")
	}
	return cfg
}

func (l *loader) seed(attrs hcl.Attributes) uint64 {
	return uint64(l.integer(attrs, "seed", defaultSeed, 0, maxInt64))
}

func (l *loader) decodeStudents(blocks hcl.Blocks, teachers map[string]*Teacher) map[string]*Student {
	students := map[string]*Student{}
	for _, b := range l.named("student", blocks) {
		c := l.content(b.Body, studentSchema)
		s := &Student{Name: b.Labels[0], Seed: l.seed(c.Attributes), InitFrom: "teacher", Range: b.DefRange}
		students[s.Name] = s
		l.p.Students = append(l.p.Students, s)

		if c.Attributes["teacher"] != nil {
			if h, _, ok := l.ref(c.Attributes, "teacher", nsTeacher); ok {
				s.Teacher = teachers[strings.TrimPrefix(h, nsTeacher+".")]
			}
		} else {
			switch len(l.p.Teachers) {
			case 0:
				if len(l.handles[nsTeacher]) == 0 { // else the teacher blocks had errors of their own
					l.errorf(b.DefRange.Ptr(), "Missing teacher", "Student %q needs a teacher, and the pipeline has no teacher block.", s.Name)
				}
			case 1:
				s.Teacher = l.p.Teachers[0]
			default:
				l.errorf(b.DefRange.Ptr(), "Ambiguous teacher", "Student %q must say which teacher it distills (teacher = teacher.<name>); the pipeline declares %s.",
					s.Name, strings.Join(teacherNames(l.p.Teachers), ", "))
			}
		}
		l.decodeInitFrom(s, c.Attributes)
		l.decodeMixers(s, c.Blocks)
	}
	return students
}

func teacherNames(ts []*Teacher) []string {
	var names []string
	for _, t := range ts {
		names = append(names, nsTeacher+"."+t.Name)
	}
	return names
}

// decodeInitFrom reads init_from: "teacher", "scratch" or a saved student's
// folder.
func (l *loader) decodeInitFrom(s *Student, attrs hcl.Attributes) {
	v, attr, ok := l.typed(attrs, "init_from", cty.String)
	if !ok {
		return
	}
	from := v.AsString()
	if contains(initFroms, from) {
		s.InitFrom = from
		return
	}
	dir := resolve(l.p.Dir, from)
	if _, err := os.Stat(dir); err != nil {
		if hint := didYouMean(from, initFroms); hint != "" {
			l.errorf(attr.Expr.Range().Ptr(), "Invalid value for init_from",
				"init_from must be \"teacher\", \"scratch\" or a saved student's folder; found %q, which is not a folder.%s", from, hint)
			return
		}
	}
	if l.checkModelFolder(dir, attr.Expr.Range(), "init_from") {
		s.InitFrom = dir
	}
}

// decodeMixers reads a student's mixer blocks: their layer selections here,
// the rest left for the mixer's own schema.
func (l *loader) decodeMixers(s *Student, blocks hcl.Blocks) {
	if len(blocks) == 0 {
		l.errorf(s.Range.Ptr(), "Missing mixer", "Student %q has no mixer block; a student replaces the attention of some layers with a mixer, e.g. mixer \"mamba2\" { layers = \"all\" }.", s.Name)
		return
	}
	known := append([]string(nil), builtinMixers...)
	for _, pl := range l.p.Plugins {
		if pl.Kind == "mixer" {
			known = append(known, pl.Name)
		}
	}
	owner := map[int]*MixerBlock{} // layer → the mixer block that took it
	var all *MixerBlock
	for _, b := range blocks {
		content, remain, diags := b.Body.PartialContent(mixerSchema)
		l.diags = append(l.diags, diags...)
		m := &MixerBlock{Name: b.Labels[0], Body: remain, EvalContext: l.ctx, Range: b.DefRange, LayersRange: b.DefRange}
		if !contains(known, m.Name) {
			// An external plugin found on disk may have this name; only the engine knows.
			if s := suggest(m.Name, known); s != "" {
				l.warnf(b.LabelRanges[0].Ptr(), "Unknown mixer",
					"%q is not a built-in mixer or a plugin declared in this file. Did you mean %q?", m.Name, s)
			}
		}
		if content != nil {
			m.Layers = l.layers(content.Attributes, m)
		}
		l.checkBodyReferences(b.Body, "layers")
		s.Mixers = append(s.Mixers, m)

		// Two mixers must not claim one layer.
		if m.Layers == nil {
			if len(s.Mixers) > 1 {
				l.errorf(m.LayersRange.Ptr(), "Overlapping mixers", "This mixer takes every layer, but student %q has other mixer blocks; give each a list of layers.", s.Name)
			}
			all = m
			continue
		}
		if all != nil && all != m {
			l.errorf(m.LayersRange.Ptr(), "Overlapping mixers", "The mixer at %s already takes every layer of student %q.", shortRange(all.Range), s.Name)
			continue
		}
		for _, layer := range m.Layers {
			if prev := owner[layer]; prev != nil {
				l.errorf(m.LayersRange.Ptr(), "Overlapping mixers", "Layer %d is already given to the mixer at %s.", layer, shortRange(prev.Range))
				break
			}
			owner[layer] = m
		}
	}
}

// checkBodyReferences checks the references in a body the engine decodes
// later (a mixer's), so a typo there gets a "did you mean" too.
func (l *loader) checkBodyReferences(body hcl.Body, skip string) {
	syn, ok := body.(*hclsyntax.Body)
	if !ok {
		return
	}
	names := make([]string, 0, len(syn.Attributes))
	for name := range syn.Attributes {
		names = append(names, name)
	}
	sort.Strings(names) // diagnostics in a stable order
	for _, name := range names {
		if name != skip {
			l.checkReferences(syn.Attributes[name].Expr)
		}
	}
	for _, b := range syn.Blocks {
		l.checkBodyReferences(b.Body, "")
	}
}

// layers reads a layer selection: "all" (nil), one layer index, or a list.
// Whether the indices exist in the teacher is the engine's check.
func (l *loader) layers(attrs hcl.Attributes, m *MixerBlock) []int {
	v, attr, ok := l.value(attrs, "layers")
	if !ok {
		return nil
	}
	rng := attr.Expr.Range()
	m.LayersRange = rng
	ty := v.Type()
	switch {
	case ty == cty.String:
		if s := v.AsString(); s != "all" {
			l.errorf(rng.Ptr(), "Invalid layers", "layers must be \"all\", a layer index or a list of layer indices; found %q.%s", s, didYouMean(s, []string{"all"}))
		}
		return nil
	case ty == cty.Number:
		n, ok := l.layerIndex(v, rng)
		if !ok {
			return nil
		}
		return []int{n}
	case ty.IsTupleType() || ty.IsListType() || ty.IsSetType():
		var out []int
		seen := map[int]bool{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() || e.Type() != cty.Number {
				l.errorf(rng.Ptr(), "Invalid layers", "layers must be a list of layer indices; found an element that is %s.", valueWord(e))
				return nil
			}
			n, ok := l.layerIndex(e, rng)
			if !ok {
				return nil
			}
			if seen[n] {
				l.errorf(rng.Ptr(), "Invalid layers", "Layer %d is listed twice.", n)
				return nil
			}
			seen[n] = true
			out = append(out, n)
		}
		if len(out) == 0 {
			l.errorf(rng.Ptr(), "Invalid layers", "layers is empty; list at least one layer index, or \"all\".")
			return nil
		}
		sort.Ints(out)
		return out
	}
	l.errorf(rng.Ptr(), "Invalid layers", "layers must be \"all\", a layer index or a list of layer indices; found %s.", valueWord(v))
	return nil
}

func (l *loader) layerIndex(v cty.Value, rng hcl.Range) (int, bool) {
	n, ok := l.toInt(v, "a layer index", rng)
	if !ok {
		return 0, false
	}
	if n < 0 || n > maxInt {
		l.errorf(rng.Ptr(), "Invalid layers", "A layer index must be 0 or more (layers count from 0); found %d.", n)
		return 0, false
	}
	return int(n), true
}

func (l *loader) decodeDatasets(blocks hcl.Blocks) map[string]*Dataset {
	datasets := map[string]*Dataset{}
	for _, b := range l.named("dataset", blocks) {
		c := l.content(b.Body, datasetSchema)
		a := c.Attributes
		d := &Dataset{
			Name:       b.Labels[0],
			SeqLen:     int(l.integer(a, "seq_len", 0, 1, maxInt)),
			Validation: l.number(a, "validation", defaultValidation, 0, 1),
			MaxTokens:  l.integer(a, "max_tokens", 0, 0, maxInt64),
			CacheDir:   resolve(l.p.Dir, l.str(a, "cache_dir", filepath.Join(".mohawk", "cache"))),
			Range:      b.DefRange,
		}
		datasets[d.Name] = d
		l.p.Datasets = append(l.p.Datasets, d)
		if d.Validation >= 1 {
			l.errorf(a["validation"].Expr.Range().Ptr(), "Value out of range", "validation is the fraction of sequences held out and must be below 1; found %g.", d.Validation)
		}

		// Exactly one source.
		var sources []string
		for _, n := range []string{"files", "jsonl", "dir"} {
			if a[n] != nil {
				sources = append(sources, n)
			}
		}
		switch len(sources) {
		case 0:
			l.errorf(b.DefRange.Ptr(), "Missing dataset source", "Dataset %q needs one of files (paths or globs), jsonl (with field) or dir (with ext).", d.Name)
		case 1:
		default:
			l.errorf(a[sources[1]].NameRange.Ptr(), "Conflicting dataset sources", "Dataset %q sets %s; use only one of files, jsonl and dir.", d.Name, strings.Join(sources, " and "))
		}
		if files, ok := l.strList(a, "files"); ok {
			for _, f := range files {
				d.Files = append(d.Files, resolve(l.p.Dir, f)) // a glob keeps its pattern, made absolute
			}
			if len(d.Files) == 0 {
				l.errorf(a["files"].Expr.Range().Ptr(), "Empty files", "files lists no paths or globs.")
			}
		}
		d.JSONL = resolve(l.p.Dir, l.str(a, "jsonl", ""))
		d.Field = l.str(a, "field", "")
		if d.JSONL != "" && d.Field == "" {
			d.Field = "text"
		}
		if a["field"] != nil && a["jsonl"] == nil {
			l.errorf(a["field"].NameRange.Ptr(), "Misplaced field", "field names the text field of jsonl files, and dataset %q sets no jsonl.", d.Name)
		}
		d.Dir = resolve(l.p.Dir, l.str(a, "dir", ""))
		d.Ext = l.str(a, "ext", "")
		if a["ext"] != nil && a["dir"] == nil {
			l.errorf(a["ext"].NameRange.Ptr(), "Misplaced ext", "ext filters the files of dir, and dataset %q sets no dir.", d.Name)
		}
		if d.Dir != "" {
			if info, err := os.Stat(d.Dir); err != nil || !info.IsDir() {
				l.errorf(a["dir"].Expr.Range().Ptr(), "Folder not found", "dir: %s is not a folder.", d.Dir)
			}
		}
		d.Tokenizer = l.tokenizer(a)
	}
	return datasets
}

// tokenizer reads "bytes", "teacher" or a tokenizer.json path.
func (l *loader) tokenizer(attrs hcl.Attributes) string {
	v, attr, ok := l.typed(attrs, "tokenizer", cty.String)
	if !ok {
		return "bytes"
	}
	s := v.AsString()
	if contains(tokenizers, s) {
		return s
	}
	path := resolve(l.p.Dir, s)
	if info, err := os.Stat(path); err != nil || info.IsDir() {
		l.errorf(attr.Expr.Range().Ptr(), "Invalid tokenizer",
			"tokenizer must be \"bytes\", \"teacher\" or the path of a tokenizer.json; found %q, which is not a file.%s", s, didYouMean(s, tokenizers))
		return ""
	}
	return path
}

func (l *loader) decodeOutput(blocks hcl.Blocks, path string) {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	l.p.Output.Dir = filepath.Join(l.p.Dir, "runs", base)
	for _, s := range l.p.Students {
		l.p.Output.Save = append(l.p.Output.Save, nsStudent+"."+s.Name)
	}
	b := l.single("output", blocks)
	if b == nil {
		return
	}
	c := l.content(b.Body, outputSchema)
	if dir := l.str(c.Attributes, "dir", ""); dir != "" {
		l.p.Output.Dir = resolve(l.p.Dir, dir)
	}
	if save, ok := l.strList(c.Attributes, "save"); ok {
		l.p.Output.Save = nil
		for _, h := range save {
			if l.checkHandle(h, c.Attributes["save"].Expr.Range(), "each element of save", []string{nsStudent, nsTeacher}) {
				l.p.Output.Save = append(l.p.Output.Save, h)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
