// Variable blocks and their values from defaults, the environment, var files
// and -var flags, in that order of precedence (later wins).

package pipeline

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// EnvPrefix prefixes environment variables that set pipeline variables:
// MOHAWK_VAR_steps=100 sets var.steps.
const EnvPrefix = "MOHAWK_VAR_"

type variable struct {
	name        string
	ty          cty.Type // cty.DynamicPseudoType for "any" or no type
	value       cty.Value
	set         bool
	description string
	rng         hcl.Range
}

// decodeVariables declares the variable blocks, assigns their values and
// puts them in the evaluation context as var.<name>.
func (l *loader) decodeVariables(blocks hcl.Blocks, vars Vars) {
	l.vars = map[string]*variable{}
	constCtx := &hcl.EvalContext{Functions: l.ctx.Functions} // defaults may call functions but not refer to anything
	for _, b := range blocks {
		name := b.Labels[0]
		if !l.validName("variable", name, b.LabelRanges[0]) {
			continue
		}
		if prev := l.vars[name]; prev != nil {
			l.duplicate("variable", name, b.DefRange, prev.rng)
			continue
		}
		v := &variable{name: name, ty: cty.DynamicPseudoType, rng: b.DefRange}
		l.vars[name] = v
		content, diags := b.Body.Content(variableSchema)
		l.diags = append(l.diags, diags...)
		if content == nil {
			continue
		}
		if attr := content.Attributes["type"]; attr != nil {
			ty, diags := typeexpr.TypeConstraint(attr.Expr)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				v.ty = ty
			}
		}
		if attr := content.Attributes["description"]; attr != nil {
			d, diags := attr.Expr.Value(constCtx)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() && d.Type() == cty.String && d.IsKnown() && !d.IsNull() {
				v.description = d.AsString()
			}
		}
		if attr := content.Attributes["default"]; attr != nil {
			d, diags := attr.Expr.Value(constCtx)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				if c, err := convert.Convert(d, v.ty); err != nil {
					l.errorf(attr.Expr.Range().Ptr(), "Invalid default value",
						"The default of variable %q must be %s: %s.", name, typeWord(v.ty), err)
				} else if !c.IsNull() {
					v.value, v.set = c, true
				}
			}
		}
	}

	l.assignFromEnviron(vars.Environ)
	for _, path := range vars.Files {
		l.assignFromFile(path, constCtx)
	}
	for _, flag := range vars.Flags {
		l.assignFromFlag(flag, constCtx)
	}

	values := map[string]cty.Value{}
	for _, name := range l.varNames() {
		v := l.vars[name]
		if !v.set {
			l.errorf(v.rng.Ptr(), "Missing value for variable",
				"Variable %q has no default and no value; set it with -var %s=..., a -var-file, or %s%s.", name, name, EnvPrefix, name)
			values[name] = cty.DynamicVal // unknown: uses are skipped quietly, this is the one error
			continue
		}
		values[name] = v.value
	}
	l.ctx.Variables[nsVar] = cty.ObjectVal(values)
}

func (l *loader) varNames() []string {
	names := make([]string, 0, len(l.vars))
	for n := range l.vars {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// assignFromEnviron sets variables from MOHAWK_VAR_<name>; variables of other
// names are ignored, since the environment is shared with everything else.
func (l *loader) assignFromEnviron(environ []string) {
	for _, kv := range environ {
		k, raw, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		v := l.vars[strings.TrimPrefix(k, EnvPrefix)]
		if v == nil {
			continue
		}
		l.assignRaw(v, raw, "environment variable "+k)
	}
}

// assignFromFlag sets a variable from one -var name=value.
func (l *loader) assignFromFlag(flag string, constCtx *hcl.EvalContext) {
	name, raw, ok := strings.Cut(flag, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		l.errorf(nil, "Invalid -var option", "-var expects name=value; found %q.", flag)
		return
	}
	v := l.vars[name]
	if v == nil {
		l.errorf(nil, "Undeclared variable",
			"-var %s: the pipeline declares no variable %q.%s", flag, name, didYouMean(name, l.varNames()))
		return
	}
	l.assignRaw(v, raw, "-var "+name)
}

// assignRaw sets v from a command-line or environment string. As in
// Terraform, a value that parses as an HCL literal of the variable's type is
// taken as that (so lists and objects can be given), anything else as a
// string converted to the type (so -var name=phi needs no quotes).
func (l *loader) assignRaw(v *variable, raw, source string) {
	if v.ty != cty.String && v.ty != cty.DynamicPseudoType {
		if expr, diags := hclsyntax.ParseExpression([]byte(raw), source, hcl.InitialPos); !diags.HasErrors() {
			if val, diags := expr.Value(&hcl.EvalContext{Functions: l.ctx.Functions}); !diags.HasErrors() {
				if c, err := convert.Convert(val, v.ty); err == nil && c.IsWhollyKnown() {
					v.value, v.set = c, true
					return
				}
			}
		}
	}
	c, err := convert.Convert(cty.StringVal(raw), v.ty)
	if err != nil {
		l.errorf(nil, "Invalid value for variable", "%s: variable %q must be %s; found %q.", source, v.name, typeWord(v.ty), raw)
		return
	}
	v.value, v.set = c, true
}

// assignFromFile sets variables from a var file of name = value attributes.
func (l *loader) assignFromFile(path string, constCtx *hcl.EvalContext) {
	file := l.parse(path)
	if file == nil {
		return
	}
	// A var file holds only attributes; JustAttributes reports any block in it.
	attrs, diags := file.Body.JustAttributes()
	l.diags = append(l.diags, diags...)
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		attr := attrs[name]
		v := l.vars[name]
		if v == nil {
			l.errorf(attr.NameRange.Ptr(), "Undeclared variable",
				"The pipeline declares no variable %q.%s", name, didYouMean(name, l.varNames()))
			continue
		}
		val, diags := attr.Expr.Value(constCtx)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		c, err := convert.Convert(val, v.ty)
		if err != nil {
			l.errorf(attr.Expr.Range().Ptr(), "Invalid value for variable", "Variable %q must be %s; found %s.", name, typeWord(v.ty), valueWord(val))
			continue
		}
		v.value, v.set = c, true
	}
}

// validName reports a block name that cannot be referred to in expressions.
func (l *loader) validName(kind, name string, rng hcl.Range) bool {
	if hclsyntax.ValidIdentifier(name) {
		return true
	}
	l.errorf(rng.Ptr(), "Invalid name",
		"A %s name must be a valid identifier (letters, digits, underscores and dashes, starting with a letter) so it can be referred to; found %q.", kind, name)
	return false
}

// duplicate reports a second block of the same kind and name.
func (l *loader) duplicate(kind, name string, rng, prev hcl.Range) {
	l.errorf(rng.Ptr(), "Duplicate "+kind, "A %s named %q was already declared at %s.", kind, name, shortRange(prev))
}

func shortRange(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
