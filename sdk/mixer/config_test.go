// Tests of configuration decoding: real HCL text parsed by hclsyntax and
// decoded against a schema, and the checks of Schema.Validate.

package mixer_test

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

var testSchema = mixer.Schema{Attributes: []mixer.Attribute{
	{Name: "heads", Type: cty.Number, Required: true, Description: "number of heads"},
	{Name: "scale", Type: cty.Number, Default: cty.NumberIntVal(1)},
	{Name: "name", Type: cty.String},
	{Name: "widths", Type: cty.List(cty.Number), Default: cty.TupleVal([]cty.Value{cty.NumberIntVal(2), cty.NumberIntVal(3)})},
}}

// decode parses src as the body of a mixer block in file "pipeline.hcl" and
// decodes it against testSchema.
func decode(t *testing.T, src string, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "pipeline.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	return mixer.DecodeConfig(f.Body, testSchema, ctx)
}

// wantDiag checks that diags hold one error whose summary and detail hold
// the given texts and whose subject starts on line.
func wantDiag(t *testing.T, diags hcl.Diagnostics, line int, texts ...string) {
	t.Helper()
	for _, d := range diags {
		all := d.Summary + " " + d.Detail
		ok := d.Severity == hcl.DiagError
		for _, s := range texts {
			ok = ok && strings.Contains(all, s)
		}
		if !ok {
			continue
		}
		if d.Subject == nil || d.Subject.Filename != "pipeline.hcl" || d.Subject.Start.Line != line {
			t.Errorf("diagnostic %q is at %v, expected pipeline.hcl:%d", all, d.Subject, line)
		}
		return
	}
	t.Errorf("no error diagnostic holding %q; found %v", texts, diags)
}

func TestDecodeConfigFillsDefaults(t *testing.T) {
	v, diags := decode(t, "heads = 4\n", nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := cty.ObjectVal(map[string]cty.Value{
		"heads":  cty.NumberIntVal(4),
		"scale":  cty.NumberIntVal(1),
		"name":   cty.NullVal(cty.String),
		"widths": cty.ListVal([]cty.Value{cty.NumberIntVal(2), cty.NumberIntVal(3)}),
	})
	if !v.RawEquals(want) {
		t.Errorf("decoded %#v, expected %#v", v, want)
	}
	if !v.Type().Equals(testSchema.ObjectType()) {
		t.Errorf("decoded a %s, expected the schema's object type %s", v.Type().FriendlyName(), testSchema.ObjectType().FriendlyName())
	}

	v, diags = decode(t, "heads = 4\nscale = 0.5\nname = \"x\"\nwidths = [1]\n", nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if !v.GetAttr("scale").RawEquals(cty.NumberFloatVal(0.5)) || !v.GetAttr("name").RawEquals(cty.StringVal("x")) {
		t.Errorf("set values were not kept: %#v", v)
	}
}

func TestDecodeConfigMissingRequired(t *testing.T) {
	_, diags := decode(t, "scale = 2\n", nil)
	wantDiag(t, diags, 1, "Missing required argument", `"heads"`)
}

func TestDecodeConfigWrongType(t *testing.T) {
	_, diags := decode(t, "heads = 4\nscale = \"large\"\n", nil)
	wantDiag(t, diags, 2, "Incorrect attribute value type", "number")
}

func TestDecodeConfigUnknownAttributeSuggests(t *testing.T) {
	_, diags := decode(t, "heads = 4\n\nscael = 2\n", nil)
	wantDiag(t, diags, 3, "Unsupported argument", `"scael"`, `Did you mean "scale"?`)
}

func TestDecodeConfigCollectsEveryError(t *testing.T) {
	_, diags := decode(t, "scael = 2\nname = [1]\n", nil)
	wantDiag(t, diags, 1, "Unsupported argument", `Did you mean "scale"?`)
	wantDiag(t, diags, 1, "Missing required argument", `"heads"`)
	wantDiag(t, diags, 2, "Incorrect attribute value type")
}

func TestDecodeConfigRefusesUnknownValues(t *testing.T) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{"h": cty.UnknownVal(cty.Number)}),
	}}
	v, diags := decode(t, "heads = 4\nscale = var.h\n", ctx)
	wantDiag(t, diags, 2, "Unknown mixer setting", `"scale"`)
	if v != cty.NilVal {
		t.Errorf("a failed decode returned %#v", v)
	}
}

func TestDecodeConfigInvalidSchema(t *testing.T) {
	f, _ := hclsyntax.ParseConfig([]byte("x = 1\n"), "pipeline.hcl", hcl.InitialPos)
	bad := mixer.Schema{Attributes: []mixer.Attribute{{Name: "x", Type: cty.DynamicPseudoType}}}
	_, diags := mixer.DecodeConfig(f.Body, bad, nil)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "Invalid mixer schema") {
		t.Errorf("an invalid schema: %v", diags)
	}
}

func TestSpecImpliesObjectType(t *testing.T) {
	if got, want := hcldec.ImpliedType(testSchema.Spec()), testSchema.ObjectType(); !got.Equals(want) {
		t.Errorf("the spec implies %s, ObjectType is %s", got.FriendlyName(), want.FriendlyName())
	}
	spec := testSchema.Spec().(hcldec.ObjectSpec)
	if _, ok := spec["scale"].(*hcldec.DefaultSpec); !ok {
		t.Errorf("scale (with a default) is a %T, expected a *hcldec.DefaultSpec", spec["scale"])
	}
	if a, ok := spec["heads"].(*hcldec.AttrSpec); !ok || !a.Required {
		t.Errorf("heads (required) is %#v, expected a required *hcldec.AttrSpec", spec["heads"])
	}
}

func TestSchemaValidate(t *testing.T) {
	if err := testSchema.Validate(); err != nil {
		t.Fatalf("a valid schema: %v", err)
	}
	for _, c := range []struct {
		name  string
		attrs []mixer.Attribute
		want  string
	}{
		{"bad name", []mixer.Attribute{{Name: "2x", Type: cty.Number}}, "not a valid identifier"},
		{"twice", []mixer.Attribute{{Name: "x", Type: cty.Number}, {Name: "x", Type: cty.String}}, "declared twice"},
		{"no type", []mixer.Attribute{{Name: "x"}}, "has no type"},
		{"dynamic", []mixer.Attribute{{Name: "x", Type: cty.List(cty.DynamicPseudoType)}}, "concrete"},
		{"default of another type", []mixer.Attribute{{Name: "x", Type: cty.Number, Default: cty.StringVal("many")}}, "does not convert to number"},
		{"required with a default", []mixer.Attribute{{Name: "x", Type: cty.Number, Required: true, Default: cty.NumberIntVal(1)}}, "required and has a default"},
		{"unknown default", []mixer.Attribute{{Name: "x", Type: cty.Number, Default: cty.UnknownVal(cty.Number)}}, "not known"},
	} {
		err := mixer.Schema{Attributes: c.attrs}.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, expected an error holding %q", c.name, err, c.want)
		}
	}
}
