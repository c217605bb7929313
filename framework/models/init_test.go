package models

import (
	"context"
	"strings"
	"testing"

	"github.com/mohawk-distill/mohawk/mixers/mamba2"
	"github.com/mohawk-distill/mohawk/sdk/graph"
	"github.com/mohawk-distill/mohawk/sdk/mixer"
)

// ShapesOnly builds the same params with no value; InitOnly makes exactly
// the values a full build makes for the names it accepts, whatever it
// leaves out before them.
func TestBuildShapesOnlyAndInitOnly(t *testing.T) {
	ctx := context.Background()
	for _, family := range []string{FamilyPhi, FamilyLlama, FamilyGPT2} {
		cfg := teacherConfig(t, family)
		mixers := map[int]LayerMixer{1: {Mixer: mamba2.Mixer{}, Layer: mixer.Layer{Config: mamba2Config(headDim(cfg))}}}
		for _, student := range []bool{false, true} {
			opt := BuildOptions{SeqLen: 8, Seed: 7}
			if student {
				opt.Mixers = mixers
			}
			build := func(o BuildOptions) []Param {
				lm, err := BuildModel(ctx, graph.NewBuilder(), cfg, graph.F32, 1, o)
				if err != nil {
					t.Fatalf("%s: %v", family, err)
				}
				return lm.Params
			}
			full := build(opt)
			shapes := opt
			shapes.ShapesOnly = true
			only := build(shapes)
			if len(only) != len(full) {
				t.Fatalf("%s: %d params shapes only, %d in a full build", family, len(only), len(full))
			}
			for i, p := range only {
				if p.Init != nil || p.Name != full[i].Name || !p.Shape.Equal(full[i].Init.Shape) || p.DType != full[i].Init.DType {
					t.Errorf("%s: shapes-only %s %v %v (init %v), full build %s %v", family, p.Name, p.Shape, p.DType, p.Init != nil, full[i].Name, full[i].Init.Type)
				}
			}
			// Every third param, and the mixer's, from a partial build.
			picked := map[string]bool{}
			for i, p := range full {
				if i%3 == 2 || strings.Contains(p.Name, ".mixer.") {
					picked[p.Name] = true
				}
			}
			partial := opt
			partial.InitOnly = func(n string) bool { return picked[n] }
			for i, p := range build(partial) {
				if picked[p.Name] != (p.Init != nil) {
					t.Fatalf("%s: %s picked %v, has a value %v", family, p.Name, picked[p.Name], p.Init != nil)
				}
				if p.Init == nil {
					continue
				}
				for j := 0; j < p.Init.Len(); j++ {
					if p.Init.At(j) != full[i].Init.At(j) {
						t.Fatalf("%s: %s[%d] is %g, the full build gives %g", family, p.Name, j, p.Init.At(j), full[i].Init.At(j))
					}
				}
			}
		}
	}
}

// A model's rotary tables are one pair of constants, whatever its layers.
func TestRopeTablesShared(t *testing.T) {
	for _, family := range []string{FamilyPhi, FamilyLlama} {
		cfg := teacherConfig(t, family)
		b := graph.NewBuilder()
		if _, err := BuildModel(context.Background(), b, cfg, graph.F32, 1, BuildOptions{SeqLen: 8, ShapesOnly: true}); err != nil {
			t.Fatal(err)
		}
		g, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		tables := 0
		for _, n := range g.Nodes {
			if n.Op == graph.OpConst && len(n.Type.Shape) == 2 && n.Type.Shape[0] == 8 {
				tables++
			}
		}
		if tables != 2 || cfg.Layers() < 2 {
			t.Errorf("%s, %d layers: %d [T, rotary] constants, expected one cos and one sin table", family, cfg.Layers(), tables)
		}
	}
}
