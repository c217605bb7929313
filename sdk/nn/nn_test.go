package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

func eval(t *testing.T, b *graph.Builder, bind map[string]*graph.Tensor) map[string]*graph.Tensor {
	t.Helper()
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := graph.Evaluate(g, bind)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Grouped-query causal attention with a sliding window against plain loops
// (float64, 1e-12 relative).
func TestCausalAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const nb, nh, nkv, nt, nd, window = 2, 4, 2, 6, 3, 3
	scale := 1 / math.Sqrt(nd)
	for _, win := range []int{0, window} {
		b := graph.NewBuilder()
		q := b.Input("q", graph.F64, nb, nh, nt, nd)
		k := b.Input("k", graph.F64, nb, nkv, nt, nd)
		v := b.Input("v", graph.F64, nb, nkv, nt, nd)
		b.Output("y", CausalAttention(b, q, k, v, scale, 0, win))
		bind := map[string]*graph.Tensor{"q": randTensor(r, -1, 1, nb, nh, nt, nd), "k": randTensor(r, -1, 1, nb, nkv, nt, nd), "v": randTensor(r, -1, 1, nb, nkv, nt, nd)}
		got := eval(t, b, bind)["y"].F64
		Q, K, V := bind["q"].F64, bind["k"].F64, bind["v"].F64
		want := make([]float64, len(got))
		for bi := 0; bi < nb; bi++ {
			for h := 0; h < nh; h++ {
				g := h / (nh / nkv)
				for i := 0; i < nt; i++ {
					scores := make([]float64, nt)
					m := math.Inf(-1)
					for j := 0; j <= i; j++ {
						if win > 0 && j <= i-win {
							scores[j] = math.Inf(-1)
							continue
						}
						var s float64
						for d := 0; d < nd; d++ {
							s += Q[((bi*nh+h)*nt+i)*nd+d] * K[((bi*nkv+g)*nt+j)*nd+d]
						}
						scores[j] = s * scale
						m = math.Max(m, scores[j])
					}
					var z float64
					for j := 0; j <= i; j++ {
						z += math.Exp(scores[j] - m)
					}
					for j := 0; j <= i; j++ {
						p := math.Exp(scores[j]-m) / z
						for d := 0; d < nd; d++ {
							want[((bi*nh+h)*nt+i)*nd+d] += p * V[((bi*nkv+g)*nt+j)*nd+d]
						}
					}
				}
			}
		}
		if d := maxRelDiff(got, want); d > 1e-12 {
			t.Errorf("window %d: attention differs from loops by %.3g", win, d)
		}
	}
}

// Partial rotary embedding against the rotate-half formula written directly.
func TestRoPEPartial(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 2))
	const nt, nd, rd, theta, offset = 5, 6, 4, 10000.0, 3
	b := graph.NewBuilder()
	x := b.Input("x", graph.F64, 1, 1, nt, nd)
	b.Output("y", RoPE(b, x, rd, theta, offset))
	bind := map[string]*graph.Tensor{"x": randTensor(r, -1, 1, 1, 1, nt, nd)}
	got := eval(t, b, bind)["y"].F64
	X := bind["x"].F64
	for p := 0; p < nt; p++ {
		row := X[p*nd : (p+1)*nd]
		for i := 0; i < nd; i++ {
			want := row[i]
			if i < rd {
				f := float64(offset+p) * math.Pow(theta, -float64(2*(i%(rd/2)))/rd)
				other := -row[i+rd/2]
				if i >= rd/2 {
					other = row[i-rd/2]
				}
				want = row[i]*math.Cos(f) + other*math.Sin(f)
			}
			if math.Abs(got[p*nd+i]-want) > 1e-12 {
				t.Fatalf("position %d channel %d: got %v want %v", p, i, got[p*nd+i], want)
			}
		}
	}
}

// Depthwise causal convolution against its definition.
func TestCausalConv1d(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 2))
	const nb, nt, nc, nk = 2, 7, 3, 4
	b := graph.NewBuilder()
	x := b.Input("x", graph.F64, nb, nt, nc)
	w := b.Input("w", graph.F64, nc, nk)
	bias := b.Input("bias", graph.F64, nc)
	b.Output("y", CausalConv1d(b, x, w, bias))
	bind := map[string]*graph.Tensor{"x": randTensor(r, -1, 1, nb, nt, nc), "w": randTensor(r, -1, 1, nc, nk), "bias": randTensor(r, -1, 1, nc)}
	got := eval(t, b, bind)["y"].F64
	X, W, Bias := bind["x"].F64, bind["w"].F64, bind["bias"].F64
	for bi := 0; bi < nb; bi++ {
		for ti := 0; ti < nt; ti++ {
			for c := 0; c < nc; c++ {
				want := Bias[c]
				for k := 0; k < nk; k++ {
					if s := ti - (nk - 1) + k; s >= 0 {
						want += W[c*nk+k] * X[(bi*nt+s)*nc+c]
					}
				}
				if g := got[(bi*nt+ti)*nc+c]; math.Abs(g-want) > 1e-12 {
					t.Fatalf("b%d t%d c%d: got %v want %v", bi, ti, c, g, want)
				}
			}
		}
	}
}
