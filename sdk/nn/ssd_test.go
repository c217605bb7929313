package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

func randTensor(r *rand.Rand, lo, hi float64, shape ...int) *graph.Tensor {
	t := graph.NewTensor(graph.F64, shape...)
	for i := range t.F64 {
		t.F64[i] = lo + (hi-lo)*r.Float64()
	}
	return t
}

func maxRelDiff(a, b []float64) float64 {
	worst, scale := 0.0, 0.0
	for i := range b {
		scale = math.Max(scale, math.Abs(b[i]))
	}
	for i := range a {
		worst = math.Max(worst, math.Abs(a[i]-b[i])/math.Max(scale, 1e-300))
	}
	return worst
}

// The materialised, chunked and recurrent SSD agree in float64 to 1e-9
// relative (to the output's largest magnitude), including T not a multiple
// of the chunk, T shorter than one chunk and B/C shared by head groups.
func TestSSDFormsAgree(t *testing.T) {
	cases := []struct{ batch, heads, groups, T, P, N, chunk int }{
		{2, 3, 3, 10, 4, 5, 4},
		{1, 4, 2, 7, 3, 2, 16},
		{2, 2, 1, 16, 2, 3, 4},
		{1, 1, 1, 1, 1, 1, 3},
		{1, 2, 2, 33, 5, 4, 8},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.T), uint64(c.N)))
			b := graph.NewBuilder()
			x := b.Input("x", graph.F64, c.batch, c.heads, c.T, c.P)
			logA := b.Input("logA", graph.F64, c.batch, c.heads, c.T)
			bg := b.Input("B", graph.F64, c.batch, c.groups, c.T, c.N)
			cg := b.Input("C", graph.F64, c.batch, c.groups, c.T, c.N)
			d := b.Input("D", graph.F64, c.heads)
			bm, cm := RepeatHeads(b, bg, c.heads/c.groups), RepeatHeads(b, cg, c.heads/c.groups)
			b.Output("materialized", SSDMaterialized(b, x, logA, bm, cm, d))
			b.Output("chunked", SSDChunked(b, x, logA, bm, cm, d, c.chunk))
			b.Output("recurrent", SSDRecurrent(b, x, logA, bm, cm, d))
			g, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			bind := map[string]*graph.Tensor{
				"x":    randTensor(r, -1, 1, c.batch, c.heads, c.T, c.P),
				"logA": randTensor(r, -1.5, 0, c.batch, c.heads, c.T),
				"B":    randTensor(r, -1, 1, c.batch, c.groups, c.T, c.N),
				"C":    randTensor(r, -1, 1, c.batch, c.groups, c.T, c.N),
				"D":    randTensor(r, 0.5, 1.5, c.heads),
			}
			out, _, err := graph.Evaluate(g, bind)
			if err != nil {
				t.Fatal(err)
			}
			ref := out["materialized"].F64
			for _, form := range []string{"chunked", "recurrent"} {
				if d := maxRelDiff(out[form].F64, ref); d > 1e-9 {
					t.Errorf("%s differs from materialized by %.3g (relative)", form, d)
				}
			}
			// Independent check of the materialised form with plain loops.
			want := naiveSSD(bind, c.batch, c.heads, c.groups, c.T, c.P, c.N)
			if d := maxRelDiff(ref, want); d > 1e-12 {
				t.Errorf("materialized differs from the naive loop by %.3g", d)
			}
		})
	}
}

// naiveSSD runs the recurrence S_t = α_t S_{t−1} + x_t B_tᵀ, y_t = S_t C_t +
// D x_t with plain loops.
func naiveSSD(bind map[string]*graph.Tensor, nb, nh, ng, nt, np, nn int) []float64 {
	x, la, B, C, D := bind["x"].F64, bind["logA"].F64, bind["B"].F64, bind["C"].F64, bind["D"].F64
	y := make([]float64, nb*nh*nt*np)
	for bi := 0; bi < nb; bi++ {
		for h := 0; h < nh; h++ {
			g := h / (nh / ng)
			S := make([]float64, np*nn)
			for t := 0; t < nt; t++ {
				alpha := math.Exp(la[(bi*nh+h)*nt+t])
				for p := 0; p < np; p++ {
					xv := x[((bi*nh+h)*nt+t)*np+p]
					var acc float64
					for n := 0; n < nn; n++ {
						bv := B[((bi*ng+g)*nt+t)*nn+n]
						cv := C[((bi*ng+g)*nt+t)*nn+n]
						S[p*nn+n] = alpha*S[p*nn+n] + xv*bv
						acc += S[p*nn+n] * cv
					}
					y[((bi*nh+h)*nt+t)*np+p] = acc + D[h]*xv
				}
			}
		}
	}
	return y
}

// The chunked form's gradients equal the materialised form's (float64,
// 1e-9 relative): the scan and padding differentiate correctly.
func TestSSDChunkedGradientsMatchMaterialized(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const nb, nh, nt, np, nn = 2, 2, 11, 3, 4
	b := graph.NewBuilder()
	x := b.Param("x", graph.F64, nb, nh, nt, np)
	logA := b.Param("logA", graph.F64, nb, nh, nt)
	bm := b.Param("B", graph.F64, nb, nh, nt, nn)
	cm := b.Param("C", graph.F64, nb, nh, nt, nn)
	w := b.Const(graph.F64, []int{nb, nh, nt, np}, randTensor(r, -1, 1, nb, nh, nt, np).F64)
	wrt := []graph.Value{x, logA, bm, cm}
	for _, form := range []string{"m", "c"} {
		var y graph.Value
		if form == "m" {
			y = SSDMaterialized(b, x, logA, bm, cm, graph.NoValue)
		} else {
			y = SSDChunked(b, x, logA, bm, cm, graph.NoValue, 4)
		}
		gs, err := graph.Grad(b, b.Sum(b.Mul(y, w)), wrt)
		if err != nil {
			t.Fatal(err)
		}
		for i, gv := range gs {
			b.Output(fmt.Sprintf("%s%d", form, i), gv)
		}
	}
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := graph.Evaluate(g, map[string]*graph.Tensor{
		"x": randTensor(r, -1, 1, nb, nh, nt, np), "logA": randTensor(r, -1, 0, nb, nh, nt),
		"B": randTensor(r, -1, 1, nb, nh, nt, nn), "C": randTensor(r, -1, 1, nb, nh, nt, nn),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range wrt {
		if d := maxRelDiff(out[fmt.Sprintf("c%d", i)].F64, out[fmt.Sprintf("m%d", i)].F64); d > 1e-9 {
			t.Errorf("gradient %d: chunked differs from materialized by %.3g", i, d)
		}
	}
}
