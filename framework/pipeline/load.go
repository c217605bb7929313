// Load and the loader's expression helpers: evaluating attributes to typed Go
// values with diagnostics at the attribute, and checking references first so
// a typo gets a "did you mean".

package pipeline

import (
	"fmt"
	"math/big"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Handle namespaces: a block "teacher" "phi" is referred to as teacher.phi,
// which evaluates to the string "teacher.phi".
const (
	nsVar     = "var"
	nsTeacher = "teacher"
	nsStudent = "student"
	nsDataset = "dataset"
)

var referenceRoots = []string{nsVar, nsTeacher, nsStudent, nsDataset}

// loader carries the state of one Load.
type loader struct {
	p      *Pipeline
	parser *hclparse.Parser
	diags  hcl.Diagnostics
	ctx    *hcl.EvalContext

	vars    map[string]*variable
	handles map[string]map[string]bool // namespace → declared names
}

// Load reads the pipeline file at path with vars. It reports every problem it
// finds, not just the first. The Pipeline is never nil: when diags has errors
// it is partial, good only for p.DiagnosticWriter.
func Load(path string, vars Vars) (p *Pipeline, diags hcl.Diagnostics) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	l := &loader{
		p:       &Pipeline{Path: abs, Dir: filepath.Dir(abs)},
		parser:  hclparse.NewParser(),
		handles: map[string]map[string]bool{},
	}
	l.p.Files = l.parser.Files()
	defer func() {
		// Load promises diagnostics, never a crash, whatever the input.
		if r := recover(); r != nil {
			l.errorf(nil, "Internal error", "reading %s failed unexpectedly: %v; please report this with the pipeline file", path, r)
			p, diags = l.p, l.diags
		}
	}()
	l.load(path, vars)
	return l.p, l.diags
}

// load decodes the file at path, kept as the caller wrote it so diagnostics
// name the file the way the user did.
func (l *loader) load(path string, vars Vars) {
	file := l.parse(path)
	if file == nil {
		return
	}
	content, diags := file.Body.Content(topSchema)
	l.diags = append(l.diags, diags...)
	if content == nil {
		return
	}
	blocks := content.Blocks.ByType()

	l.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{},
		Functions: functions(l.p.Dir, vars.Environ),
	}
	l.decodeVariables(blocks["variable"], vars)
	l.declareHandles(blocks)
	l.decodeBackend(blocks["backend"])
	l.decodePlugins(blocks["plugin"])
	teachers := l.decodeTeachers(blocks["teacher"])
	students := l.decodeStudents(blocks["student"], teachers)
	datasets := l.decodeDatasets(blocks["dataset"])
	l.decodeStages(blocks["stage"], teachers, students, datasets)
	l.decodeEvaluate(blocks["evaluate"], datasets)
	l.decodeOutput(blocks["output"], path)
	if len(l.p.Stages) == 0 && !l.diags.HasErrors() {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "No stages",
			Detail:   "The pipeline has no stage block, so a run has nothing to train.",
			Subject:  file.Body.MissingItemRange().Ptr(),
		})
	}
}

// parse reads an HCL file (or HCL's JSON form, by extension).
func (l *loader) parse(path string) *hcl.File {
	var file *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(path, ".json") {
		file, diags = l.parser.ParseJSONFile(path)
	} else {
		file, diags = l.parser.ParseHCLFile(path)
	}
	l.diags = append(l.diags, diags...)
	if file == nil || file.Body == nil {
		return nil
	}
	return file
}

// errorf adds an error diagnostic at subject (nil: no source position).
func (l *loader) errorf(subject *hcl.Range, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject,
	})
}

// warnf adds a warning diagnostic at subject.
func (l *loader) warnf(subject *hcl.Range, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject,
	})
}

// checkReferences reports every reference in expr that names nothing
// declared, with the closest declared name. hcl's own "Unsupported
// attribute" for teacher.phx would not suggest teacher.phi.
func (l *loader) checkReferences(expr hcl.Expression) bool {
	ok := true
	for _, trav := range expr.Variables() {
		root := trav.RootName()
		rng := trav.SourceRange()
		if root != nsVar && l.handles[root] == nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown reference",
				Detail: fmt.Sprintf("There is nothing named %q here; references are var.<name>, teacher.<name>, student.<name> and dataset.<name>.%s",
					root, didYouMean(root, referenceRoots)),
				Subject: &rng,
			})
			ok = false
			continue
		}
		if len(trav) < 2 {
			continue // the whole namespace object; the type check will say what was expected
		}
		var name string
		switch step := trav[1].(type) {
		case hcl.TraverseAttr:
			name = step.Name
		case hcl.TraverseIndex:
			if step.Key.Type() != cty.String || !step.Key.IsKnown() || step.Key.IsNull() {
				continue
			}
			name = step.Key.AsString()
		default:
			continue
		}
		var declared []string
		if root == nsVar {
			for n := range l.vars {
				declared = append(declared, n)
			}
		} else {
			for n := range l.handles[root] {
				declared = append(declared, n)
			}
		}
		sort.Strings(declared)
		found := false
		for _, n := range declared {
			found = found || n == name
		}
		if found {
			continue
		}
		ok = false
		var detail string
		switch {
		case root == nsVar:
			detail = fmt.Sprintf("There is no variable named %q; declare it with a variable block.", name)
		case len(declared) == 0:
			detail = fmt.Sprintf("There is no %s block named %q; the pipeline declares no %s blocks.", root, name, root)
		default:
			detail = fmt.Sprintf("There is no %s block named %q; declared: %s.", root, name, strings.Join(declared, ", "))
		}
		if s := suggest(name, declared); s != "" {
			detail += fmt.Sprintf(" Did you mean %s.%s?", root, s)
		}
		l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown " + kindWord(root), Detail: detail, Subject: &rng})
	}
	return ok
}

func kindWord(root string) string {
	if root == nsVar {
		return "variable"
	}
	return root
}

// value evaluates an attribute. ok is false when it is absent, null (which
// means "use the default", so conditionals can opt out), or wrong: in the
// last case a diagnostic has been added.
func (l *loader) value(attrs hcl.Attributes, name string) (cty.Value, *hcl.Attribute, bool) {
	attr := attrs[name]
	if attr == nil {
		return cty.NilVal, nil, false
	}
	if !l.checkReferences(attr.Expr) {
		return cty.NilVal, attr, false
	}
	v, diags := attr.Expr.Value(l.ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || v.IsNull() {
		return cty.NilVal, attr, false
	}
	if !v.IsWhollyKnown() {
		// Only a variable without a value is unknown, and that has its
		// own error; a second one here would be noise.
		if !l.diags.HasErrors() {
			l.errorf(attr.Expr.Range().Ptr(), "Unknown value", "%s must be known when the pipeline is read.", name)
		}
		return cty.NilVal, attr, false
	}
	v, _ = v.Unmark()
	return v, attr, true
}

// typed evaluates an attribute and converts it to ty.
func (l *loader) typed(attrs hcl.Attributes, name string, ty cty.Type) (cty.Value, *hcl.Attribute, bool) {
	v, attr, ok := l.value(attrs, name)
	if !ok {
		return cty.NilVal, attr, false
	}
	c, err := convert.Convert(v, ty)
	if err != nil {
		l.errorf(attr.Expr.Range().Ptr(), "Incorrect attribute value type",
			"%s must be %s; found %s.", name, typeWord(ty), valueWord(v))
		return cty.NilVal, attr, false
	}
	return c, attr, true
}

// typeWord says what a type is in an error message.
func typeWord(ty cty.Type) string {
	switch {
	case ty == cty.String:
		return "a string"
	case ty == cty.Number:
		return "a number"
	case ty == cty.Bool:
		return "true or false"
	case ty.IsListType() && ty.ElementType() == cty.String:
		return "a list of strings"
	case ty.IsListType() && ty.ElementType() == cty.Number:
		return "a list of numbers"
	}
	return ty.FriendlyName()
}

// valueWord describes a value found where something else was expected.
func valueWord(v cty.Value) string {
	ty := v.Type()
	switch {
	case ty == cty.String:
		return fmt.Sprintf("the string %q", v.AsString())
	case ty == cty.Number:
		return "the number " + numberWord(v.AsBigFloat())
	case ty == cty.Bool:
		return fmt.Sprintf("%t", v.True())
	case ty.IsTupleType() || ty.IsListType() || ty.IsSetType():
		return "a list"
	case ty.IsObjectType() || ty.IsMapType():
		return "an object"
	}
	return ty.FriendlyName()
}

// str evaluates a string attribute; def when absent.
func (l *loader) str(attrs hcl.Attributes, name, def string) string {
	v, _, ok := l.typed(attrs, name, cty.String)
	if !ok {
		return def
	}
	return v.AsString()
}

// strList evaluates a list-of-strings attribute; a single string is a list of
// one.
func (l *loader) strList(attrs hcl.Attributes, name string) ([]string, bool) {
	v, _, ok := l.value(attrs, name)
	if !ok {
		return nil, false
	}
	if v.Type() == cty.String {
		return []string{v.AsString()}, true
	}
	c, err := convert.Convert(v, cty.List(cty.String))
	if err != nil {
		attr := attrs[name]
		l.errorf(attr.Expr.Range().Ptr(), "Incorrect attribute value type", "%s must be a list of strings; found %s.", name, valueWord(v))
		return nil, false
	}
	out := []string{}
	for it := c.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			l.errorf(attrs[name].Expr.Range().Ptr(), "Incorrect attribute value type", "%s must not contain null.", name)
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

// number evaluates a number attribute within [lo, hi]; def when absent or
// wrong.
func (l *loader) number(attrs hcl.Attributes, name string, def, lo, hi float64) float64 {
	v, attr, ok := l.typed(attrs, name, cty.Number)
	if !ok {
		return def
	}
	f, _ := v.AsBigFloat().Float64()
	if f < lo || f > hi {
		l.errorf(attr.Expr.Range().Ptr(), "Value out of range", "%s must be %s; found %s.", name, rangeWord(lo, hi), numberWord(v.AsBigFloat()))
		return def
	}
	return f
}

// integer evaluates a whole-number attribute within [lo, hi] (2e6 is fine,
// 2.5 is not); def when absent or wrong.
func (l *loader) integer(attrs hcl.Attributes, name string, def, lo, hi int64) int64 {
	v, attr, ok := l.typed(attrs, name, cty.Number)
	if !ok {
		return def
	}
	n, ok := l.toInt(v, name, attr.Expr.Range())
	if !ok {
		return def
	}
	if n < lo || n > hi {
		l.errorf(attr.Expr.Range().Ptr(), "Value out of range", "%s must be %s; found %d.", name, rangeWord(float64(lo), float64(hi)), n)
		return def
	}
	return n
}

// toInt converts a known number to an int64, reporting fractions and
// overflow at rng.
func (l *loader) toInt(v cty.Value, name string, rng hcl.Range) (int64, bool) {
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		l.errorf(rng.Ptr(), "Expected a whole number", "%s must be a whole number; found %s.", name, numberWord(bf))
		return 0, false
	}
	n, acc := bf.Int64()
	if acc != big.Exact {
		l.errorf(rng.Ptr(), "Value out of range", "%s is %s, too large for a 64-bit integer.", name, numberWord(bf))
		return 0, false
	}
	return n, true
}

// numberWord formats a number for a message through float64: big.Float's
// exact decimal form of 1e999999999 would take minutes.
func numberWord(bf *big.Float) string {
	f, _ := bf.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// rangeWord says what range a number must be in.
func rangeWord(lo, hi float64) string {
	const big = 1e300
	switch {
	case hi >= big && lo == 0:
		return "0 or more"
	case hi >= big && lo == 1:
		return "at least 1"
	case hi >= big:
		return fmt.Sprintf("at least %g", lo)
	}
	return fmt.Sprintf("between %g and %g", lo, hi)
}

// enum evaluates a string attribute that must be one of allowed, suggesting
// the closest when it is not.
func (l *loader) enum(attrs hcl.Attributes, name, def string, allowed []string) string {
	v, attr, ok := l.typed(attrs, name, cty.String)
	if !ok {
		return def
	}
	s := v.AsString()
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	l.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+name,
		"%s must be one of %s; found %q.%s", name, quoteAll(allowed), s, didYouMean(s, allowed))
	return def
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// ref evaluates an attribute that must be a handle in one of namespaces
// (teacher.x, student.y, dataset.z), returning the handle string.
func (l *loader) ref(attrs hcl.Attributes, name string, namespaces ...string) (string, *hcl.Attribute, bool) {
	v, attr, ok := l.typed(attrs, name, cty.String)
	if !ok {
		return "", attr, false
	}
	h := v.AsString()
	if l.checkHandle(h, attr.Expr.Range(), name, namespaces) {
		return h, attr, true
	}
	return "", attr, false
}

// checkHandle reports h unless it names a declared block in namespaces.
func (l *loader) checkHandle(h string, rng hcl.Range, name string, namespaces []string) bool {
	ns, label, _ := strings.Cut(h, ".")
	for _, want := range namespaces {
		if ns == want && l.handles[ns][label] {
			return true
		}
	}
	var examples, candidates []string
	for _, want := range namespaces {
		examples = append(examples, want+".<name>")
		for d := range l.handles[want] {
			candidates = append(candidates, want+"."+d)
		}
	}
	// A bare name ("mamba" for student.mamba) is the likeliest slip.
	hint := ""
	for _, c := range candidates {
		if _, bare, _ := strings.Cut(c, "."); bare == h {
			hint = fmt.Sprintf(" Did you mean %s (without quotes)?", c)
		}
	}
	if hint == "" {
		if s := suggest(h, candidates); s != "" {
			hint = fmt.Sprintf(" Did you mean %s?", s)
		}
	}
	l.errorf(rng.Ptr(), "Invalid reference", "%s must be a reference such as %s; found %q.%s",
		name, strings.Join(examples, " or "), h, hint)
	return false
}
