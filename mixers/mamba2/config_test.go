package mamba2

import (
	"context"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/mixer"
	"github.com/zclconf/go-cty/cty"
)

func TestSchemaValid(t *testing.T) {
	if err := Schema.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		cfg                      cty.Value
		h, p, n, g, expand, rows int
	}{
		// discrete: H = teacher heads, P = N = d_model/heads, G = H, expand 1.
		{"discrete", cfg(nil), 4, 4, 4, 4, 1, 2*16 + 2*16 + 4},
		// continuous: expand 2, N 128, G 1.
		{"continuous", cfg(map[string]cty.Value{"variant": continuous}), 4, 8, 128, 1, 2, 2*32 + 2*128 + 4},
		// a null configuration takes every default.
		{"null", cty.NullVal(Schema.ObjectType()), 4, 4, 4, 4, 1, 2*16 + 2*16 + 4},
	} {
		c, err := configure(mixer.Layer{Config: tc.cfg, Dims: mixer.Dims{Batch: 1, SeqLen: 4, DModel: 16, Heads: 4}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.h != tc.h || c.p != tc.p || c.n != tc.n || c.g != tc.g || c.expand != tc.expand || c.projRows() != tc.rows || c.k != 4 || c.chunk != 64 {
			t.Errorf("%s: got %+v", tc.name, c)
		}
	}
}

func TestBadConfig(t *testing.T) {
	dims := mixer.Dims{Batch: 1, SeqLen: 4, DModel: 8, Heads: 2, KVHeads: 2}
	s := cty.StringVal
	for _, tc := range []struct {
		set  map[string]cty.Value
		dims *mixer.Dims
		want string
	}{
		{map[string]cty.Value{"variant": s("diagonal")}, nil, `variant: must be "discrete" or "continuous", found "diagonal"`},
		{map[string]cty.Value{"init": s("xavier")}, nil, `init: must be "mohawk" or "attention", found "xavier"`},
		{map[string]cty.Value{"heads": num(3)}, nil, "heads: 3 heads must divide d_model·expand = 8·1 = 8"},
		{map[string]cty.Value{"heads": num(3), "variant": continuous}, nil, "heads: 3 heads must divide d_model·expand = 8·2 = 16"},
		{map[string]cty.Value{"heads": num(4), "n_qk_heads": num(3)}, nil, "n_qk_heads: 3 groups must divide heads 4"},
		{map[string]cty.Value{"chunk": num(0)}, nil, "chunk: must be at least 1, found 0"},
		{map[string]cty.Value{"conv_kernel": num(0)}, nil, "conv_kernel: must be at least 1, found 0"},
		{map[string]cty.Value{"state_size": num(-1)}, nil, "state_size: must be positive (or 0 for the default), found -1"},
		{map[string]cty.Value{"expand": cty.NumberFloatVal(1.5)}, nil, "expand: must be a whole number, found 1.5"},
		{map[string]cty.Value{"variant": continuous, "dt_min": cty.NumberFloatVal(0.2)}, nil,
			"dt_min: must satisfy 0 < dt_min ≤ dt_max, found dt_min 0.2, dt_max 0.1"},
		{map[string]cty.Value{"variant": continuous, "a_init_min": num(0)}, nil,
			"a_init_min: must satisfy 0 < a_init_min ≤ a_init_max, found a_init_min 0, a_init_max 16"},
		{map[string]cty.Value{"variant": continuous, "norm_eps": num(0)}, nil, "norm_eps: must be positive, found 0"},
		{map[string]cty.Value{"init": s(InitAttention), "variant": continuous}, nil,
			`init: "attention" needs variant "discrete" (the continuous variant has no transfer from attention)`},
		{map[string]cty.Value{"init": s(InitAttention), "state_size": num(8)}, nil,
			`init: "attention" needs state_size equal to the teacher head dim 4 (B ← W_K, C ← W_Q), found 8`},
		{map[string]cty.Value{"init": s(InitAttention), "heads": num(4)}, nil, `init: "attention" needs heads equal to the teacher's 2, found 4`},
		{map[string]cty.Value{"init": s(InitAttention), "n_qk_heads": num(1)}, nil,
			`init: "attention" needs n_qk_heads equal to heads 2 (C ← W_Q has one row block per head), found 1`},
		{map[string]cty.Value{"init": s(InitAttention), "expand": num(2)}, nil, `init: "attention" needs expand 1 (x ← W_V), found 2`},
		{map[string]cty.Value{"init": s(InitAttention)}, &mixer.Dims{Batch: 1, SeqLen: 4, DModel: 8, Heads: 2, KVHeads: 3}, // not dividing
			`init: "attention" needs the teacher's 3 key/value heads to divide its 2 heads`},
		{nil, &mixer.Dims{Batch: 1, SeqLen: 4, DModel: 8, Heads: 3}, "heads: the teacher's 3 heads must divide d_model 8"},
		// A value of another type than the schema's comes only from a host
		// that skipped decoding.
		{map[string]cty.Value{"variant": num(1)}, nil, "variant: must be a string, found number"},
	} {
		dd := dims
		if tc.dims != nil {
			dd = *tc.dims
		}
		_, err := Mixer{}.Params(context.Background(), mixer.Layer{Config: cfg(tc.set), Dims: dd})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: got error %v, expected %q", tc.set, err, tc.want)
		}
	}
}
