// Configuration of a mixer layer: the schema a mixer declares in Info, how
// the host decodes a pipeline's HCL against it (with source ranges in every
// diagnostic), and the checks that keep a schema fit to travel on the wire.

package mixer

import (
	"errors"
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// HasDefault reports whether a has a default value (Default neither
// cty.NilVal nor null).
func (a Attribute) HasDefault() bool {
	return a.Default != cty.NilVal && !a.Default.IsNull()
}

// defaultValue is a's default converted to its type, when it has one that
// converts.
func (a Attribute) defaultValue() (cty.Value, bool) {
	if !a.HasDefault() || a.Type == cty.NilType {
		return cty.NilVal, false
	}
	v, err := convert.Convert(a.Default, a.Type)
	if err != nil {
		return cty.NilVal, false
	}
	return v, true
}

// Validate checks a schema as a mixer declares it: every attribute has a
// valid HCL identifier for a name, used once; a type that is concrete and
// can travel as cty JSON (no cty.DynamicPseudoType, no capsule types); and
// either Required or an optional default, which must be known and
// convertible to the type.
func (s Schema) Validate() error {
	seen := make(map[string]bool, len(s.Attributes))
	var errs []error
	for i, a := range s.Attributes {
		if !hclsyntax.ValidIdentifier(a.Name) {
			errs = append(errs, fmt.Errorf("schema attribute %d: name %q is not a valid identifier", i, a.Name))
			continue
		}
		if seen[a.Name] {
			errs = append(errs, fmt.Errorf("schema attribute %q is declared twice", a.Name))
			continue
		}
		seen[a.Name] = true
		if err := checkWireType(a.Type); err != nil {
			errs = append(errs, fmt.Errorf("schema attribute %q: %v", a.Name, err))
			continue
		}
		if !a.HasDefault() {
			continue
		}
		if a.Required {
			errs = append(errs, fmt.Errorf("schema attribute %q is required and has a default; it can be only one of the two", a.Name))
			continue
		}
		if !a.Default.IsWhollyKnown() {
			errs = append(errs, fmt.Errorf("schema attribute %q: the default is not known", a.Name))
			continue
		}
		if _, err := convert.Convert(a.Default, a.Type); err != nil {
			errs = append(errs, fmt.Errorf("schema attribute %q: the default (a %s) does not convert to %s: %v",
				a.Name, a.Default.Type().FriendlyName(), a.Type.FriendlyName(), err))
		}
	}
	return errors.Join(errs...)
}

// checkWireType reports a type that is not concrete or cannot be written as
// cty JSON.
func checkWireType(t cty.Type) error {
	switch {
	case t == cty.NilType:
		return errors.New("has no type")
	case t == cty.DynamicPseudoType:
		return errors.New("the type must be concrete, found any (cty.DynamicPseudoType)")
	case t.IsCapsuleType():
		return fmt.Errorf("the type %s is a capsule type, which cannot travel as cty JSON", t.FriendlyName())
	case t.IsListType() || t.IsSetType() || t.IsMapType():
		return checkWireType(t.ElementType())
	case t.IsObjectType():
		for _, at := range t.AttributeTypes() {
			if err := checkWireType(at); err != nil {
				return err
			}
		}
	case t.IsTupleType():
		for _, et := range t.TupleElementTypes() {
			if err := checkWireType(et); err != nil {
				return err
			}
		}
	}
	return nil
}

// Spec is the hcldec specification of the schema: an hcldec.ObjectSpec of
// one AttrSpec per attribute, wrapped in an hcldec.DefaultSpec where the
// attribute has a default. hcldec.ImpliedType of it is ObjectType.
func (s Schema) Spec() hcldec.Spec {
	spec := make(hcldec.ObjectSpec, len(s.Attributes))
	for _, a := range s.Attributes {
		var as hcldec.Spec = &hcldec.AttrSpec{Name: a.Name, Type: a.Type, Required: a.Required}
		if d, ok := a.defaultValue(); ok {
			as = &hcldec.DefaultSpec{Primary: as, Default: &hcldec.LiteralSpec{Value: d}}
		}
		spec[a.Name] = as
	}
	return spec
}

// ObjectType is the type of a configuration: an object with one attribute
// per schema attribute, of its type. A Layer's Config is a value of it.
func (s Schema) ObjectType() cty.Type {
	attrs := make(map[string]cty.Type, len(s.Attributes))
	for _, a := range s.Attributes {
		attrs[a.Name] = a.Type
	}
	return cty.Object(attrs)
}

// DecodeConfig decodes a mixer block's body against s (with Content, so an
// attribute or block the schema does not declare is an error, with a "did
// you mean" suggestion where a declared name is close) and evaluates it in
// ctx (which may be nil). Every diagnostic carries the source range of what
// it is about; all are collected, not only the first. On success the value
// is an object of s.ObjectType with defaults filled in and null for an
// unset optional attribute without a default, every part of it known; on
// error it is cty.NilVal.
func DecodeConfig(body hcl.Body, s Schema, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if err := s.Validate(); err != nil {
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid mixer schema",
			Detail:   fmt.Sprintf("The mixer declares a configuration schema that cannot be used: %v.", err),
			Subject:  rangePtr(body.MissingItemRange()),
		}}
	}
	spec := s.Spec()
	val, diags := hcldec.Decode(body, spec, ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	// A value that depends on something unknown at load time (a variable
	// without a value yet) cannot be sent to the mixer.
	obj := spec.(hcldec.ObjectSpec)
	names := make([]string, 0, len(obj))
	for name := range obj {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if v := val.GetAttr(name); !v.IsWhollyKnown() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown mixer setting",
				Detail:   fmt.Sprintf("The value of %q must be known when the pipeline is loaded.", name),
				Subject:  rangePtr(hcldec.SourceRange(body, obj[name])),
			})
		}
	}
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	return val, diags
}

func rangePtr(r hcl.Range) *hcl.Range { return &r }
