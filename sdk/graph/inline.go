package graph

import "fmt"

// Inline splices the fragment frag into b and returns its outputs by name.
// Each OpInput of frag is bound to inputs[name], which must have the same
// type; each OpParam or OpState named n becomes the param or state
// prefix+n of b, created on first use and shared by later fragments that
// name it (a mixer's forward pass and its mixing matrix share weights this
// way). A fragment has no updates. Nothing is added to b on error.
func (b *Builder) Inline(frag *Graph, prefix string, inputs map[string]Value) (map[string]Value, error) {
	if b.err != nil {
		return nil, b.err
	}
	if err := frag.Validate(DefaultLimits); err != nil {
		return nil, fmt.Errorf("inline: %w", err)
	}
	if len(frag.Updates) > 0 {
		return nil, fmt.Errorf("inline: a fragment may not update anything, found %d updates", len(frag.Updates))
	}
	mark := len(b.g.Nodes)
	undo := func(err error) (map[string]Value, error) {
		b.g.Nodes = b.g.Nodes[:mark]
		b.err = nil
		return nil, err
	}
	remap := make([]Value, len(frag.Nodes))
	for i := range frag.Nodes {
		n := &frag.Nodes[i]
		switch n.Op {
		case OpInput:
			v, ok := inputs[n.Name]
			if !ok || !b.ok(v) {
				return undo(fmt.Errorf("inline: fragment input %q (%v) is not bound", n.Name, n.Type))
			}
			if t := b.Type(v); !t.Equal(n.Type) {
				return undo(fmt.Errorf("inline: fragment input %q is %v, bound to a value of type %v", n.Name, n.Type, t))
			}
			remap[i] = v
			continue
		case OpParam, OpState:
			name := prefix + n.Name
			if v, ok := b.g.Lookup(name); ok {
				existing := &b.g.Nodes[v]
				if existing.Op != n.Op || !existing.Type.Equal(n.Type) {
					return undo(fmt.Errorf("inline: %s %q is %v, but the model already has a %s of that name of type %v", n.Op, name, n.Type, existing.Op, existing.Type))
				}
				remap[i] = v
				continue
			}
			remap[i] = b.leaf(n.Op, name, n.Type.DType, n.Type.Shape)
		default:
			in := make([]Value, len(n.Inputs))
			for j, v := range n.Inputs {
				in[j] = remap[v]
			}
			remap[i] = b.add(n.Op, "", n.Attrs, n.Type, in...)
		}
		if b.err != nil {
			return undo(fmt.Errorf("inline node %d (%s): %w", i, n.Op, b.err))
		}
	}
	out := make(map[string]Value, len(frag.Outputs))
	for _, o := range frag.Outputs {
		out[o.Name] = remap[o.Value]
	}
	return out, nil
}
