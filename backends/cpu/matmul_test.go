// Tests of the batched matmul paths: tiny products (dot products and row
// updates) against the reference, in f32 and f64, with 1 and 3 threads.

package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mohawk-distill/mohawk/sdk/graph"
)

func TestTinyMatMul(t *testing.T) {
	cases := []struct {
		a, b           []int
		transA, transB bool
	}{
		{[]int{6, 5, 300}, []int{6, 4, 300}, false, true},     // dots: n = 4
		{[]int{6, 9, 300}, []int{6, 8, 300}, false, true},     // dots: n = 8
		{[]int{6, 5, 3}, []int{6, 3, 200}, false, false},      // rows: k = 3
		{[]int{6, 7, 5}, []int{6, 7, 200}, true, false},       // rows: k = 7, TransA
		{[]int{4, 3, 5, 8}, []int{4, 3, 8, 33}, false, false}, // rows: k = 8, two batch dims
		{[]int{6, 5, 300}, []int{6, 9, 300}, false, true},     // n = 9: GEMM
	}
	for ci, c := range cases {
		for _, dt := range floats {
			t.Run(fmt.Sprintf("%d/%v", ci, dt), func(t *testing.T) {
				b := graph.NewBuilder()
				b.Output("y", b.MatMulT(b.Input("a", dt, c.a...), b.Input("b", dt, c.b...), c.transA, c.transB))
				g := mustBuild(t, b)
				bind := bindAll(g, rand.New(rand.NewPCG(uint64(ci), 9)), nil)
				for _, th := range []int{1, 3} {
					checkGraph(t, g, bind, th, 300)
				}
			})
		}
	}
}
