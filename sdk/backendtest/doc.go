// Package backendtest is the conformance suite for mohawk compute backends:
// one call checks that an implementation of backend.Backend runs every op
// of the IR like the reference interpreter (graph.Evaluate), computes
// gradients, keeps and updates resident tensors as the contract says,
// transfers tensors bit for bit, fails cleanly on bad input, and is
// deterministic. It plays the part of ggml's test-backend-ops, but compares
// with the float64 reference rather than with another backend.
//
// # Using it
//
// A backend's own test calls Run with a function that makes a fresh
// backend:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backend.Backend {
//			b := mybackend.New()
//			t.Cleanup(b.Close)
//			return b
//		}, backendtest.Options{Large: !testing.Short()})
//	}
//
// A backend that runs in a plugin process is tested the same way through
// its client. Options narrow the dtypes, declare ops a backend does not
// support (Skip), and add large shapes. Every check is a subtest, so -run
// selects them: -run 'Conformance/ops/f32/matmul' runs the f32 matmuls.
//
// # Backends and state
//
// newBackend is called once to read Info, then once per group of checks:
// "ops", "gradients", "transfers", "errors" and "determinism" each use one
// backend for all their subtests, and each subtest of "programs" gets its
// own. Each call must return a backend that holds no resident tensors (a
// new instance; release it with t.Cleanup). Within a group the suite
// releases every program it compiles and deletes every resident tensor it
// creates when a subtest ends, so a group's backend does not grow. The
// suite copies every output before its next call into the backend, so a
// backend may reuse its output tensors from one Run to the next. Every call
// into the backend runs on its own goroutine: a panic fails the check
// (a backend must return errors), and so does a call that does not return
// within two minutes.
//
// The suite does what a host does before Compile: fused ops the backend does
// not list in Info.FusedOps are replaced by their decompositions
// (graph.Decompose).
//
// # The checks and their tolerances
//
// info: Info reports this API version, a name, known dtypes (i32 among
// them) and only fused ops in FusedOps.
//
// ops: every op of graph.Ops(), in each float dtype under test and in i32
// wherever the shape rules allow it (leaves, const, iota, movement,
// comparisons and where, gather and scatter_add tables, cast,
// add/sub/mul/max/min/neg/abs/sign, reductions, cumsum), on shapes that
// include rank 0, empty tensors, dims of 1, broadcasting on either side,
// sizes that are not multiples of 8 or 16, every matmul transpose flag with
// equal, left-only and right-only batch dimensions, reductions over the
// first, a middle, the last and several axes, cumsum exclusive and reverse,
// gather and scatter_add with repeated ids, ranks up to 8, one value
// returned under several names, IEEE special values (NaN, ±Inf, ±0) through
// every elementwise op and the reductions, and the fused ops (softmax,
// log_softmax, layer_norm, rms_norm, cross_entropy) including masked rows,
// rows far from zero and large logits. Each program runs twice with fresh
// random inputs, and a program that fills buffers of many sizes with NaN
// runs between the two, so an output element a kernel leaves unwritten, or a
// value left over from an earlier run, shows up as a mismatch. Every output
// and every updated resident is compared with graph.Evaluate:
//
//   - exactly (NaN matches NaN, -0 matches +0) for ops that only move,
//     select, compare or convert values (leaves, iota, neg, abs, sign,
//     stop_gradient, cast, max, min, less, equal, where, reduce_max,
//     reshape, transpose, slice, pad, concat, broadcast, gather), and for
//     every i32 result;
//   - for sums (reduce_sum, matmul, cumsum, scatter_add), element i within
//     base·(|want_i| + Σ|terms_i|), where Σ|terms_i| is the reference
//     evaluated on the absolute values of the inputs;
//   - otherwise within base·scale·(|want_i| + 1), scale 1 for elementwise
//     ops, 3 for softmax and log_softmax, 10 for the norms and
//     cross_entropy (rows of up to a thousand terms);
//
// with base = 1e-5 for f32 and 1e-12 for f64. Where the reference gives
// NaN or ±Inf, the backend must give the same (max and min propagate NaN,
// even against an infinity). A coverage check then fails
// if some op was not exercised in some float dtype, unless Options.Skip
// declares it unsupported. A check whose graph uses a skipped (op, dtype)
// pair passes if Compile or Run refuses it with an error, or if it runs and
// matches.
//
// gradients: a residual MLP block (embedding gather, layer_norm, GELU by
// tanh, tied logits, cross_entropy), causal softmax attention with the mask
// built from iota, less and where, and a cumsum/exp segment-sum scan, with
// the gradients of graph.Grad, run in f64: outputs within
// 1e-10·(|want| + ‖want‖∞) of graph.Evaluate, and gradients within
// 1e-6·(1 + |fd|) of central finite differences (step 1e-5) of the
// backend's own loss on three elements of each param. Without f64 they run
// in f32 against the reference only, within 1e-4·(|want| + ‖want‖∞).
//
// programs: params are read from the resident tensors at each run; updates
// are written in place after the run and seen by Tensor; updates that swap
// two params read the values from before the run; an output of an updated
// param is its value from before the update and belongs to the caller; an
// update from an input copies it; updates computed from the buffer they
// overwrite (a rotation, a transpose, a matrix square, a running sum) see
// the old values throughout; a program of updates only runs; an
// Accumulate-like program that adds into a state, an Apply-like program that
// reads and zeroes it and an Eval-like program share resident tensors; a
// released program no longer runs while others do; a program whose param was
// deleted fails naming the param and runs again once it is set; a second
// Release fails naming the program id; failed runs (ids or labels out of
// range, missing or mistyped inputs) apply no update. Arithmetic results
// within 30·base·(|want| + 1).
//
// transfers: SetTensor then Tensor is bit-exact for f32, f64 and i32 at
// sizes 0, 1, 1000 and 2²⁰+3, including ±Inf, -0, subnormals, the extremes
// and quiet NaNs with their payloads; both calls copy; overwrites keep the
// type, and an overwrite of another dtype or shape fails, names the tensor
// and changes nothing; a deleted name may be set again with any type.
//
// errors: a missing, nil, mistyped, misshapen or inconsistent input (named,
// and for a wrong type both types are named as graph.Type prints them); an
// extra input, which may be ignored (then the outputs must be right) or
// rejected by name; a param that is not set or a resident of the wrong
// type (named); invalid graphs, each refused by Compile naming the bad node
// as "node N" (or the output or update at fault); gather and scatter_add
// ids and cross_entropy labels out of range (the op and the value named;
// labels only when cross_entropy is native); unknown program ids for Run
// and Release (the id named); graphs in a dtype Info.DTypes does not list,
// such as f16 (the dtype named); and bad SetTensor, Tensor and DeleteTensor
// calls: a nil tensor, data that does not match the shape, an f16 tensor,
// a name never set (the name named). After failed runs the program still
// runs.
//
// determinism: large matrix products, reductions, scatter_add with many
// repeated ids, the fused row ops, cumsum and a whole training step, each
// run twice on the same inputs and residents: outputs and updates must be
// bit-identical.
package backendtest
