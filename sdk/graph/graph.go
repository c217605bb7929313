// Package graph is mohawk's tensor IR: typed, statically shaped graphs that
// mixers build and backends run. A Graph is a list of nodes in topological
// order (every input refers to an earlier node), named outputs, and updates
// that assign new values to resident parameters and state after a run.
package graph

import (
	"errors"
	"fmt"
)

// Value identifies a node of a graph (its single output).
type Value int32

// NoValue marks the absence of a value (an op that failed, or no gradient).
const NoValue Value = -1

// Node is one operation.
type Node struct {
	Op     Op
	Name   string // for OpInput, OpParam and OpState: the binding name
	Inputs []Value
	Type   Type
	Attrs  Attrs
}

// Output names a value the caller reads back after a run.
type Output struct {
	Name  string
	Value Value
}

// Update assigns Value to the resident Target (an OpParam or OpState node)
// once the run has computed every output: the backend writes it in place,
// into the target's own buffer (the buffer is donated).
type Update struct {
	Target Value
	Value  Value
}

// Graph is a complete, validated computation.
type Graph struct {
	Nodes   []Node
	Outputs []Output
	Updates []Update
}

// Type returns the type of v.
func (g *Graph) Type(v Value) Type { return g.Nodes[v].Type }

// Leaves returns the values of every node of op kind o, in order.
func (g *Graph) Leaves(o Op) []Value {
	var out []Value
	for i := range g.Nodes {
		if g.Nodes[i].Op == o {
			out = append(out, Value(i))
		}
	}
	return out
}

// Lookup finds the leaf (input, param or state) named name.
func (g *Graph) Lookup(name string) (Value, bool) {
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Op.IsLeaf() && n.Name == name && n.Op != OpConst && n.Op != OpIota {
			return Value(i), true
		}
	}
	return NoValue, false
}

// Limits bound what Validate accepts from an untrusted source.
type Limits struct {
	MaxNodes       int // nodes in a graph
	MaxConstValues int // values held by all constants together
}

// DefaultLimits are generous for real models and small enough to refuse a
// graph built to exhaust memory.
var DefaultLimits = Limits{MaxNodes: 1 << 20, MaxConstValues: 1 << 24}

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid graph")

// Validate checks everything a backend relies on: known ops, arity, inputs
// that refer to earlier nodes (hence acyclic), dtypes and shapes that agree
// with the shape rules, bounded sizes, unique binding names, and outputs and
// updates that refer to existing values of the right kind and type. It never
// panics, whatever the graph holds.
func (g *Graph) Validate(lim Limits) error {
	if g == nil {
		return fmt.Errorf("%w: nil graph", ErrInvalid)
	}
	if len(g.Nodes) > lim.MaxNodes {
		return fmt.Errorf("%w: %d nodes exceed the limit %d", ErrInvalid, len(g.Nodes), lim.MaxNodes)
	}
	names := map[string]int{}
	consts := 0
	for i := range g.Nodes {
		n := &g.Nodes[i]
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%w: node %d (%s): %s", ErrInvalid, i, n.Op, fmt.Sprintf(format, args...))
		}
		if !n.Op.Valid() {
			return fail("unknown op")
		}
		ar := opInfos[n.Op].arity
		if (ar >= 0 && len(n.Inputs) != ar) || (ar < 0 && len(n.Inputs) == 0) {
			return fail("has %d inputs, expected %s", len(n.Inputs), arityText(ar))
		}
		in := make([]Type, len(n.Inputs))
		for j, v := range n.Inputs {
			if v < 0 || int(v) >= i {
				return fail("input %d refers to value %d, expected an earlier node (0..%d)", j, v, i-1)
			}
			in[j] = g.Nodes[v].Type
		}
		if err := n.Type.Shape.check(); err != nil {
			return fail("%v", err)
		}
		if !n.Type.DType.Valid() {
			return fail("unknown dtype %d", n.Type.DType)
		}
		if n.Op != OpConst && len(n.Attrs.Values) > 0 {
			return fail("holds %d values; only a const may", len(n.Attrs.Values))
		}
		if n.Op == OpConst {
			consts += len(n.Attrs.Values)
			if consts > lim.MaxConstValues {
				return fail("constants hold more than %d values", lim.MaxConstValues)
			}
		}
		if n.Op == OpInput || n.Op == OpParam || n.Op == OpState {
			if n.Name == "" {
				return fail("has no name")
			}
			if prev, dup := names[n.Name]; dup {
				return fail("name %q is already used by node %d", n.Name, prev)
			}
			names[n.Name] = i
		}
		t, err := inferType(n.Op, &n.Attrs, in, n.Type)
		if err != nil {
			return fmt.Errorf("%w: node %d: %v", ErrInvalid, i, err)
		}
		if !t.Equal(n.Type) {
			return fail("declares type %v but its inputs give %v", n.Type, t)
		}
	}
	outNames := map[string]bool{}
	for _, o := range g.Outputs {
		if o.Value < 0 || int(o.Value) >= len(g.Nodes) {
			return fmt.Errorf("%w: output %q refers to missing value %d", ErrInvalid, o.Name, o.Value)
		}
		if o.Name == "" || outNames[o.Name] {
			return fmt.Errorf("%w: output name %q is empty or repeated", ErrInvalid, o.Name)
		}
		outNames[o.Name] = true
	}
	targets := map[Value]bool{}
	for _, u := range g.Updates {
		if u.Target < 0 || int(u.Target) >= len(g.Nodes) || u.Value < 0 || int(u.Value) >= len(g.Nodes) {
			return fmt.Errorf("%w: update refers to a missing value (%d <- %d)", ErrInvalid, u.Target, u.Value)
		}
		tn := &g.Nodes[u.Target]
		if tn.Op != OpParam && tn.Op != OpState {
			return fmt.Errorf("%w: update target %d is a %s, expected a param or state", ErrInvalid, u.Target, tn.Op)
		}
		if targets[u.Target] {
			return fmt.Errorf("%w: %q is updated twice", ErrInvalid, tn.Name)
		}
		targets[u.Target] = true
		if vt := g.Nodes[u.Value].Type; !vt.Equal(tn.Type) {
			return fmt.Errorf("%w: update of %q has type %v, expected %v", ErrInvalid, tn.Name, vt, tn.Type)
		}
	}
	return nil
}

func arityText(a int) string {
	if a < 0 {
		return "at least 1"
	}
	return fmt.Sprint(a)
}
